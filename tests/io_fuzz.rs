//! A bounded, stable-Rust mutation fuzzer for the file loaders (the CI run;
//! `fuzz/` holds the cargo-fuzz targets for longer runs).
//!
//! Seeds are written by MLX itself (safetensors, GGUF, npy of several dtypes
//! with metadata), then mutated: bit flips, interesting bytes, truncation,
//! appended bytes, length/offset fields overwritten with edge values, chunks
//! inserted, deleted or duplicated, digits in text headers changed, and
//! splices of two seeds. Every mutant must load as `Ok` or `Err`; what loads
//! is read back in full. Never a crash.
//!
//! `MLX_RS_FUZZ_ITERS` sets the mutants per format (default 20,000);
//! `MLX_RS_FUZZ_SEEDS_DIR=dir` also writes the seeds to `dir/<format>/`
//! (that is how `fuzz/corpus/` was made). Should the process die, the input
//! that killed it is left behind as `$TMPDIR/mlx-rs-io-fuzz-<pid>-<n>.<ext>`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use mlx_rs::io::{self, GgufValue};
use mlx_rs::{ops, Array, Dtype, Result};
use rand::rngs::StdRng;
use rand::Rng;

#[derive(Clone, Copy, Debug)]
enum Format {
    Safetensors,
    Gguf,
    Npy,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Npy => "npy",
        }
    }
}

fn temp(ext: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("mlx-rs-io-fuzz-{}-{n}.{ext}", std::process::id()))
}

fn arr(rng: &mut StdRng, shape: &[i32], dtype: Dtype) -> Result<Array> {
    let n: i32 = shape.iter().product();
    let data = common::uniform(rng, n as usize, -4.0, 4.0);
    ops::astype(&Array::from_slice(&data, shape)?, dtype)
}

/// Small files written by MLX's own writers.
fn seeds(rng: &mut StdRng) -> Result<Vec<(Format, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut save = |f: Format, write: &dyn Fn(&Path) -> Result<()>| -> Result<()> {
        let p = temp(f.ext());
        write(&p)?;
        out.push((f, std::fs::read(&p).expect("read back a seed")));
        let _ = std::fs::remove_file(&p);
        Ok(())
    };

    let st_sets: Vec<Vec<(&str, Array)>> = vec![
        vec![("w", arr(rng, &[2, 3], Dtype::Float32)?)],
        vec![
            ("a", arr(rng, &[4], Dtype::Float16)?),
            ("b", arr(rng, &[2, 2], Dtype::Int32)?),
            ("c", arr(rng, &[3], Dtype::Bool)?),
            ("d", arr(rng, &[1, 2, 1], Dtype::Bfloat16)?),
        ],
        vec![
            ("e", arr(rng, &[0, 3], Dtype::Uint8)?),
            ("s", arr(rng, &[], Dtype::Int64)?),
        ],
    ];
    for (i, set) in st_sets.into_iter().enumerate() {
        let arrays: HashMap<String, Array> =
            set.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let meta = if i == 1 {
            HashMap::from([("format".to_string(), "mlx".to_string())])
        } else {
            HashMap::new()
        };
        save(Format::Safetensors, &|p| {
            io::save_safetensors(p, &arrays, &meta)
        })?;
    }

    let g1 = HashMap::from([
        ("t".to_string(), arr(rng, &[2, 4], Dtype::Float32)?),
        ("h".to_string(), arr(rng, &[3], Dtype::Float16)?),
        ("i".to_string(), arr(rng, &[2], Dtype::Int32)?),
    ]);
    let m1 = HashMap::from([
        ("name".to_string(), GgufValue::String("seed".into())),
        (
            "list".to_string(),
            GgufValue::Strings(vec!["a".into(), "bc".into()]),
        ),
        (
            "nums".to_string(),
            GgufValue::Array(Array::from_slice(&[1.0f32, 2.0], &[2])?),
        ),
    ]);
    save(Format::Gguf, &|p| io::save_gguf(p, &g1, &m1))?;
    let g2 = HashMap::from([("x".to_string(), arr(rng, &[1], Dtype::Int8)?)]);
    save(Format::Gguf, &|p| io::save_gguf(p, &g2, &HashMap::new()))?;

    for (shape, dtype) in [
        (&[2, 3][..], Dtype::Float32),
        (&[4][..], Dtype::Bool),
        (&[][..], Dtype::Int64),
        (&[2, 0][..], Dtype::Float64),
    ] {
        let a = arr(rng, shape, dtype)?;
        save(Format::Npy, &|p| io::save_npy(p, &a))?;
    }
    Ok(out)
}

const EDGE_U64: [u64; 12] = [
    9,
    12,
    0,
    1,
    7,
    8,
    0x7f,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

fn mutate(rng: &mut StdRng, bytes: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let rounds = rng.gen_range(1..=3);
    for _ in 0..rounds {
        let len = b.len();
        match rng.gen_range(0..10) {
            0 if len > 0 => {
                for _ in 0..rng.gen_range(1..=4) {
                    let i = rng.gen_range(0..len);
                    b[i] ^= 1 << rng.gen_range(0..8);
                }
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                b[i] = [0u8, 0xff, 0x7f, 0x80, b'9', b'-', b'"', b'{'][rng.gen_range(0..8)];
            }
            2 => b.truncate(rng.gen_range(0..=len)),
            3 => {
                let extra = rng.gen_range(1..64);
                b.extend((0..extra).map(|_| rng.gen::<u8>()));
            }
            4 if len >= 8 => {
                // A little-endian length/offset/count field, anywhere.
                let w = if rng.gen_bool(0.5) { 8 } else { 4 };
                let i = rng.gen_range(0..=len - w);
                let v = match rng.gen_range(0..3) {
                    0 => EDGE_U64[rng.gen_range(0..EDGE_U64.len())],
                    1 => len as u64 + rng.gen_range(0..16) - 8,
                    _ => {
                        let old = u64::from_le_bytes({
                            let mut x = [0u8; 8];
                            x[..w].copy_from_slice(&b[i..i + w]);
                            x
                        });
                        old.wrapping_add(rng.gen_range(0..16)).wrapping_sub(8)
                    }
                };
                b[i..i + w].copy_from_slice(&v.to_le_bytes()[..w]);
            }
            5 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(32));
                b.drain(i..i + n);
            }
            6 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(32));
                let chunk = b[i..i + n].to_vec();
                let at = rng.gen_range(0..=b.len());
                b.splice(at..at, chunk);
            }
            7 if len > 0 => {
                // Change a digit in a text header (shapes, offsets, lengths).
                let digits: Vec<usize> = (0..len.min(512))
                    .filter(|&i| b[i].is_ascii_digit())
                    .collect();
                if !digits.is_empty() {
                    let i = digits[rng.gen_range(0..digits.len())];
                    b[i] = b"0123456789"[rng.gen_range(0..10)];
                    if rng.gen_bool(0.3) {
                        b.insert(i, b"0123456789"[rng.gen_range(0..10)]);
                    }
                }
            }
            8 if !other.is_empty() => {
                let cut = rng.gen_range(0..=len);
                let from = rng.gen_range(0..other.len());
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let i = rng.gen_range(0..len);
                b[i] = rng.gen();
            }
            _ => b.push(rng.gen()),
        }
    }
    b
}

/// Loads `bytes` as `format`; `Ok(true)` if it loaded (and was read back).
fn load(format: Format, bytes: &[u8]) -> Result<bool> {
    let p = temp(format.ext());
    std::fs::write(&p, bytes).expect("write a mutant");
    let loaded = match format {
        Format::Safetensors => io::load_safetensors(&p).map(|t| t.arrays.into_values().collect()),
        Format::Gguf => io::load_gguf(&p).map(|g| g.arrays.into_values().collect()),
        Format::Npy => io::load_npy(&p).map(|a| vec![a]),
    };
    let _ = std::fs::remove_file(&p);
    let arrays: Vec<Array> = match loaded {
        Ok(a) => a,
        Err(e) => {
            assert!(!e.message().is_empty(), "empty error message");
            return Ok(false);
        }
    };
    for a in arrays {
        // Read every loaded value (complex has no f32 view; skip it).
        if a.dtype() != Dtype::Complex64 {
            let v = a.astype(Dtype::Float32)?.to_vec::<f32>()?;
            assert_eq!(v.len(), a.size());
        }
    }
    Ok(true)
}

#[test]
fn mutated_files_load_or_fail_cleanly() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        let seeds = seeds(&mut rng)?;
        if let Ok(dir) = std::env::var("MLX_RS_FUZZ_SEEDS_DIR") {
            for (i, (f, bytes)) in seeds.iter().enumerate() {
                let d = Path::new(&dir).join(f.ext());
                std::fs::create_dir_all(&d).expect("create the seed dir");
                std::fs::write(d.join(format!("seed-{i}.{}", f.ext())), bytes)
                    .expect("write a seed");
            }
        }
        // Every seed loads.
        for (f, bytes) in &seeds {
            assert!(load(*f, bytes)?, "seed {f:?} did not load");
        }
        let iters: usize = std::env::var("MLX_RS_FUZZ_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20_000);
        let start = std::time::Instant::now();
        for format in [Format::Safetensors, Format::Gguf, Format::Npy] {
            let mine: Vec<&Vec<u8>> = seeds
                .iter()
                .filter(|(f, _)| f.ext() == format.ext())
                .map(|(_, b)| b)
                .collect();
            let (mut ok, mut err) = (0usize, 0usize);
            for _ in 0..iters {
                let seed = mine[rng.gen_range(0..mine.len())];
                let other = mine[rng.gen_range(0..mine.len())];
                let bytes = mutate(&mut rng, seed, other);
                if load(format, &bytes)? {
                    ok += 1;
                } else {
                    err += 1;
                }
            }
            println!("{format:?}: {iters} mutants, {ok} loaded, {err} rejected with Err");
        }
        println!("{} mutants in {:.2?}", 3 * iters, start.elapsed());
        Ok(())
    })
}
