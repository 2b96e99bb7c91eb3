//! The fused ops of `mlx-ext-kernels` vs their reference composed of core ops
//! vs the same composition in Python MLX, on the default device (the GPU where
//! MLX has one), side by side in one run, evaluation inside the timed region.
//!
//! `MLX_RS_BENCH_PYTHON` names the Python with MLX to compare with;
//! `MLX_RS_BENCH_ONLY=NAME` runs only the sections whose name contains NAME
//! (`swiglu`, `l2_normalize`, `linear-half`, `linear-f32`, `linear-cpu`);
//! `MLX_RS_BENCH_M=ROWS` keeps only that row count in `linear-half`.
//!
//! The fused linear section compares `fused_linear` (GELU-tanh with bias)
//! with the bare GEMM `x @ wᵀ`, the uncompiled reference (`addmm` + GELU),
//! the same reference compiled, and the same three in Python MLX.

#[path = "harness/mod.rs"]
mod harness;

use mlx_rs::kernels;
use mlx_rs::{ops, Array, Device, DeviceType, Dtype, Stream};

fn dtype_code(d: Dtype) -> i64 {
    match d {
        Dtype::Float32 => 0,
        Dtype::Bfloat16 => 1,
        _ => 2,
    }
}

fn random(shape: &[i32], lo: f32, hi: f32, dtype: Dtype, s: &Stream) -> mlx_rs::Result<Array> {
    let x = ops::random::uniform_on(lo, hi, shape, Dtype::Float32, None, s)?;
    let x = ops::astype_on(&x, dtype, s)?;
    x.eval()?;
    Ok(x)
}

fn wanted(section: &str) -> bool {
    std::env::var("MLX_RS_BENCH_ONLY").map_or(true, |only| section.contains(&only))
}

/// One fused-linear table: `x [m, k]`, `w [n, k]`, `b [n]`, GELU-tanh.
fn linear_table(
    m: i32,
    k: i32,
    n: i32,
    dtype: Dtype,
    dev_name: &str,
    s: &Stream,
) -> mlx_rs::Result<()> {
    use kernels::{reference, Activation};
    let scale = 1.0 / (k as f32).sqrt();
    let x = random(&[m, k], -1.0, 1.0, dtype, s)?;
    let w = random(&[n, k], -scale, scale, dtype, s)?;
    let b = random(&[n], -0.5, 0.5, dtype, s)?;
    let act = Activation::GeluTanh;
    let path = kernels::fused_linear_path(&x, &w, s)?;
    let ours = harness::time(|| kernels::fused_linear_on(&x, &w, Some(&b), act, s)?.eval());
    let bare = harness::time(|| ops::matmul_on(&x, &ops::transpose_on(&w, s)?, s)?.eval());
    let uncompiled = harness::time(|| reference::linear_on(&x, &w, Some(&b), act, s)?.eval());
    let st = s.clone();
    let compiled_fn = mlx_rs::transforms::compile(
        move |a: &[Array]| {
            Ok(vec![reference::linear_on(
                &a[0],
                &a[1],
                Some(&a[2]),
                act,
                &st,
            )?])
        },
        false,
    )?;
    let args = [x.clone(), w.clone(), b.clone()];
    let compiled = harness::time(|| compiled_fn.call(&args)?[0].eval());
    kernels::set_fused_linear_cuda(true);
    let kernel_path = kernels::fused_linear_path(&x, &w, s)?;
    let kernel = harness::time(|| kernels::fused_linear_on(&x, &w, Some(&b), act, s)?.eval());
    kernels::set_fused_linear_cuda(false);
    kernels::set_force_reference(true);
    let forced_path = kernels::fused_linear_path(&x, &w, s)?;
    let forced = harness::time(|| kernels::fused_linear_on(&x, &w, Some(&b), act, s)?.eval());
    kernels::set_force_reference(false);
    let py = |mode: i64| {
        harness::python_side(
            "python-mlx",
            "linear",
            dev_name,
            &[m as i64, k as i64, n as i64, dtype_code(dtype), mode],
        )
    };
    let tf32 = std::env::var("MLX_ENABLE_TF32").unwrap_or_else(|_| "default".into());
    harness::table(
        &format!(
            "fused_linear GELU-tanh x {m}x{k}, w {n}x{k} {dtype} on {dev_name} \
             (ours: {path:?}; MLX_ENABLE_TF32={tf32})"
        ),
        &[
            ("mlx-rs fused_linear", ours.map_err(|e| e.to_string())),
            ("mlx-rs bare matmul", bare.map_err(|e| e.to_string())),
            ("mlx-rs addmm+gelu", uncompiled.map_err(|e| e.to_string())),
            ("mlx-rs compiled ref", compiled.map_err(|e| e.to_string())),
            (
                &format!("fused kernels on ({kernel_path:?})"),
                kernel.map_err(|e| e.to_string()),
            ),
            (
                &format!("forced ({forced_path:?})"),
                forced.map_err(|e| e.to_string()),
            ),
            ("python-mlx matmul", py(0)),
            ("python-mlx addmm+gelu", py(1)),
            ("python-mlx mx.compile", py(2)),
        ],
    );
    Ok(())
}

fn main() -> mlx_rs::Result<()> {
    let device = Device::default_device()?;
    let stream = Stream::new(&device)?;
    let dev_name = if device.device_type() == DeviceType::Gpu {
        "gpu"
    } else {
        "cpu"
    };

    let gpu = device.device_type() == DeviceType::Gpu;
    if gpu && wanted("linear-half") {
        for dtype in [Dtype::Bfloat16, Dtype::Float16] {
            for m in [4096, 256, 64, 16, 1] {
                if std::env::var("MLX_RS_BENCH_M").map_or(true, |only| only == m.to_string()) {
                    linear_table(m, 3072, 12288, dtype, dev_name, &stream)?;
                }
            }
        }
    }
    if gpu && wanted("linear-f32") {
        linear_table(4096, 3072, 12288, Dtype::Float32, dev_name, &stream)?;
        linear_table(16, 3072, 12288, Dtype::Float32, dev_name, &stream)?;
        linear_table(1, 3072, 12288, Dtype::Float32, dev_name, &stream)?;
    }
    if !gpu && wanted("linear-cpu") {
        // 1 row: the few-rows kernel of the CPU primitive (no BLAS packing).
        for m in [256, 16, 1] {
            linear_table(m, 1024, 4096, Dtype::Float32, dev_name, &stream)?;
        }
    }

    if wanted("swiglu") {
        for (rows, cols, dtype) in [
            (4096, 14336, Dtype::Bfloat16),
            (4096, 14336, Dtype::Float32),
            (256, 4096, Dtype::Bfloat16),
        ] {
            let g = random(&[rows, cols], -4.0, 4.0, dtype, &stream)?;
            let u = random(&[rows, cols], -2.0, 2.0, dtype, &stream)?;
            let path = kernels::path_for(&stream, dtype)?;
            let ours = harness::time(|| kernels::swiglu_on(&g, &u, &stream)?.eval());
            let reference = harness::time(|| kernels::swiglu_reference_on(&g, &u, &stream)?.eval());
            harness::table(
                &format!("swiglu {rows}x{cols} {dtype} on {dev_name} (ours: {path:?})"),
                &[
                    ("mlx-rs fused", ours.map_err(|e| e.to_string())),
                    ("mlx-rs reference op", reference.map_err(|e| e.to_string())),
                    (
                        "python-mlx composed",
                        harness::python_side(
                            "python-mlx",
                            "swiglu",
                            dev_name,
                            &[rows as i64, cols as i64, dtype_code(dtype)],
                        ),
                    ),
                ],
            );
        }
    }

    if wanted("l2_normalize") {
        for (rows, cols, dtype) in [
            (65536, 768, Dtype::Float32),
            (65536, 768, Dtype::Bfloat16),
            (1024, 384, Dtype::Float32),
        ] {
            let x = random(&[rows, cols], -2.0, 2.0, dtype, &stream)?;
            let path = kernels::path_for(&stream, dtype)?;
            let ours = harness::time(|| kernels::l2_normalize_on(&x, 1e-12, &stream)?.eval());
            let reference =
                harness::time(|| kernels::l2_normalize_reference_on(&x, 1e-12, &stream)?.eval());
            harness::table(
                &format!("l2_normalize {rows}x{cols} {dtype} on {dev_name} (ours: {path:?})"),
                &[
                    ("mlx-rs fused", ours.map_err(|e| e.to_string())),
                    ("mlx-rs reference op", reference.map_err(|e| e.to_string())),
                    (
                        "python-mlx composed",
                        harness::python_side(
                            "python-mlx",
                            "l2norm",
                            dev_name,
                            &[rows as i64, cols as i64, dtype_code(dtype)],
                        ),
                    ),
                ],
            );
        }
    }
    Ok(())
}
