//! f32 matmul 256×768 @ 768×3072 (a transformer MLP projection) on the CPU:
//! this crate vs NumPy vs Python MLX, side by side in one run, evaluation
//! inside the timed region.
//!
//! `MLX_RS_BENCH_PYTHON` names the Python to compare with (see
//! `benches/py/setup.sh`).

#[path = "harness/mod.rs"]
mod harness;

use mlx_rs::{ops, Array, Device};
use rand::Rng;

const M: i32 = 256;
const K: i32 = 768;
const N: i32 = 3072;

fn main() -> mlx_rs::Result<()> {
    let cpu = Device::cpu();
    let mut rng = rand::thread_rng();
    let mut random = |n: i32| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let a = Array::from_slice(&random(M * K), &[M, K])?;
    let b = Array::from_slice(&random(K * N), &[K, N])?;
    mlx_rs::eval([&a, &b])?;

    let ours = harness::time(|| ops::matmul_on(&a, &b, &cpu)?.eval());
    let dims = [M as i64, K as i64, N as i64];
    harness::table(
        &format!("matmul f32 {M}x{K} @ {K}x{N}, CPU"),
        &[
            ("mlx-rs", ours.map_err(|e| e.to_string())),
            (
                "numpy",
                harness::python_side("numpy", "matmul", "cpu", &dims),
            ),
            (
                "python-mlx",
                harness::python_side("python-mlx", "matmul", "cpu", &dims),
            ),
        ],
    );
    Ok(())
}
