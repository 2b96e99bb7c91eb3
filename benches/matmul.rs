//! f32 matmul 256×768 @ 768×3072 (a transformer MLP projection): this crate vs
//! NumPy vs Python MLX, measured side by side in one run, eval inside the
//! timed region. Prints median and p95 and the ratios to NumPy.
//!
//! `MLX_RS_BENCH_PYTHON` names the Python to compare with (see
//! `benches/py/setup.sh`); without NumPy/MLX there, only our numbers print.

use std::process::Command;
use std::time::Instant;

use mlx_rs::{ops, Array};
use rand::Rng;

const WARMUP: usize = 5;
const SAMPLES: usize = 30;
const M: i32 = 256;
const K: i32 = 768;
const N: i32 = 3072;

fn stats(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let p95 = ((0.95 * samples.len() as f64) as usize).min(samples.len() - 1);
    (samples[samples.len() / 2], samples[p95])
}

fn main() -> mlx_rs::Result<()> {
    let mut rng = rand::thread_rng();
    let mut random = |n: i32| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let a = Array::from_slice(&random(M * K), &[M, K])?;
    let b = Array::from_slice(&random(K * N), &[K, N])?;
    mlx_rs::eval([&a, &b])?;

    let run = || -> mlx_rs::Result<f64> {
        let t = Instant::now();
        let c: Array = ops::matmul(&a, &b)?;
        c.eval()?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    for _ in 0..WARMUP {
        run()?;
    }
    let (ours_med, ours_p95) = stats((0..SAMPLES).map(|_| run()).collect::<Result<_, _>>()?);

    let python = std::env::var("MLX_RS_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    println!("matmul f32 {M}x{K} @ {K}x{N}, {WARMUP} warm-up + {SAMPLES} samples, CPU");
    println!(
        "{:<12} {:>12} {:>12} {:>14}",
        "impl", "median ms", "p95 ms", "ours / impl"
    );
    println!(
        "{:<12} {:>12.3} {:>12.3} {:>14}",
        "mlx-rs", ours_med, ours_p95, "1.00"
    );
    for name in ["numpy", "python-mlx"] {
        match python_side(&python, name) {
            Ok((med, p95)) => println!(
                "{name:<12} {med:>12.3} {p95:>12.3} {:>14.2}",
                ours_med / med
            ),
            Err(why) => println!("{name:<12} not measured: {why}"),
        }
    }
    Ok(())
}

/// Runs one Python implementation in its own process; (median, p95) in ms.
fn python_side(python: &str, name: &str) -> Result<(f64, f64), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/py/timing.py");
    let out = Command::new(python)
        .args([
            script,
            name,
            "matmul",
            &WARMUP.to_string(),
            &SAMPLES.to_string(),
        ])
        .args([M, K, N].map(|d| d.to_string()))
        // Cargo points the loader at our libmlx; Python must load its own.
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match (
        field(&text, name, "median_ms"),
        field(&text, name, "p95_ms"),
    ) {
        (Some(med), Some(p95)) => Ok((med, p95)),
        _ => Err(format!(
            "{}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Reads `result[name][key]` from the script's one-line JSON (flat, so a scan
/// suffices and the bench needs no JSON dependency).
fn field(json: &str, name: &str, key: &str) -> Option<f64> {
    let obj = &json[json.find(&format!("\"{name}\""))?..];
    let obj = &obj[..obj.find('}')?];
    let rest = &obj[obj.find(&format!("\"{key}\": "))? + key.len() + 4..];
    rest.split([',', '}']).next()?.trim().parse().ok()
}
