//! The fused ops of `mlx-ext-kernels` vs their reference composed of core ops
//! vs the same composition in Python MLX, on the default device (the GPU where
//! MLX has one), side by side in one run, evaluation inside the timed region.
//!
//! `MLX_RS_BENCH_PYTHON` names the Python with MLX to compare with.

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

fn main() -> mlx_rs::Result<()> {
    let device = Device::default_device()?;
    let stream = Stream::new(&device)?;
    let dev_name = if device.device_type() == DeviceType::Gpu {
        "gpu"
    } else {
        "cpu"
    };

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
    Ok(())
}
