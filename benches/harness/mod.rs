//! Shared by the benchmarks: the timing protocol (warm-up, then samples, with
//! evaluation inside the timed region), the Python side run in its own process
//! with the same protocol, and the result table.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

pub const WARMUP: usize = 5;
pub const SAMPLES: usize = 30;

/// Median and p95 of a sample set, in ms.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub median_ms: f64,
    pub p95_ms: f64,
}

pub fn stats(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(f64::total_cmp);
    let p95 = ((0.95 * samples.len() as f64) as usize).min(samples.len() - 1);
    Stats {
        median_ms: samples[samples.len() / 2],
        p95_ms: samples[p95],
    }
}

/// Times `run`, which must build *and evaluate* its result.
pub fn time(mut run: impl FnMut() -> mlx_rs::Result<()>) -> mlx_rs::Result<Stats> {
    for _ in 0..WARMUP {
        run()?;
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        run()?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(stats(samples))
}

/// Runs `benches/py/timing.py IMPL CASE DEVICE WARMUP SAMPLES DIMS..` with
/// `MLX_RS_BENCH_PYTHON` (default `python3`) in its own process.
pub fn python_side(
    implementation: &str,
    case: &str,
    device: &str,
    dims: &[i64],
) -> Result<Stats, String> {
    let python = std::env::var("MLX_RS_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/py/timing.py"));
    if !script.exists() {
        // A bench binary copied to another machine runs from the repository root.
        script = PathBuf::from("benches/py/timing.py");
    }
    let out = Command::new(&python)
        .arg(&script)
        .args([
            implementation,
            case,
            device,
            &WARMUP.to_string(),
            &SAMPLES.to_string(),
        ])
        .args(dims.iter().map(|d| d.to_string()))
        // A loader path meant for this binary must not steer Python's MLX.
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match (field(&text, "median_ms"), field(&text, "p95_ms")) {
        (Some(median_ms), Some(p95_ms)) => Ok(Stats { median_ms, p95_ms }),
        _ => Err(format!(
            "{} {}",
            text.trim(),
            last_line(&String::from_utf8_lossy(&out.stderr))
        )),
    }
}

fn last_line(s: &str) -> &str {
    s.trim().lines().last().unwrap_or("")
}

/// Reads a number from the script's flat one-line JSON.
fn field(json: &str, key: &str) -> Option<f64> {
    let rest = &json[json.find(&format!("\"{key}\": "))? + key.len() + 4..];
    rest.split([',', '}']).next()?.trim().parse().ok()
}

/// Prints one table: the first row is ours; ratios are ours / row.
pub fn table(title: &str, rows: &[(&str, Result<Stats, String>)]) {
    println!("\n{title} ({WARMUP} warm-up + {SAMPLES} samples)");
    println!(
        "{:<22} {:>11} {:>11} {:>12}",
        "impl", "median ms", "p95 ms", "ours / impl"
    );
    let ours = rows
        .first()
        .and_then(|(_, r)| r.as_ref().ok())
        .map(|s| s.median_ms);
    for (name, r) in rows {
        match (r, ours) {
            (Ok(s), Some(o)) => println!(
                "{name:<22} {:>11.3} {:>11.3} {:>12.2}",
                s.median_ms,
                s.p95_ms,
                o / s.median_ms
            ),
            (Ok(s), None) => println!("{name:<22} {:>11.3} {:>11.3}", s.median_ms, s.p95_ms),
            (Err(why), _) => println!("{name:<22} not measured: {why}"),
        }
    }
}
