//! Fused ops of `mlx-ext-kernels` against f64 references, on every device this
//! machine has: the CPU (reference path) and, where present, the GPU (the CUDA
//! kernel on NVIDIA; the Metal kernels are not run by this suite). Kernel
//! outputs are poisoned with NaN before each launch.

mod common;

use mlx_rs::kernels::{self, KernelPath};
use mlx_rs::{bf16, f16, Array, Device, Dtype, Stream};

/// Runs a test body once per available device, like candle's per-device tests.
macro_rules! device_test {
    ($name:ident, |$dev:ident| $body:block) => {
        mod $name {
            use super::*;

            fn run($dev: &Device) $body

            #[test]
            fn cpu() {
                run(&Device::cpu());
            }

            #[test]
            #[ignore = "needs a GPU: run with --include-ignored on a GPU host (scripts/gpu-suite.sh)"]
            fn gpu() {
                run(&common::gpu());
            }
        }
    };
}

fn expected_path(dev: &Device) -> KernelPath {
    if dev.device_type() == mlx_rs::DeviceType::Cpu {
        KernelPath::Reference
    } else if mlx_rs::cuda_is_available() {
        KernelPath::Cuda
    } else if mlx_rs::metal_is_available() {
        KernelPath::Metal
    } else {
        KernelPath::Reference
    }
}

/// Converts f32 data to `dtype` on the host, returning the array and the values
/// it actually holds (after rounding) as f64.
fn array_of(data: &[f32], shape: &[i32], dtype: Dtype) -> (Array, Vec<f64>) {
    match dtype {
        Dtype::Float32 => (
            Array::from_slice(data, shape).unwrap(),
            common::to_f64(data),
        ),
        Dtype::Bfloat16 => {
            let v: Vec<bf16> = data.iter().map(|x| bf16::from_f32(*x)).collect();
            let held = v.iter().map(|x| x.to_f64()).collect();
            (Array::from_slice(&v, shape).unwrap(), held)
        }
        Dtype::Float16 => {
            let v: Vec<f16> = data.iter().map(|x| f16::from_f32(*x)).collect();
            let held = v.iter().map(|x| x.to_f64()).collect();
            (Array::from_slice(&v, shape).unwrap(), held)
        }
        other => panic!("no test data for {other}"),
    }
}

fn values_f32(a: &Array) -> Vec<f32> {
    a.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap()
}

fn tolerance(dtype: Dtype) -> f64 {
    if dtype == Dtype::Float32 {
        1e-5
    } else {
        1e-2
    }
}

device_test!(swiglu_matches_f64, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    for dtype in [Dtype::Float32, Dtype::Bfloat16, Dtype::Float16] {
        // An odd size exercises the bounds check of the last block.
        let shape = [3, 67, 129];
        let n = 3 * 67 * 129;
        let (gate, g) = array_of(&common::uniform(&mut rng, n, -6.0, 6.0), &shape, dtype);
        let (up, u) = array_of(&common::uniform(&mut rng, n, -3.0, 3.0), &shape, dtype);
        assert_eq!(
            kernels::path_for(&stream, dtype).unwrap(),
            expected_path(dev)
        );
        let out = kernels::swiglu_on(&gate, &up, &stream).unwrap();
        assert_eq!(out.shape(), shape.to_vec());
        assert_eq!(out.dtype(), dtype);
        let want: Vec<f64> = g
            .iter()
            .zip(&u)
            .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
            .collect();
        common::assert_close_f32(&values_f32(&out), &want, tolerance(dtype), 1.0);
    }
});

device_test!(swiglu_broadcasts_and_reads_strided_inputs, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    let g = common::uniform(&mut rng, 8 * 5, -4.0, 4.0);
    let u = common::uniform(&mut rng, 8, -2.0, 2.0);
    // gate: a transposed 8×5 view (5×8), up: one row of 8 broadcast over it.
    let gate = mlx_rs::ops::transpose(&Array::from_slice(&g, &[8, 5]).unwrap()).unwrap();
    let up = Array::from_slice(&u, &[8]).unwrap();
    let out = kernels::swiglu_on(&gate, &up, &stream).unwrap();
    assert_eq!(out.shape(), vec![5, 8]);
    let mut want = Vec::new();
    for i in 0..5 {
        for j in 0..8 {
            let gv = g[j * 5 + i] as f64;
            want.push(gv / (1.0 + (-gv).exp()) * u[j] as f64);
        }
    }
    common::assert_close_f32(&values_f32(&out), &want, 1e-5, 1.0);
});

device_test!(l2_normalize_matches_f64, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    for dtype in [Dtype::Float32, Dtype::Bfloat16, Dtype::Float16] {
        // 384 and 1000 columns: a sentence-embedding width and a ragged one.
        // 4133 columns exceed what the kernels keep in registers (8 per thread).
        for (rows, cols) in [(37usize, 384usize), (5, 1000), (3, 7), (4, 4133)] {
            let (x, xv) = array_of(
                &common::uniform(&mut rng, rows * cols, -2.0, 2.0),
                &[rows as i32, cols as i32],
                dtype,
            );
            let out = kernels::l2_normalize_on(&x, 1e-12, &stream).unwrap();
            assert_eq!(out.dtype(), dtype);
            let mut want = Vec::with_capacity(rows * cols);
            for r in 0..rows {
                let row = &xv[r * cols..(r + 1) * cols];
                let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                want.extend(row.iter().map(|v| v / norm));
            }
            // Normalized values are small: compare relative to the row scale.
            let floor = 1.0 / (cols as f64).sqrt();
            common::assert_close_f32(&values_f32(&out), &want, tolerance(dtype), floor);
        }
    }
});

device_test!(l2_normalize_respects_eps_on_zero_rows, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    // Row 0 is all zeros (the eps branch), row 1 is tiny, row 2 ordinary.
    let data = [
        0.0f32, 0.0, 0.0, 0.0, 1e-8, -1e-8, 1e-8, 0.0, 3.0, 4.0, 0.0, 0.0,
    ];
    let x = Array::from_slice(&data, &[3, 4]).unwrap();
    let out = kernels::l2_normalize_on(&x, 1e-6, &stream).unwrap();
    let want = [
        0.0, 0.0, 0.0, 0.0, 1e-2, -1e-2, 1e-2, 0.0, 0.6, 0.8, 0.0, 0.0,
    ];
    common::assert_close_f32(&values_f32(&out), &want, 1e-5, 1e-3);
});

#[test]
fn mismatched_dtypes_and_scalars_are_errors() {
    let a = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
    let b = Array::from_slice(&[bf16::from_f32(1.0), bf16::from_f32(2.0)], &[2]).unwrap();
    assert!(kernels::swiglu(&a, &b).is_err());
    assert!(kernels::l2_normalize(&Array::scalar(1.0f32).unwrap(), 1e-6).is_err());
    let c = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
    assert!(
        kernels::swiglu(&a, &c).is_err(),
        "shapes (2) and (3) do not broadcast"
    );
}

#[test]
fn custom_kernel_api_refuses_missing_backends_and_cpu_streams() {
    use mlx_rs::kernel::{CudaKernel, KernelConfig, KernelSpec, MetalKernel};
    let spec = KernelSpec::new("mlx_rs_test_copy", &["x"], &["y"], "y[0] = x[0];");
    let x = Array::from_slice(&[1.5f32], &[1]).unwrap();
    let config = KernelConfig::linear(1, 1).output(&[1], Dtype::Float32);
    match CudaKernel::new(&spec, 0) {
        Err(e) => {
            assert!(!mlx_rs::cuda_is_available());
            assert!(e.to_string().contains("no usable CUDA backend"), "{e}");
        }
        Ok(k) => {
            let err = k.apply_on(&[&x], &config, &Device::cpu()).unwrap_err();
            assert!(err.to_string().contains("needs a GPU stream"), "{err}");
        }
    }
    match MetalKernel::new(&spec, false) {
        Err(e) => {
            assert!(!mlx_rs::metal_is_available());
            assert!(e.to_string().contains("no usable Metal backend"), "{e}");
        }
        Ok(k) => assert!(k.apply_on(&[&x], &config, &Device::cpu()).is_err()),
    }
}

device_test!(kernels_read_views_that_start_off_alignment, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    // A view starting one element into its buffer: contiguous, but its first
    // element is not 16-byte aligned (the kernels' scalar path).
    let (rows, cols) = (9usize, 64usize);
    let n = rows * cols;
    let g = common::uniform(&mut rng, n + 1, -4.0, 4.0);
    let u = common::uniform(&mut rng, n + 1, -2.0, 2.0);
    let view = |data: &[f32]| {
        let full = Array::from_slice(data, &[(n + 1) as i32]).unwrap();
        let tail = mlx_rs::ops::slice(&full, &[1], &[(n + 1) as i32], &[1]).unwrap();
        mlx_rs::ops::reshape(&tail, &[rows as i32, cols as i32]).unwrap()
    };
    let out = kernels::swiglu_on(&view(&g), &view(&u), &stream).unwrap();
    let want: Vec<f64> = (1..=n)
        .map(|i| {
            let x = g[i] as f64;
            x / (1.0 + (-x).exp()) * u[i] as f64
        })
        .collect();
    common::assert_close_f32(&values_f32(&out), &want, 1e-5, 1.0);

    let out = kernels::l2_normalize_on(&view(&g), 1e-12, &stream).unwrap();
    let mut want = Vec::with_capacity(n);
    for r in 0..rows {
        let row: Vec<f64> = (0..cols).map(|c| g[1 + r * cols + c] as f64).collect();
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        want.extend(row.iter().map(|v| v / norm));
    }
    common::assert_close_f32(&values_f32(&out), &want, 1e-5, 1.0 / (cols as f64).sqrt());
});
