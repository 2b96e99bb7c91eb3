//! bfloat16 / float16 matmul 256×1024 @ 1024×256 on the CPU: this crate (half
//! inputs multiplied through float32 BLAS, rounded once) vs this crate in
//! float32 vs Python MLX (its own half-precision CPU kernels), side by side in
//! one run, evaluation inside the timed region.
//!
//! `MLX_RS_BENCH_PYTHON` names the Python to compare with (see
//! `benches/py/setup.sh`).

#[path = "harness/mod.rs"]
mod harness;

use mlx_rs::{ops, Array, Device, Dtype};

const M: i32 = 256;
const K: i32 = 1024;
const N: i32 = 256;

fn main() -> mlx_rs::Result<()> {
    let cpu = Device::cpu();
    let a = ops::random::uniform(-1.0, 1.0, &[M, K], Dtype::Float32, None)?;
    let b = ops::random::uniform(-1.0, 1.0, &[K, N], Dtype::Float32, None)?;
    mlx_rs::eval([&a, &b])?;
    let time = |a: &Array, b: &Array| harness::time(|| ops::matmul_on(a, b, &cpu)?.eval());
    let f32_ours = time(&a, &b).map_err(|e| e.to_string());
    let dims = |code: i64| [M as i64, K as i64, N as i64, code];
    for (code, dtype) in [(1, Dtype::Bfloat16), (2, Dtype::Float16)] {
        let (ah, bh) = (a.astype(dtype)?, b.astype(dtype)?);
        mlx_rs::eval([&ah, &bh])?;
        harness::table(
            &format!("matmul {dtype} {M}x{K} @ {K}x{N}, CPU"),
            &[
                (
                    &format!("mlx-rs {dtype}"),
                    time(&ah, &bh).map_err(|e| e.to_string()),
                ),
                ("mlx-rs float32", f32_ours.clone()),
                (
                    &format!("python-mlx {dtype}"),
                    harness::python_side("python-mlx", "matmul_dtype", "cpu", &dims(code)),
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
