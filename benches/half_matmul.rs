//! bfloat16 / float16 matmul 256×1024 @ 1024×256 on the CPU: this crate (half
//! inputs multiplied through float32 BLAS, rounded once) vs this crate in
//! float32 vs Python MLX (its own half-precision CPU kernels), side by side in
//! one run, evaluation inside the timed region.
//!
//! `MLX_RS_BENCH_PYTHON` names the Python to compare with (see
//! `benches/py/setup.sh`).

#[path = "harness/mod.rs"]
mod harness;

use std::time::Instant;

use mlx_rs::{ops, Array, Device, Dtype};

const M: i32 = 256;
const K: i32 = 1024;
const N: i32 = 256;

fn main() -> mlx_rs::Result<()> {
    let cpu = Device::cpu();
    let a = ops::random::uniform(-1.0, 1.0, &[M, K], Dtype::Float32, None)?;
    let b = ops::random::uniform(-1.0, 1.0, &[K, N], Dtype::Float32, None)?;
    let dtypes = [Dtype::Float32, Dtype::Bfloat16, Dtype::Float16];
    let inputs: Vec<(Array, Array)> = dtypes
        .iter()
        .map(|&d| Ok((a.astype(d)?, b.astype(d)?)))
        .collect::<mlx_rs::Result<_>>()?;
    for (x, y) in &inputs {
        mlx_rs::eval([x, y])?;
    }
    // The three dtypes are timed in turn within each sample, so that load on
    // a shared machine weighs on all of them alike.
    let run = |(x, y): &(Array, Array)| -> mlx_rs::Result<f64> {
        let t = Instant::now();
        ops::matmul_on(x, y, &cpu)?.eval()?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    for _ in 0..harness::WARMUP {
        for pair in &inputs {
            run(pair)?;
        }
    }
    let mut samples = vec![Vec::new(); inputs.len()];
    for _ in 0..harness::SAMPLES {
        for (pair, out) in inputs.iter().zip(&mut samples) {
            out.push(run(pair)?);
        }
    }
    let stats: Vec<_> = samples.into_iter().map(harness::stats).collect();
    let dims = |code: i64| [M as i64, K as i64, N as i64, code];
    for (code, dtype) in [(1usize, Dtype::Bfloat16), (2, Dtype::Float16)] {
        harness::table(
            &format!("matmul {dtype} {M}x{K} @ {K}x{N}, CPU"),
            &[
                (&format!("mlx-rs {dtype}"), Ok(stats[code])),
                ("mlx-rs float32", Ok(stats[0])),
                (
                    &format!("python-mlx {dtype}"),
                    harness::python_side("python-mlx", "matmul_dtype", "cpu", &dims(code as i64)),
                ),
                (
                    "python-mlx float32",
                    harness::python_side("python-mlx", "matmul_dtype", "cpu", &dims(0)),
                ),
            ],
        );
    }
    Ok(())
}
