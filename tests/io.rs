//! Saving and loading: safetensors, npy and GGUF round trips for every dtype
//! a format supports, metadata, and malformed files (each must be an `Err`).

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use mlx_rs::io::{self, GgufValue};
use mlx_rs::{bf16, f16, ops, Array, Complex32, Dtype, Result};
use rand::rngs::StdRng;
use rand::Rng;

/// A fresh path under the temp dir, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(ext: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "mlx-rs-io-{}-{}-{}.{ext}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            rand::random::<u64>()
        );
        TempPath(std::env::temp_dir().join(name))
    }
    fn write(&self, bytes: &[u8]) {
        std::fs::write(&self.0, bytes).expect("write temp file");
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const SHAPE: [i32; 2] = [3, 5];
const N: usize = 15;

/// A random (never all-zero) array of `dtype`.
fn random_array(rng: &mut StdRng, dtype: Dtype) -> Result<Array> {
    let f = |rng: &mut StdRng| common::uniform(rng, N, -100.0, 100.0);
    match dtype {
        Dtype::Bool => {
            let mut v: Vec<bool> = (0..N).map(|_| rng.gen()).collect();
            v[0] = true;
            Array::from_slice(&v, &SHAPE)
        }
        Dtype::Uint8 => Array::from_slice(
            &(0..N)
                .map(|_| rng.gen_range(1..=u8::MAX))
                .collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Uint16 => Array::from_slice(
            &(0..N)
                .map(|_| rng.gen_range(1..=u16::MAX))
                .collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Uint32 => Array::from_slice(
            &(0..N)
                .map(|_| rng.gen_range(1..=u32::MAX))
                .collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Uint64 => Array::from_slice(
            &(0..N)
                .map(|_| rng.gen_range(1..=u64::MAX))
                .collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Int8 => Array::from_slice(
            &(0..N)
                .map(|_| rng.gen_range(i8::MIN..=-1))
                .collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Int16 => Array::from_slice(
            &(0..N)
                .map(|_| rng.gen_range(i16::MIN..=-1))
                .collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Int32 => Array::from_slice(
            &(0..N).map(|_| rng.gen::<i32>() | 1).collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Int64 => Array::from_slice(
            &(0..N).map(|_| rng.gen::<i64>() | 1).collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Float16 => Array::from_slice(
            &f(rng).into_iter().map(f16::from_f32).collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Float32 => Array::from_slice(&f(rng), &SHAPE),
        Dtype::Float64 => Array::from_slice(
            &(0..N)
                .map(|_| rng.gen_range(-1e3..1e3))
                .collect::<Vec<f64>>(),
            &SHAPE,
        ),
        Dtype::Bfloat16 => Array::from_slice(
            &f(rng).into_iter().map(bf16::from_f32).collect::<Vec<_>>(),
            &SHAPE,
        ),
        Dtype::Complex64 => {
            let re = f(rng);
            let im = f(rng);
            let v: Vec<Complex32> = re
                .iter()
                .zip(&im)
                .map(|(r, i)| Complex32::new(*r, *i))
                .collect();
            Array::from_slice(&v, &SHAPE)
        }
        other => panic!("unexpected dtype {other:?}"),
    }
}

/// The elements as little-endian bytes (exact comparison across dtypes).
fn bytes_of(a: &Array) -> Result<Vec<u8>> {
    fn le<T, const K: usize>(v: Vec<T>, f: impl Fn(T) -> [u8; K]) -> Vec<u8> {
        v.into_iter().flat_map(f).collect()
    }
    Ok(match a.dtype() {
        Dtype::Bool => a.to_vec::<bool>()?.into_iter().map(u8::from).collect(),
        Dtype::Uint8 => a.to_vec::<u8>()?,
        Dtype::Uint16 => le(a.to_vec::<u16>()?, u16::to_le_bytes),
        Dtype::Uint32 => le(a.to_vec::<u32>()?, u32::to_le_bytes),
        Dtype::Uint64 => le(a.to_vec::<u64>()?, u64::to_le_bytes),
        Dtype::Int8 => le(a.to_vec::<i8>()?, i8::to_le_bytes),
        Dtype::Int16 => le(a.to_vec::<i16>()?, i16::to_le_bytes),
        Dtype::Int32 => le(a.to_vec::<i32>()?, i32::to_le_bytes),
        Dtype::Int64 => le(a.to_vec::<i64>()?, i64::to_le_bytes),
        Dtype::Float16 => le(a.to_vec::<f16>()?, f16::to_le_bytes),
        Dtype::Float32 => le(a.to_vec::<f32>()?, f32::to_le_bytes),
        Dtype::Float64 => le(a.to_vec::<f64>()?, f64::to_le_bytes),
        Dtype::Bfloat16 => le(a.to_vec::<bf16>()?, bf16::to_le_bytes),
        Dtype::Complex64 => le(a.to_vec::<Complex32>()?, |c| {
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&c.re.to_le_bytes());
            b[4..].copy_from_slice(&c.im.to_le_bytes());
            b
        }),
        other => panic!("unexpected dtype {other:?}"),
    })
}

#[track_caller]
fn assert_same(got: &Array, want: &Array) -> Result<()> {
    assert_eq!(got.dtype(), want.dtype());
    assert_eq!(got.shape(), want.shape());
    assert_eq!(
        bytes_of(got)?,
        bytes_of(want)?,
        "{} data differs",
        want.dtype()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Round trips

#[test]
fn safetensors_round_trips_all_dtypes_and_metadata() -> Result<()> {
    let mut rng = common::rng();
    let mut arrays = HashMap::new();
    // MLX's safetensors writer rejects float64 (the only one of the 14).
    for d in Dtype::ALL.into_iter().filter(|d| *d != Dtype::Float64) {
        arrays.insert(format!("t_{d}"), random_array(&mut rng, d)?);
    }
    let f64_only = HashMap::from([("x".to_string(), random_array(&mut rng, Dtype::Float64)?)]);
    let rejected = TempPath::new("safetensors");
    assert!(io::save_safetensors(&rejected.0, &f64_only, &HashMap::new()).is_err());
    // A non-contiguous input is written in logical order.
    let t = ops::transpose(&random_array(&mut rng, Dtype::Float32)?)?;
    arrays.insert("transposed".to_string(), t.clone());
    let metadata = HashMap::from([
        ("format".to_string(), "mlx".to_string()),
        ("note".to_string(), format!("seeded {}", rng.gen::<u32>())),
        ("unicode".to_string(), "ünï — ✓".to_string()),
    ]);
    let path = TempPath::new("safetensors");
    io::save_safetensors(&path.0, &arrays, &metadata)?;
    let loaded = io::load_safetensors(&path.0)?;
    assert_eq!(loaded.metadata, metadata);
    assert_eq!(loaded.arrays.len(), arrays.len());
    for (name, want) in &arrays {
        assert_same(&loaded.arrays[name], want)?;
    }
    assert_eq!(loaded.arrays["transposed"].shape(), vec![5, 3]);

    // Without metadata.
    let path2 = TempPath::new("safetensors");
    io::save_safetensors(&path2.0, &arrays, &HashMap::new())?;
    assert!(io::load_safetensors(&path2.0)?.metadata.is_empty());
    Ok(())
}

#[test]
fn npy_round_trips_every_dtype_but_bf16() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        for d in Dtype::ALL {
            let a = random_array(&mut rng, d)?;
            let path = TempPath::new("npy");
            if d == Dtype::Bfloat16 {
                assert!(io::save_npy(&path.0, &a).is_err(), "npy has no bfloat16");
                continue;
            }
            io::save_npy(&path.0, &a)?;
            assert_same(&io::load_npy(&path.0)?, &a)?;
        }
        // Scalars and transposed inputs.
        let path = TempPath::new("npy");
        let s = Array::scalar(rng.gen_range(1.0f32..2.0))?;
        io::save_npy(&path.0, &s)?;
        assert_same(&io::load_npy(&path.0)?, &s)?;
        let t = ops::transpose(&random_array(&mut rng, Dtype::Int32)?)?;
        io::save_npy(&path.0, &t)?;
        assert_same(&io::load_npy(&path.0)?, &t)?;
        Ok(())
    })
}

#[test]
fn save_requires_matching_extension() -> Result<()> {
    let a = Array::from_slice(&[1.0f32, 2.0], &[2])?;
    let p = TempPath::new("bin");
    assert!(io::save_npy(&p.0, &a).is_err());
    assert!(io::save_safetensors(&p.0, &HashMap::<String, Array>::new(), None).is_err());
    assert!(io::save_gguf(&p.0, &HashMap::new(), &HashMap::new()).is_err());
    assert!(!p.0.exists());
    Ok(())
}

/// The dtypes MLX's GGUF writer takes.
const GGUF_DTYPES: [Dtype; 5] = [
    Dtype::Float32,
    Dtype::Float16,
    Dtype::Int8,
    Dtype::Int16,
    Dtype::Int32,
];

#[test]
fn gguf_round_trips_supported_dtypes_and_metadata() -> Result<()> {
    let mut rng = common::rng();
    let mut arrays = HashMap::new();
    for d in GGUF_DTYPES {
        arrays.insert(format!("t_{d}"), random_array(&mut rng, d)?);
    }
    let number = rng.gen_range(1.0f32..100.0);
    let metadata = HashMap::from([
        (
            "general.name".to_string(),
            GgufValue::String("tiny".to_string()),
        ),
        (
            "tokenizer.tokens".to_string(),
            GgufValue::Strings(vec!["a".into(), "bc".into(), "déf".into()]),
        ),
        (
            "x.scalar".to_string(),
            GgufValue::Array(Array::scalar(number)?),
        ),
        (
            "x.vector".to_string(),
            GgufValue::Array(Array::from_slice(&[3i32, 1, 4, 1, 5], &[5])?),
        ),
    ]);
    let path = TempPath::new("gguf");
    io::save_gguf(&path.0, &arrays, &metadata)?;
    let loaded = io::load_gguf(&path.0)?;
    assert_eq!(loaded.arrays.len(), arrays.len());
    for (name, want) in &arrays {
        assert_same(&loaded.arrays[name], want)?;
    }
    match &loaded.metadata["general.name"] {
        GgufValue::String(s) => assert_eq!(s, "tiny"),
        other => panic!("{other:?}"),
    }
    match &loaded.metadata["tokenizer.tokens"] {
        GgufValue::Strings(v) => assert_eq!(v, &["a", "bc", "déf"]),
        other => panic!("{other:?}"),
    }
    match &loaded.metadata["x.scalar"] {
        GgufValue::Array(a) => assert_eq!(a.astype(Dtype::Float32)?.to_vec::<f32>()?, [number]),
        other => panic!("{other:?}"),
    }
    match &loaded.metadata["x.vector"] {
        GgufValue::Array(a) => {
            assert_eq!(a.astype(Dtype::Int32)?.to_vec::<i32>()?, [3, 1, 4, 1, 5])
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn gguf_rejects_unsupported_dtypes() -> Result<()> {
    let mut rng = common::rng();
    for d in Dtype::ALL {
        if GGUF_DTYPES.contains(&d) {
            continue;
        }
        let arrays = HashMap::from([("t".to_string(), random_array(&mut rng, d)?)]);
        let path = TempPath::new("gguf");
        assert!(
            io::save_gguf(&path.0, &arrays, &HashMap::new()).is_err(),
            "GGUF save of {d} should fail"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Malformed files

fn safetensors_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

#[track_caller]
fn expect_err_safetensors(bytes: &[u8], what: &str) {
    let p = TempPath::new("safetensors");
    p.write(bytes);
    assert!(io::load_safetensors(&p.0).is_err(), "{what}: loaded");
}

#[test]
fn malformed_safetensors_are_errors() -> Result<()> {
    let mut rng = common::rng();
    let ok_header = r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let data: Vec<u8> = (0..16).map(|_| rng.gen_range(1..=255)).collect();
    // The good file loads.
    let good = safetensors_file(ok_header, &data);
    let p = TempPath::new("safetensors");
    p.write(&good);
    assert_eq!(io::load_safetensors(&p.0)?.arrays["a"].shape(), vec![2, 2]);

    expect_err_safetensors(&[], "empty");
    expect_err_safetensors(&[1, 2, 3], "shorter than 8 bytes");
    expect_err_safetensors(&good[..good.len() - 1], "truncated data");
    let mut lying = good.clone();
    lying[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    expect_err_safetensors(&lying, "header length past end");
    let mut lying = good.clone();
    lying[..8].copy_from_slice(&(u64::MAX).to_le_bytes());
    expect_err_safetensors(&lying, "header length u64::MAX");
    let mut short = good.clone();
    short[..8].copy_from_slice(&10u64.to_le_bytes());
    expect_err_safetensors(&short, "header length too short (cut JSON)");
    expect_err_safetensors(
        &safetensors_file("not json at all", &data),
        "garbage header",
    );
    expect_err_safetensors(&safetensors_file("[1,2,3]", &data), "not an object");
    let cases = [
        (
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,1600]}}"#,
            "end past data",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}"#,
            "offset past data",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]}}"#,
            "begin > end",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#,
            "size mismatch",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647,2147483647],"data_offsets":[0,16]}}"#,
            "absurd shape",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}}"#,
            "negative dims",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[18446744073709551615,16]}}"#,
            "huge begin",
        ),
        (
            r#"{"a":{"dtype":"X99","shape":[2,2],"data_offsets":[0,16]}}"#,
            "unknown dtype",
        ),
        (r#"{"a":{"shape":[2,2],"data_offsets":[0,16]}}"#, "no dtype"),
        (r#"{"a":{"dtype":"F32","data_offsets":[0,16]}}"#, "no shape"),
        (r#"{"a":{"dtype":"F32","shape":[2,2]}}"#, "no offsets"),
        (
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0]}}"#,
            "one offset",
        ),
        (r#"{"a":5}"#, "entry not an object"),
        (
            r#"{"__metadata__":{"k":5},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#,
            "non-string metadata",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}"#,
            "unterminated JSON",
        ),
    ];
    for (header, what) in cases {
        expect_err_safetensors(&safetensors_file(header, &data), what);
    }
    // Random garbage after a plausible length.
    let mut garbage = 64u64.to_le_bytes().to_vec();
    garbage.extend((0..200).map(|_| rng.gen::<u8>()));
    expect_err_safetensors(&garbage, "random bytes");

    // Every truncation of a real file is an error.
    let arrays = HashMap::from([
        ("x".to_string(), random_array(&mut rng, Dtype::Float32)?),
        ("y".to_string(), random_array(&mut rng, Dtype::Int64)?),
    ]);
    let real = TempPath::new("safetensors");
    io::save_safetensors(&real.0, &arrays, &HashMap::new())?;
    let bytes = std::fs::read(&real.0).expect("read");
    for cut in 0..bytes.len() {
        expect_err_safetensors(&bytes[..cut], &format!("truncated at {cut}"));
    }
    // Missing file.
    assert!(io::load_safetensors(&TempPath::new("safetensors").0).is_err());
    Ok(())
}

fn npy_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

#[track_caller]
fn expect_err_npy(bytes: &[u8], what: &str) {
    let p = TempPath::new("npy");
    p.write(bytes);
    assert!(io::load_npy(&p.0).is_err(), "{what}: loaded");
}

#[test]
fn malformed_npy_are_errors() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        let data: Vec<u8> = (0..16).map(|_| rng.gen_range(1..=255)).collect();
        let good = npy_file(header, &data);
        let p = TempPath::new("npy");
        p.write(&good);
        assert_eq!(io::load_npy(&p.0)?.shape(), vec![2, 2]);

        expect_err_npy(&[], "empty");
        expect_err_npy(b"\x93NUMP", "short magic");
        expect_err_npy(&good[..good.len() - 1], "truncated data");
        let mut bad_magic = good.clone();
        bad_magic[1] = b'X';
        expect_err_npy(&bad_magic, "bad magic");
        let mut bad_version = good.clone();
        bad_version[6] = 9;
        expect_err_npy(&bad_version, "bad version");
        let mut lying = good.clone();
        lying[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        expect_err_npy(&lying, "header length past end");
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&u32::MAX.to_le_bytes());
        v2.extend_from_slice(header.as_bytes());
        expect_err_npy(&v2, "v2 header length past end");
        let cases = [
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647), }", "absurd shape"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }", "negative dim"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 5), }", "shape larger than data"),
            ("{'descr': '<q9', 'fortran_order': False, 'shape': (2, 2), }", "unknown descr"),
            ("{'descr': '<U8', 'fortran_order': False, 'shape': (2,), }", "unicode strings"),
            ("{'descr': '<f4', 'shape': (2, 2), }", "no fortran_order"),
            ("{'descr': '<f4', 'fortran_order': False, }", "no shape"),
            ("{'fortran_order': False, 'shape': (2, 2), }", "no descr"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 2], }", "shape not a tuple"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "garbage dim"),
            ("not a dict at all", "garbage header"),
        ];
        for (h, what) in cases {
            expect_err_npy(&npy_file(h, &data), what);
        }
        let mut garbage = b"\x93NUMPY\x01\x00\x20\x00".to_vec();
        garbage.extend((0..100).map(|_| rng.gen::<u8>()));
        expect_err_npy(&garbage, "random bytes");

        let real = TempPath::new("npy");
        io::save_npy(&real.0, &random_array(&mut rng, Dtype::Float64)?)?;
        let bytes = std::fs::read(&real.0).expect("read");
        for cut in 0..bytes.len() {
            expect_err_npy(&bytes[..cut], &format!("truncated at {cut}"));
        }
        assert!(io::load_npy(&TempPath::new("npy").0).is_err());
        Ok(())
    })
}

/// A minimal GGUF v3 file: one string key and one F32 tensor `t` of `dims`.
fn gguf_file(version: u32, dims: &[u64], ty: u32, offset: u64, data_len: usize) -> Vec<u8> {
    fn string(v: &mut Vec<u8>, s: &str) {
        v.extend_from_slice(&(s.len() as u64).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
    }
    let mut v = b"GGUF".to_vec();
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&1u64.to_le_bytes()); // tensors
    v.extend_from_slice(&1u64.to_le_bytes()); // kv
    string(&mut v, "general.name");
    v.extend_from_slice(&8u32.to_le_bytes());
    string(&mut v, "x");
    string(&mut v, "t");
    v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        v.extend_from_slice(&d.to_le_bytes());
    }
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    while v.len() % 32 != 0 {
        v.push(0);
    }
    v.extend((0..data_len).map(|i| (i % 251) as u8 + 1));
    v
}

#[track_caller]
fn expect_err_gguf(bytes: &[u8], what: &str) {
    let p = TempPath::new("gguf");
    p.write(bytes);
    assert!(io::load_gguf(&p.0).is_err(), "{what}: loaded");
}

#[test]
fn malformed_gguf_are_errors() -> Result<()> {
    let mut rng = common::rng();
    let good = gguf_file(3, &[4, 2], 0, 0, 32);
    let p = TempPath::new("gguf");
    p.write(&good);
    let loaded = io::load_gguf(&p.0)?;
    assert_eq!(loaded.arrays["t"].size(), 8);
    assert!(matches!(&loaded.metadata["general.name"], GgufValue::String(s) if s == "x"));

    expect_err_gguf(&[], "empty");
    expect_err_gguf(b"GGU", "short magic");
    let mut bad = good.clone();
    bad[0] = b'X';
    expect_err_gguf(&bad, "bad magic");
    expect_err_gguf(&gguf_file(1, &[4, 2], 0, 0, 32), "version 1");
    expect_err_gguf(&gguf_file(99, &[4, 2], 0, 0, 32), "version 99");
    expect_err_gguf(&gguf_file(3, &[4, 2], 0, 0, 31), "truncated data");
    expect_err_gguf(&gguf_file(3, &[4, 2], 0, 1 << 40, 32), "offset past end");
    expect_err_gguf(
        &gguf_file(3, &[4, 2], 0, u64::MAX - 8, 32),
        "offset overflow",
    );
    expect_err_gguf(
        &gguf_file(3, &[u64::MAX, u64::MAX], 0, 0, 32),
        "absurd dims",
    );
    expect_err_gguf(&gguf_file(3, &[1 << 30, 1 << 30], 0, 0, 32), "huge shape");
    expect_err_gguf(&gguf_file(3, &[4, 0], 0, 0, 32), "zero dim");
    expect_err_gguf(&gguf_file(3, &[], 0, 0, 32), "rank 0");
    expect_err_gguf(&gguf_file(3, &[1, 1, 1, 1, 8], 0, 0, 32), "rank 5");
    expect_err_gguf(&gguf_file(3, &[4, 2], 999, 0, 32), "unknown tensor type");
    expect_err_gguf(&gguf_file(3, &[5], 2, 0, 32), "Q4_0 with a partial block");
    let mut counts = good.clone();
    counts[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_err_gguf(&counts, "tensor count lie");
    let mut counts = good.clone();
    counts[16..24].copy_from_slice(&(1u64 << 50).to_le_bytes());
    expect_err_gguf(&counts, "kv count lie");
    let mut key_len = good.clone();
    key_len[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_err_gguf(&key_len, "key length lie");
    let mut value_type = good.clone();
    value_type[44..48].copy_from_slice(&77u32.to_le_bytes());
    expect_err_gguf(&value_type, "unknown value type");
    let mut garbage = b"GGUF\x03\x00\x00\x00".to_vec();
    garbage.extend((0..300).map(|_| rng.gen::<u8>()));
    expect_err_gguf(&garbage, "random bytes");

    let arrays = HashMap::from([("w".to_string(), random_array(&mut rng, Dtype::Float32)?)]);
    let meta = HashMap::from([(
        "k".to_string(),
        GgufValue::Strings(vec!["a".into(), "b".into()]),
    )]);
    let real = TempPath::new("gguf");
    io::save_gguf(&real.0, &arrays, &meta)?;
    let bytes = std::fs::read(&real.0).expect("read");
    let full = io::load_gguf(&real.0)?;
    assert_same(&full.arrays["w"], &arrays["w"])?;
    for cut in 0..bytes.len() {
        // Trailing alignment padding is not needed by any tensor; cuts that
        // only drop padding may load, anything else must fail.
        let p = TempPath::new("gguf");
        p.write(&bytes[..cut]);
        if let Ok(g) = io::load_gguf(&p.0) {
            assert_same(&g.arrays["w"], &arrays["w"])?;
        }
        if cut < bytes.len() - 64 {
            assert!(io::load_gguf(&p.0).is_err(), "truncated at {cut}: loaded");
        }
    }
    assert!(io::load_gguf(&TempPath::new("gguf").0).is_err());
    Ok(())
}
