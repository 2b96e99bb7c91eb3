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

/// `score_topk` has a CPU primitive for float32 and bfloat16.
fn expected_score_topk_path(dev: &Device, dtype: Dtype) -> KernelPath {
    if dev.device_type() == mlx_rs::DeviceType::Cpu && dtype != Dtype::Float16 {
        KernelPath::Cpu
    } else {
        expected_path(dev)
    }
}

/// A `[rows, cols]` matrix of uniform values in `[lo, hi)` as an array of
/// `dtype` and the values it holds, in f64.
fn uniform_matrix(
    rng: &mut rand::rngs::StdRng,
    rows: usize,
    cols: usize,
    lo: f32,
    hi: f32,
    dtype: Dtype,
) -> (Array, Vec<f64>) {
    array_of(
        &common::uniform(rng, rows * cols, lo, hi),
        &[rows as i32, cols as i32],
        dtype,
    )
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
            let (x, xv) = uniform_matrix(&mut rng, rows, cols, -2.0, 2.0, dtype);
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

// ---- fused linear: act(x @ wᵀ + b) ----

use mlx_rs::kernels::{reference, Activation, LinearPath};

const ACTIVATIONS: [Activation; 5] = [
    Activation::Identity,
    Activation::Relu,
    Activation::GeluTanh,
    Activation::Gelu,
    Activation::Silu,
];

fn activate_f64(v: f64, act: Activation) -> f64 {
    match act {
        Activation::Identity => v,
        Activation::Relu => v.max(0.0),
        Activation::GeluTanh => common::gelu_tanh_f64(v),
        Activation::Gelu => common::gelu_erf_f64(v),
        Activation::Silu => common::silu_f64(v),
    }
}

/// act(x @ wᵀ + b) in f64: x [rows, k], w [n, k].
fn linear_f64(
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    rows: usize,
    k: usize,
    n: usize,
    act: Activation,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * n);
    for r in 0..rows {
        for j in 0..n {
            let dot: f64 = (0..k).map(|p| x[r * k + p] * w[j * k + p]).sum();
            out.push(activate_f64(dot + b.map_or(0.0, |b| b[j]), act));
        }
    }
    out
}

/// On CPU streams the CPU primitive computes GELU (erf and tanh forms) and
/// SiLU with rational erf / tanh (faster than MLX's scalar loops): checked
/// against f64 over the whole range where they bend and saturate, in f32
/// and bf16, with NaN propagated. The weight is the 1 × 1 identity, so the
/// output is the activation of `x` itself.
#[test]
fn cpu_tanh_activations_match_f64_over_their_range() {
    let stream = Stream::new(&Device::cpu()).unwrap();
    let mut xs: Vec<f32> = (0..=8000).map(|i| -20.0 + i as f32 * 0.005).collect();
    xs.extend([1e-6, -1e-6, 0.0, f32::NAN]);
    let one = Array::from_slice(&[1.0f32], &[1, 1]).unwrap();
    for dtype in [Dtype::Float32, Dtype::Bfloat16] {
        let (x, xv) = array_of(&xs, &[xs.len() as i32, 1], dtype);
        let w = one.astype(dtype).unwrap();
        assert_eq!(
            kernels::fused_linear_path(&x, &w, &stream).unwrap(),
            LinearPath::Cpu
        );
        for act in [Activation::GeluTanh, Activation::Gelu, Activation::Silu] {
            let out = kernels::fused_linear_on(&x, &w, None, act, &stream).unwrap();
            assert_eq!(out.dtype(), dtype);
            let want: Vec<f64> = xv.iter().map(|&v| activate_f64(v, act)).collect();
            // f32: measured within 2e-6 (the exact chains: 7e-7);
            // bf16: one rounding of an f32 result.
            let tol = if dtype == Dtype::Float32 { 5e-6 } else { 8e-3 };
            common::assert_close_f32(&values_f32(&out), &want, tol, 1.0);
        }
    }
}

/// Tolerance relative to max(|want|, 1) (outputs are O(1) by construction).
/// f32 on a GPU allows TF32 (MLX's default there) in the cuBLAS path.
fn linear_tolerance(dtype: Dtype, dev: &Device) -> f64 {
    match dtype {
        Dtype::Float32 if dev.device_type() == mlx_rs::DeviceType::Gpu => 3e-3,
        Dtype::Float32 => 1e-5,
        Dtype::Float16 => 1e-2,
        _ => 3e-2,
    }
}

struct LinearCase {
    x: Array,
    w: Array,
    b: Array,
    xv: Vec<f64>,
    wv: Vec<f64>,
    bv: Vec<f64>,
}

fn linear_case(
    rng: &mut rand::rngs::StdRng,
    x_shape: &[i32],
    n: usize,
    k: usize,
    dtype: Dtype,
) -> LinearCase {
    let rows: usize = x_shape[..x_shape.len() - 1]
        .iter()
        .map(|&d| d as usize)
        .product();
    let scale = 1.5 / (k as f32).sqrt();
    let (x, xv) = array_of(&common::uniform(rng, rows * k, -1.0, 1.0), x_shape, dtype);
    let (w, wv) = uniform_matrix(rng, n, k, -scale, scale, dtype);
    let (b, bv) = array_of(&common::uniform(rng, n, -0.5, 0.5), &[n as i32], dtype);
    LinearCase {
        x,
        w,
        b,
        xv,
        wv,
        bv,
    }
}

fn expected_linear_path(dev: &Device, dtype: Dtype, rows: usize) -> LinearPath {
    if dev.device_type() == mlx_rs::DeviceType::Cpu {
        LinearPath::Cpu
    } else if mlx_rs::cuda_is_available() {
        if !kernels::fused_linear_cuda() || (dtype == Dtype::Float32 && rows > 16) {
            LinearPath::Compiled
        } else {
            LinearPath::Cuda
        }
    } else if mlx_rs::metal_is_available() {
        LinearPath::Metal
    } else {
        LinearPath::Compiled
    }
}

device_test!(fused_linear_matches_f64, |dev| {
    kernels::set_poison_outputs(true);
    // The fused CUDA kernels are opt-in (the compiled reference is faster
    // today); this test is about them, so it turns them on.
    kernels::set_fused_linear_cuda(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    // (batch, rows, n, k): up to 64 rows take the split-K kernel on CUDA
    // (16 in f32), 256 the tensor-core kernel; odd n and k (and k = 75, 1100
    // not multiples of 8) take the kernels' scalar loads, k = 64, 264 and
    // 1096 their vector loads; k = 1096 and 1100 give every warp of a
    // split-K block several chunks of k; n = 70 and 50 end inside a block's
    // 16 columns; 2 x 32 rows span two 32-row split-K blocks and 2 x 256 rows
    // several 128-row tiles.
    let shapes: [(i32, i32, usize, usize); 8] = [
        (2, 1, 45, 67),
        (2, 7, 33, 129),
        (1, 16, 70, 1096),
        (2, 8, 37, 75),
        (1, 64, 96, 1100),
        (2, 32, 50, 264),
        (2, 256, 77, 67),
        (1, 256, 96, 64),
    ];
    for dtype in [Dtype::Float32, Dtype::Bfloat16, Dtype::Float16] {
        for (si, &(batch, rows, n, k)) in shapes.iter().enumerate() {
            // Every activation, with and without bias, in bf16 for one shape
            // of each CUDA kernel (split-K: 14 rows, tensor-core: 512 rows);
            // everything else cycles through them (each combination compiles
            // a kernel on a GPU).
            let combos: Vec<(Activation, bool)> =
                if dtype == Dtype::Bfloat16 && (si == 1 || si == 6) {
                    ACTIVATIONS
                        .iter()
                        .flat_map(|&a| [(a, true), (a, false)])
                        .collect()
                } else {
                    vec![
                        (ACTIVATIONS[si % 5], true),
                        (ACTIVATIONS[(si + 2) % 5], false),
                    ]
                };
            let c = linear_case(&mut rng, &[batch, rows, k as i32], n, k, dtype);
            let total = (batch * rows) as usize;
            assert_eq!(
                kernels::fused_linear_path(&c.x, &c.w, &stream).unwrap(),
                expected_linear_path(dev, dtype, total)
            );
            for (act, bias) in combos {
                let b = bias.then_some(&c.b);
                let out = kernels::fused_linear_on(&c.x, &c.w, b, act, &stream).unwrap();
                assert_eq!(out.shape(), vec![batch, rows, n as i32]);
                assert_eq!(out.dtype(), dtype);
                let want = linear_f64(&c.xv, &c.wv, bias.then_some(&c.bv[..]), total, k, n, act);
                println!("{dtype} {batch}x{rows}x{k} -> {n} {act:?} bias={bias}");
                common::assert_close_f32(
                    &values_f32(&out),
                    &want,
                    linear_tolerance(dtype, dev),
                    1.0,
                );
            }
        }
    }
});

device_test!(fused_linear_reference_matches_f64, |dev| {
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    for dtype in [Dtype::Float32, Dtype::Bfloat16] {
        let c = linear_case(&mut rng, &[3, 5, 40], 24, 40, dtype);
        for act in ACTIVATIONS {
            let out = reference::linear_on(&c.x, &c.w, Some(&c.b), act, &stream).unwrap();
            let want = linear_f64(&c.xv, &c.wv, Some(&c.bv), 15, 40, 24, act);
            common::assert_close_f32(&values_f32(&out), &want, linear_tolerance(dtype, dev), 1.0);
        }
        let gelu = kernels::fused_linear_bias_gelu(&c.x, &c.w, &c.b).unwrap();
        let want = linear_f64(&c.xv, &c.wv, Some(&c.bv), 15, 40, 24, Activation::GeluTanh);
        let ours = mlx_rs::with_stream(&stream, || values_f32(&gelu));
        common::assert_close_f32(&ours, &want, linear_tolerance(dtype, dev), 1.0);
        let r = reference::linear_bias_gelu(&c.x, &c.w, &c.b).unwrap();
        common::assert_close_f32(
            &values_f32(&r),
            &want,
            linear_tolerance(dtype, &Device::default_device().unwrap()),
            1.0,
        );
    }
});

device_test!(fused_linear_reads_transposed_and_sliced_weights, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    for (rows, dtype) in [
        (9usize, Dtype::Bfloat16),
        (130, Dtype::Float16),
        (3, Dtype::Float32),
    ] {
        let (n, k) = (40usize, 48usize);
        let (x, xv) = uniform_matrix(&mut rng, rows, k, -1.0, 1.0, dtype);
        // w stored as [K, N] and used through a transposed view.
        let (wt, wtv) = uniform_matrix(&mut rng, k, n, -0.2, 0.2, dtype);
        let w = mlx_rs::ops::transpose(&wt).unwrap();
        let wv: Vec<f64> = (0..n)
            .flat_map(|j| (0..k).map(move |p| (j, p)))
            .map(|(j, p)| wtv[p * n + j])
            .collect();
        let out = kernels::fused_linear_on(&x, &w, None, Activation::Silu, &stream).unwrap();
        let want = linear_f64(&xv, &wv, None, rows, k, n, Activation::Silu);
        common::assert_close_f32(&values_f32(&out), &want, linear_tolerance(dtype, dev), 1.0);

        // w: rows 1..n+1 and columns 2..k+2 of a larger matrix.
        let (big, bigv) = uniform_matrix(&mut rng, n + 3, k + 5, -0.2, 0.2, dtype);
        let w =
            mlx_rs::ops::slice(&big, &[1, 2], &[(n + 1) as i32, (k + 2) as i32], &[1, 1]).unwrap();
        let wv: Vec<f64> = (0..n)
            .flat_map(|j| (0..k).map(move |p| (j, p)))
            .map(|(j, p)| bigv[(j + 1) * (k + 5) + p + 2])
            .collect();
        let out = kernels::fused_linear_on(&x, &w, None, Activation::Relu, &stream).unwrap();
        let want = linear_f64(&xv, &wv, None, rows, k, n, Activation::Relu);
        common::assert_close_f32(&values_f32(&out), &want, linear_tolerance(dtype, dev), 1.0);
    }
});

device_test!(fused_linear_gradients_match_the_reference, |dev| {
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    // On CUDA: bf16 with 96 rows takes the tensor-core kernel, f16 with 16 and
    // f32 with 5 the split-K kernel.
    for (rows, dtype) in [
        (96usize, Dtype::Bfloat16),
        (16, Dtype::Float16),
        (5, Dtype::Float32),
    ] {
        let (n, k) = (24usize, 32usize);
        let c = linear_case(&mut rng, &[rows as i32, k as i32], n, k, dtype);
        let (cot, _) = uniform_matrix(&mut rng, rows, n, -1.0, 1.0, dtype);
        for (act, bias) in [(Activation::GeluTanh, true), (Activation::Silu, false)] {
            let mut primals = vec![c.x.clone(), c.w.clone()];
            if bias {
                primals.push(c.b.clone());
            }
            let grads = |fused: bool| {
                let s = stream.clone();
                let f = move |a: &[Array]| {
                    let b = a.get(2);
                    Ok(vec![if fused {
                        kernels::fused_linear_on(&a[0], &a[1], b, act, &s)?
                    } else {
                        reference::linear_on(&a[0], &a[1], b, act, &s)?
                    }])
                };
                mlx_rs::transforms::vjp(f, &primals, std::slice::from_ref(&cot)).unwrap()
            };
            let (out_f, grad_f) = grads(true);
            let (out_r, grad_r) = grads(false);
            assert_eq!(grad_f.len(), primals.len());
            let tol = linear_tolerance(dtype, dev);
            let as_f64 = |a: &Array| common::to_f64(&values_f32(a));
            common::assert_close_f32(&values_f32(&out_f[0]), &as_f64(&out_r[0]), tol, 1.0);
            for (gf, gr) in grad_f.iter().zip(&grad_r) {
                assert_eq!(gf.shape(), gr.shape());
                // Cotangents of w and b sum over rows: compare relative to their scale.
                let want = as_f64(gr);
                let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                common::assert_close_f32(&values_f32(gf), &want, tol, scale);
            }
        }
    }
});

#[test]
fn fused_linear_rejects_bad_input_before_running() {
    let x = Array::from_slice(&[1.0f32; 6], &[2, 3]).unwrap();
    let w = Array::from_slice(&[1.0f32; 12], &[4, 3]).unwrap();
    let b = Array::from_slice(&[1.0f32; 4], &[4]).unwrap();
    let err = |r: mlx_rs::Result<Array>| r.unwrap_err().to_string();
    let w1 = Array::from_slice(&[1.0f32; 3], &[3]).unwrap();
    assert!(err(kernels::fused_linear(&x, &w1, None, Activation::Relu)).contains("2-d"));
    let wk = Array::from_slice(&[1.0f32; 8], &[4, 2]).unwrap();
    assert!(err(kernels::fused_linear(&x, &wk, None, Activation::Relu)).contains("K = 2"));
    let b3 = Array::from_slice(&[1.0f32; 3], &[3]).unwrap();
    assert!(err(kernels::fused_linear(&x, &w, Some(&b3), Activation::Relu)).contains("[4]"));
    let wb = w.astype(Dtype::Bfloat16).unwrap();
    assert!(err(kernels::fused_linear(&x, &wb, Some(&b), Activation::Relu)).contains("bfloat16"));
    let bb = b.astype(Dtype::Float16).unwrap();
    assert!(err(kernels::fused_linear(&x, &w, Some(&bb), Activation::Relu)).contains("bias"));
    assert!(kernels::fused_linear_path(&x, &w1, &Device::cpu()).is_err());
}

/// An empty batch is not an error: zero rows in, zero rows out (as
/// `x @ w.T + b` gives in Python MLX), on every path and through the VJP.
#[test]
fn fused_linear_passes_zero_rows_through() {
    let w = Array::from_slice(&[0.5f32; 12], &[4, 3]).unwrap();
    let b = Array::from_slice(&[1.0f32; 4], &[4]).unwrap();
    for shape in [vec![0, 3], vec![2, 0, 3]] {
        let empty = mlx_rs::ops::zeros(&shape, Dtype::Float32).unwrap();
        let mut want = shape.clone();
        *want.last_mut().unwrap() = 4;
        for act in [Activation::Identity, Activation::GeluTanh] {
            let y = kernels::fused_linear(&empty, &w, Some(&b), act).unwrap();
            assert_eq!(y.shape(), want);
            assert!(y.to_vec::<f32>().unwrap().is_empty());
            let r = reference::linear(&empty, &w, Some(&b), act).unwrap();
            assert_eq!(r.shape(), want);
        }
    }
    // The gradient of a sum over no rows: zero for the weight and the bias.
    let empty = mlx_rs::ops::zeros(&[0, 3], Dtype::Float32).unwrap();
    let grads = mlx_rs::transforms::grad(
        |p: &[Array]| {
            Ok(vec![kernels::fused_linear(
                &p[0],
                &p[1],
                Some(&p[2]),
                Activation::Relu,
            )?
            .sum()?])
        },
        &[1, 2],
    )
    .unwrap();
    let g = grads.call(&[empty, w.clone(), b.clone()]).unwrap();
    assert_eq!(g[0].to_vec::<f32>().unwrap(), [0.0f32; 12]);
    assert_eq!(g[1].to_vec::<f32>().unwrap(), [0.0f32; 4]);
}

#[test]
fn fused_linear_takes_the_reference_for_other_dtypes() {
    // float64 exists only on the CPU: make it the default for reads too.
    common::on_cpu(|| {
        let cpu = Device::cpu();
        let x = Array::from_slice(&[1.0f64, 2.0, -1.0, 0.5], &[2, 2]).unwrap();
        let w = Array::from_slice(&[0.5f64, -1.0, 3.0, 0.25, 1.0, 1.0], &[3, 2]).unwrap();
        assert_eq!(
            kernels::fused_linear_path(&x, &w, &cpu).unwrap(),
            LinearPath::Reference
        );
        let xi = x.astype(Dtype::Int32).unwrap();
        let wi = w.astype(Dtype::Int32).unwrap();
        assert_eq!(
            kernels::fused_linear_path(&xi, &wi, &cpu).unwrap(),
            LinearPath::Reference
        );
        let out = kernels::fused_linear_on(&x, &w, None, Activation::Relu, &cpu).unwrap();
        let want = linear_f64(
            &[1.0, 2.0, -1.0, 0.5],
            &[0.5, -1.0, 3.0, 0.25, 1.0, 1.0],
            None,
            2,
            2,
            3,
            Activation::Relu,
        );
        assert_eq!(out.to_vec::<f64>().unwrap(), want);
        // A 1-d x is one row; the result drops the row axis like x @ wᵀ.
        let x1 = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
        let w32 = w.astype(Dtype::Float32).unwrap();
        let out = kernels::fused_linear_on(&x1, &w32, None, Activation::Identity, &cpu).unwrap();
        assert_eq!(out.shape(), vec![3]);
        assert_eq!(out.to_vec::<f32>().unwrap(), [-1.5, 3.5, 3.0]);
    });
}

/// Every corpus row's f64 score for query `qi`, as `(score, row)` in the
/// kernels' total order: higher score first, then lower row.
fn exact_order(qv: &[f64], cv: &[f64], qi: usize, n: usize, d: usize) -> Vec<(f64, usize)> {
    let mut all: Vec<(f64, usize)> = (0..n)
        .map(|r| {
            let s = (0..d).map(|j| qv[qi * d + j] * cv[r * d + j]).sum::<f64>();
            (s, r)
        })
        .collect();
    all.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    all
}

/// Runs `body` once per CUDA design of `score_topk` on a CUDA device (the
/// setting is global: GPU runs use one test thread), once elsewhere.
fn each_score_topk_design(dev: &Device, body: impl Fn()) {
    use mlx_rs::kernels::ScoreTopkCuda;
    if dev.device_type() == mlx_rs::DeviceType::Gpu && mlx_rs::cuda_is_available() {
        for design in [
            ScoreTopkCuda::Fused,
            ScoreTopkCuda::Select,
            ScoreTopkCuda::OnePass,
        ] {
            kernels::set_score_topk_cuda(design);
            body();
        }
        kernels::set_score_topk_cuda(ScoreTopkCuda::Auto);
    } else {
        body();
    }
}

device_test!(score_topk_matches_f64, |dev| {
    each_score_topk_design(dev, || score_topk_matches_f64_on(dev));
});

fn score_topk_matches_f64_on(dev: &Device) {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    for dtype in [Dtype::Float32, Dtype::Bfloat16, Dtype::Float16] {
        let kernel = kernels::score_topk_path(dtype, &stream).unwrap() != KernelPath::Reference;
        assert_eq!(
            kernels::score_topk_path(dtype, &stream).unwrap(),
            expected_score_topk_path(dev, dtype)
        );
        // The kernels accumulate in f32 whatever the input dtype; the
        // reference's matmul rounds its scores to the input dtype.
        let rtol = if kernel { 1e-5 } else { tolerance(dtype) };
        // One query over several slices; more queries than a block holds
        // (k = 100, the rerank depth); a row width the 16-byte loads cannot
        // take (7); the largest k with a single slice; k = N.
        for (b, n, d, k) in [
            (1usize, 5000usize, 384usize, 10usize),
            (11, 3001, 384, 100),
            (3, 2500, 7, 5),
            (2, 300, 64, 256),
            (2, 50, 16, 50),
        ] {
            let (q, qv) = uniform_matrix(&mut rng, b, d, -1.0, 1.0, dtype);
            let (c, cv) = uniform_matrix(&mut rng, n, d, -1.0, 1.0, dtype);
            let (scores, indices) = kernels::score_topk_on(&q, &c, k as i32, &stream).unwrap();
            assert_eq!(scores.shape(), vec![b as i32, k as i32]);
            assert_eq!(scores.dtype(), Dtype::Float32);
            assert_eq!(indices.dtype(), Dtype::Uint32);
            common::check_topk(
                &qv,
                &cv,
                (b, n, d, k),
                &scores.to_vec::<f32>().unwrap(),
                &indices.to_vec::<u32>().unwrap(),
                rtol,
            );
        }
    }
}

device_test!(score_topk_orders_ties_by_index, |dev| {
    each_score_topk_design(dev, || score_topk_orders_ties_by_index_on(dev));
});

fn score_topk_orders_ties_by_index_on(dev: &Device) {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    // Multiples of 1/4 times multiples of 1/2 over 16 or 32 dimensions:
    // every score is exact in every dtype (and in any summation order), and
    // many are equal. 9 queries of 32 in bf16 take CUDA's tensor-core pass 1.
    let grid = |rng: &mut rand::rngs::StdRng, len: usize, step: f32| -> Vec<f32> {
        use rand::Rng;
        (0..len)
            .map(|_| rng.gen_range(-2i32..=2) as f32 * step)
            .collect()
    };
    for ((b, n, d, k), dtype) in [
        ((3usize, 2600usize, 16usize, 40usize), Dtype::Float32),
        ((3, 2600, 16, 40), Dtype::Bfloat16),
        ((9, 2600, 32, 40), Dtype::Bfloat16),
    ] {
        let (q, qv) = array_of(&grid(&mut rng, b * d, 0.5), &[b as i32, d as i32], dtype);
        let (c, cv) = array_of(&grid(&mut rng, n * d, 0.25), &[n as i32, d as i32], dtype);
        check_exact_topk(&stream, (&q, &qv), (&c, &cv), k);
    }
}

/// `score_topk` of `q` over `c` (with their f64 values) against the exact
/// order: the scores exactly; on the kernel and CPU paths the first k rows of
/// the total order, on the reference path the same except which rows tied at
/// the k-th score are kept (up to argpartition), ties ordered by index.
fn check_exact_topk(
    stream: &Stream,
    (q, qv): (&Array, &[f64]),
    (c, cv): (&Array, &[f64]),
    k: usize,
) {
    let (b, n, d) = (
        q.dim(0).unwrap() as usize,
        c.dim(0).unwrap() as usize,
        c.dim(1).unwrap() as usize,
    );
    let kernel = kernels::score_topk_path(q.dtype(), stream).unwrap() != KernelPath::Reference;
    let (scores, indices) = kernels::score_topk_on(q, c, k as i32, stream).unwrap();
    let (scores, indices) = (
        scores.to_vec::<f32>().unwrap(),
        indices.to_vec::<u32>().unwrap(),
    );
    for qi in 0..b {
        let all = exact_order(qv, cv, qi, n, d);
        let want_s: Vec<f32> = all[..k].iter().map(|x| x.0 as f32).collect();
        assert_eq!(
            &scores[qi * k..(qi + 1) * k],
            &want_s[..],
            "query {qi} scores"
        );
        let got_i = &indices[qi * k..(qi + 1) * k];
        if kernel {
            // Kernels: exactly the first k of the total order.
            let want_i: Vec<u32> = all[..k].iter().map(|x| x.1 as u32).collect();
            assert_eq!(got_i, &want_i[..], "query {qi} indices");
        } else {
            // Reference: which rows tied at the k-th score are kept is up to
            // argpartition; the rest is exact, ties by index.
            let last = want_s[k - 1];
            for j in 0..k {
                let r = got_i[j] as usize;
                assert_eq!(all.iter().find(|x| x.1 == r).unwrap().0 as f32, want_s[j]);
                if want_s[j] > last {
                    assert_eq!(r, all[j].1, "query {qi}, rank {j}");
                }
                if j > 0 && want_s[j] == want_s[j - 1] {
                    assert!(got_i[j - 1] < got_i[j], "query {qi}, rank {j}: tie order");
                }
            }
        }
    }
}

device_test!(score_topk_ranks_nan_last_and_reads_views, |dev| {
    each_score_topk_design(dev, || score_topk_ranks_nan_last_and_reads_views_on(dev));
});

fn score_topk_ranks_nan_last_and_reads_views_on(dev: &Device) {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    let (n, d) = (40usize, 32usize);
    // 9 bf16 queries take CUDA's tensor-core pass 1, 2 f32 ones its CUDA-core
    // pass 1.
    for (b, dtype) in [(2usize, Dtype::Float32), (9, Dtype::Bfloat16)] {
        let (queries, qv) = uniform_matrix(&mut rng, b, d, -1.0, 1.0, dtype);
        // The corpus as a transposed view of a [D, N] array, row 7 all NaN.
        let mut ct = common::uniform(&mut rng, d * n, -1.0, 1.0);
        for j in 0..d {
            ct[j * n + 7] = f32::NAN;
        }
        let (ct, ctv) = array_of(&ct, &[d as i32, n as i32], dtype);
        let corpus = mlx_rs::ops::transpose(&ct).unwrap();
        let (scores, indices) =
            kernels::score_topk_on(&queries, &corpus, n as i32, &stream).unwrap();
        let (scores, indices) = (
            scores.to_vec::<f32>().unwrap(),
            indices.to_vec::<u32>().unwrap(),
        );
        let mut cv = vec![0.0f64; n * d];
        for r in 0..n {
            for j in 0..d {
                cv[r * d + j] = ctv[j * n + r];
            }
        }
        let kernel = kernels::score_topk_path(dtype, &stream).unwrap() != KernelPath::Reference;
        let rtol = if kernel { 1e-5 } else { tolerance(dtype) };
        common::check_topk(&qv, &cv, (b, n, d, n), &scores, &indices, rtol);
        for qi in 0..b {
            assert_eq!(indices[qi * n + n - 1], 7, "the NaN row ranks last");
            assert_eq!(scores[qi * n + n - 1], f32::NEG_INFINITY);
        }
    }
}

#[test]
fn score_topk_rejects_bad_inputs() {
    let c = Array::from_slice(&[1.0f32; 12], &[4, 3]).unwrap();
    let q = Array::from_slice(&[1.0f32; 3], &[1, 3]).unwrap();
    let err = |r: mlx_rs::Result<(Array, Array)>| r.unwrap_err().to_string();
    assert!(err(kernels::score_topk(&q, &c, 0)).contains("k = 0"));
    assert!(err(kernels::score_topk(&q, &c, 5)).contains("1..=4"));
    let q2 = Array::from_slice(&[1.0f32; 2], &[1, 2]).unwrap();
    assert!(err(kernels::score_topk(&q2, &c, 1)).contains("dimensions"));
    let q1 = Array::from_slice(&[1.0f32; 3], &[3]).unwrap();
    assert!(err(kernels::score_topk(&q1, &c, 1)).contains("2-D"));
    let qb = Array::from_slice(&[bf16::from_f32(1.0); 3], &[1, 3]).unwrap();
    assert!(err(kernels::score_topk(&qb, &c, 1)).contains("dtype"));
    let qi = Array::from_slice(&[1i32; 3], &[1, 3]).unwrap();
    let ci = Array::from_slice(&[1i32; 12], &[4, 3]).unwrap();
    assert!(err(kernels::score_topk(&qi, &ci, 1)).contains("floating"));
    let q0 = mlx_rs::ops::zeros(&[0, 3], Dtype::Float32).unwrap();
    assert!(err(kernels::score_topk(&q0, &c, 1)).contains("at least one query"));
    assert!(err(kernels::score_topk_reference(&q, &c, 9)).contains("1..=4"));
}

device_test!(score_topk_merges_many_slices, |dev| {
    each_score_topk_design(dev, || score_topk_merges_many_slices_on(dev));
});

fn score_topk_merges_many_slices_on(dev: &Device) {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    // 120,000 rows: 118 corpus slices, so the merge sees 11,800
    // candidates per query over several rounds, cutting its buffer back.
    let (b, n, d, k) = (2usize, 120_000usize, 64usize, 100usize);
    for dtype in [Dtype::Float32, Dtype::Bfloat16] {
        let kernel = kernels::score_topk_path(dtype, &stream).unwrap() != KernelPath::Reference;
        let rtol = if kernel { 1e-5 } else { tolerance(dtype) };
        let (q, qv) = uniform_matrix(&mut rng, b, d, -1.0, 1.0, dtype);
        let (c, cv) = uniform_matrix(&mut rng, n, d, -1.0, 1.0, dtype);
        let (scores, indices) = kernels::score_topk_on(&q, &c, k as i32, &stream).unwrap();
        common::check_topk(
            &qv,
            &cv,
            (b, n, d, k),
            &scores.to_vec::<f32>().unwrap(),
            &indices.to_vec::<u32>().unwrap(),
            rtol,
        );
    }
}

device_test!(score_topk_when_few_rows_hold_the_best, |dev| {
    each_score_topk_design(dev, || score_topk_when_few_rows_hold_the_best_on(dev));
});

/// The best rows all at `r % 256 < 20` (on CUDA's select design, the rows
/// that 20 threads of each 8,192-row chunk hold): far more than the buffer
/// rank at or before the 256th thread best, so the selection takes its
/// round-by-round path; scores repeat, so ties are everywhere. Every score
/// is exact in every dtype.
fn score_topk_when_few_rows_hold_the_best_on(dev: &Device) {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let (n, d) = (20_000usize, 16usize);
    for (b, dtype, k) in [
        (1usize, Dtype::Float32, 256usize),
        (2, Dtype::Bfloat16, 200),
        (9, Dtype::Bfloat16, 256),
    ] {
        let mut cv = vec![0.0f32; n * d];
        for r in 0..n {
            cv[r * d] = if r % 256 < 20 {
                1.0 + (r % 97) as f32 / 128.0
            } else {
                (r % 64) as f32 / 256.0
            };
            cv[r * d + 1 + r % (d - 1)] = 0.5;
        }
        let mut qv = vec![0.0f32; b * d];
        for qi in 0..b {
            qv[qi * d] = 1.0;
            // Later queries also weigh the second column a little.
            qv[qi * d + 1] = qi as f32 / 8.0;
        }
        let (q, qv) = array_of(&qv, &[b as i32, d as i32], dtype);
        let (c, cv) = array_of(&cv, &[n as i32, d as i32], dtype);
        check_exact_topk(&stream, (&q, &qv), (&c, &cv), k);
    }
}

// ---- quantized_matmul (affine 4- and 8-bit weights, a few rows) ----

use mlx_rs::kernels::QuantizedCuda;
use mlx_rs::ops::{self as mxops, QuantizationMode};

/// A quantized weight with the dense values it stands for, decoded in f64
/// from the packed words (values along K, low bits first), scales and biases.
struct QuantCase {
    w: Array,
    scales: Array,
    biases: Array,
    /// `[N, K]` row-major: scale · q + bias.
    dense: Vec<f64>,
}

fn quant_case(
    rng: &mut rand::rngs::StdRng,
    n: usize,
    k: usize,
    group_size: i32,
    bits: i32,
    dtype: Dtype,
) -> QuantCase {
    let scale = 1.5 / (k as f32).sqrt();
    let (w, _) = uniform_matrix(rng, n, k, -scale, scale, dtype);
    // Quantized on the CPU: the test is about the matmul, not about quantize.
    let q =
        common::on_cpu(|| mxops::quantize(&w, group_size, bits, QuantizationMode::Affine)).unwrap();
    let biases = q.biases.unwrap();
    let words = q.weight.to_vec::<u32>().unwrap();
    let (s, b) = (values_f32(&q.scales), values_f32(&biases));
    let groups = k / group_size as usize;
    let per_word = 32 / bits as usize;
    let mask = (1u32 << bits) - 1;
    let mut dense = Vec::with_capacity(n * k);
    for row in 0..n {
        for col in 0..k {
            let word = words[row * k / per_word + col / per_word];
            let q = (word >> (bits as usize * (col % per_word))) & mask;
            let g = row * groups + col / group_size as usize;
            dense.push(s[g] as f64 * q as f64 + b[g] as f64);
        }
    }
    QuantCase {
        w: q.weight,
        scales: q.scales,
        biases,
        dense,
    }
}

/// x [rows, k] @ dense [n, k]ᵀ in f64.
fn qmm_f64(x: &[f64], dense: &[f64], rows: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * n);
    for r in 0..rows {
        for j in 0..n {
            out.push((0..k).map(|p| x[r * k + p] * dense[j * k + p]).sum());
        }
    }
    out
}

/// Relative to max(|want|, 1). The kernels sum in f32 and round the output
/// once (bf16: 2^-8; the tensor-core kernel also rounds each dequantized
/// weight to the input's dtype, an error of 2^-9 (bf16) per weight that
/// averages out over K); MLX's CPU `quantized_matmul` (the reference path)
/// accumulates half types in their own precision, which needs more room.
fn quant_tolerance(dtype: Dtype, path: KernelPath) -> f64 {
    match (dtype, path) {
        (Dtype::Float32, KernelPath::Reference) => 1e-4,
        (Dtype::Float32, _) => 2e-5,
        (Dtype::Float16, KernelPath::Reference) => 2e-2,
        (Dtype::Float16, _) => 2e-3,
        (_, KernelPath::Reference) => 0.15,
        _ => 1e-2,
    }
}

fn expected_quant_path(dev: &Device, rows: usize, bits: i32) -> KernelPath {
    let cuda = expected_path(dev) == KernelPath::Cuda;
    if rows as i32 > kernels::QUANTIZED_MATMUL_MAX_ROWS
        || !matches!(bits, 4 | 8)
        // CUDA runs MLX's kernel unless a mode picks this crate's.
        || (cuda && kernels::quantized_matmul_cuda() == QuantizedCuda::Mlx)
    {
        KernelPath::Reference
    } else {
        expected_path(dev)
    }
}

device_test!(quantized_matmul_matches_f64, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    // Odd N exercises the last block's clamped rows; K = 384 is not a
    // multiple of the chunks one pass of a block covers. Rows 1, 3 and 8,
    // both bit widths and every group size spread over the dtypes (each
    // combination compiles a kernel, seconds each on the GPU). Each case
    // names the CUDA mode: `Fused` (the scalar kernel) or `TensorCore` (the
    // tensor-core kernel for bf16/f16 at 4 bits and f16 at 8 bits, the
    // scalar one for the rest); one case checks that the default `Mlx`
    // takes the reference on CUDA. N = 8195 (more than 512 blocks of 16
    // rows) takes the tensor-core kernel's 4-warp launch, the other cases
    // its 8-warp launch.
    let k = 384usize;
    let cases: [(Dtype, i32, usize, i32, usize, QuantizedCuda); 15] = [
        (Dtype::Bfloat16, 4, 1, 32, 37, QuantizedCuda::Fused),
        (Dtype::Bfloat16, 4, 8, 128, 37, QuantizedCuda::Fused),
        (Dtype::Float16, 4, 3, 64, 37, QuantizedCuda::Fused),
        (Dtype::Float32, 4, 1, 64, 37, QuantizedCuda::Fused),
        (Dtype::Float32, 4, 8, 32, 37, QuantizedCuda::Fused),
        (Dtype::Bfloat16, 8, 1, 64, 37, QuantizedCuda::Fused),
        (Dtype::Bfloat16, 4, 1, 64, 37, QuantizedCuda::Mlx),
        (Dtype::Bfloat16, 4, 3, 64, 37, QuantizedCuda::TensorCore),
        (Dtype::Bfloat16, 4, 2, 64, 8195, QuantizedCuda::TensorCore),
        (Dtype::Float16, 4, 8, 128, 37, QuantizedCuda::TensorCore),
        (Dtype::Float16, 8, 1, 128, 37, QuantizedCuda::TensorCore),
        (Dtype::Float16, 8, 8, 32, 37, QuantizedCuda::TensorCore),
        (Dtype::Bfloat16, 8, 3, 64, 37, QuantizedCuda::TensorCore),
        (Dtype::Float32, 8, 3, 128, 37, QuantizedCuda::TensorCore),
        (Dtype::Float32, 4, 3, 32, 37, QuantizedCuda::TensorCore),
    ];
    for (dtype, bits, rows, group_size, n, mode) in cases {
        kernels::set_quantized_matmul_cuda(mode);
        let q = quant_case(&mut rng, n, k, group_size, bits, dtype);
        // 8 rows as [2, 4, K]: leading axes are flattened.
        let shape: Vec<i32> = if rows == 8 {
            vec![2, 4, k as i32]
        } else {
            vec![rows as i32, k as i32]
        };
        let (x, xv) = array_of(
            &common::uniform(&mut rng, rows * k, -1.0, 1.0),
            &shape,
            dtype,
        );
        let path = kernels::quantized_matmul_path(
            &x, &q.w, &q.scales, &q.biases, group_size, bits, &stream,
        )
        .unwrap();
        assert_eq!(path, expected_quant_path(dev, rows, bits));
        let out =
            kernels::quantized_matmul_on(&x, &q.w, &q.scales, &q.biases, group_size, bits, &stream)
                .unwrap();
        let mut want_shape = shape.clone();
        *want_shape.last_mut().unwrap() = n as i32;
        assert_eq!(out.shape(), want_shape);
        assert_eq!(out.dtype(), dtype);
        println!(
            "{dtype} bits {bits} group {group_size} rows {rows} n {n} \
             {mode:?} ({path:?})"
        );
        common::assert_close_f32(
            &values_f32(&out),
            &qmm_f64(&xv, &q.dense, rows, k, n),
            quant_tolerance(dtype, path),
            1.0,
        );
    }
    kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx);
});

device_test!(quantized_matmul_falls_back_beyond_the_kernels, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    let (n, k) = (21usize, 128usize);
    // 9 rows (past the kernels' 8) and 2-bit weights take the reference.
    for (rows, bits) in [(9usize, 4), (2, 2)] {
        let q = quant_case(&mut rng, n, k, 64, bits, Dtype::Float32);
        let (x, xv) = array_of(
            &common::uniform(&mut rng, rows * k, -1.0, 1.0),
            &[rows as i32, k as i32],
            Dtype::Float32,
        );
        let path =
            kernels::quantized_matmul_path(&x, &q.w, &q.scales, &q.biases, 64, bits, &stream)
                .unwrap();
        assert_eq!(path, expected_quant_path(dev, rows, bits));
        assert_eq!(path, KernelPath::Reference);
        let out = kernels::quantized_matmul_on(&x, &q.w, &q.scales, &q.biases, 64, bits, &stream)
            .unwrap();
        // MLX's GPU matmul may use TF32 unless MLX_ENABLE_TF32=0.
        common::assert_close_f32(
            &values_f32(&out),
            &qmm_f64(&xv, &q.dense, rows, k, n),
            3e-3,
            1.0,
        );
    }
    // Scales in another dtype than x: the reference (MLX promotes).
    let q = quant_case(&mut rng, n, k, 64, 4, Dtype::Bfloat16);
    let (x, _) = array_of(
        &common::uniform(&mut rng, k, -1.0, 1.0),
        &[1, k as i32],
        Dtype::Float32,
    );
    assert_eq!(
        kernels::quantized_matmul_path(&x, &q.w, &q.scales, &q.biases, 64, 4, &stream).unwrap(),
        KernelPath::Reference
    );
    // Bad shapes are errors (from MLX), not launches.
    let (bad, _) = array_of(&[0.5; 100], &[1, 100], Dtype::Float32);
    assert!(
        kernels::quantized_matmul_on(&bad, &q.w, &q.scales, &q.biases, 64, 4, &stream).is_err()
    );
});

device_test!(quantized_matmul_gradients_match_the_reference, |dev| {
    kernels::set_poison_outputs(true);
    let stream = Stream::new(dev).unwrap();
    let mut rng = common::rng();
    let (n, k) = (19usize, 256usize);
    // The kernels of quantized_matmul_matches_f64's f32 cases (no new
    // compiles) through the scalar kernel on CUDA.
    kernels::set_quantized_matmul_cuda(QuantizedCuda::Fused);
    for (bits, group_size, rows) in [(4, 64, 1usize), (8, 128, 3)] {
        let q = quant_case(&mut rng, n, k, group_size, bits, Dtype::Float32);
        let (x, _) = array_of(
            &common::uniform(&mut rng, rows * k, -1.0, 1.0),
            &[rows as i32, k as i32],
            Dtype::Float32,
        );
        let (cot, cv) = array_of(
            &common::uniform(&mut rng, rows * n, -1.0, 1.0),
            &[rows as i32, n as i32],
            Dtype::Float32,
        );
        let grads = |reference: bool| {
            let (w, st) = (q.w.clone(), stream.clone());
            let f = move |a: &[Array]| {
                let y = if reference {
                    kernels::quantized_matmul_reference_on(
                        &a[0], &w, &a[1], &a[2], group_size, bits, &st,
                    )?
                } else {
                    kernels::quantized_matmul_on(&a[0], &w, &a[1], &a[2], group_size, bits, &st)?
                };
                Ok(vec![y])
            };
            let primals = [x.clone(), q.scales.clone(), q.biases.clone()];
            let (_, g) = mlx_rs::with_stream(&stream, || {
                mlx_rs::transforms::vjp(f, &primals, std::slice::from_ref(&cot))
            })
            .unwrap();
            g.iter().map(values_f32).collect::<Vec<_>>()
        };
        let (ours, theirs) = (grads(false), grads(true));
        // d/dx = cot @ dense, in f64.
        let mut want = vec![0.0f64; rows * k];
        for r in 0..rows {
            for j in 0..n {
                for p in 0..k {
                    want[r * k + p] += cv[r * n + j] * q.dense[j * k + p];
                }
            }
        }
        println!("gradients, bits {bits} group {group_size}");
        common::assert_close_f32(&ours[0], &want, 3e-3, 1.0);
        for (a, b) in ours.iter().zip(&theirs) {
            common::assert_close_f32(a, &common::to_f64(b), 1e-5, 1.0);
        }
    }
    kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx);
});

// ---- bare kernels outside MLX functions, wrapped ones inside ----

device_test!(
    kernels_built_outside_mlx_functions_match_the_wrapped_ones,
    |dev| {
        use mlx_rs::closure::{in_mlx_function, Closure};
        use std::rc::Rc;
        kernels::set_poison_outputs(true);
        let stream = Stream::new(dev).unwrap();
        let mut rng = common::rng();
        let gpu = dev.device_type() == mlx_rs::DeviceType::Gpu;
        // The same op built bare (here) and wrapped (inside a Closure call) must
        // give the same bits: one kernel, one launch configuration.
        let both = |f: Rc<dyn Fn() -> mlx_rs::Result<Array>>| {
            assert!(!in_mlx_function());
            let bare = values_f32(&f().unwrap());
            let g = f.clone();
            let inside = Closure::new(move |_: &[Array]| {
                assert!(in_mlx_function());
                Ok(vec![g()?])
            })
            .unwrap();
            let wrapped = values_f32(&inside.call(&[]).unwrap()[0]);
            assert_eq!(bare.len(), wrapped.len());
            for (i, (a, b)) in bare.iter().zip(&wrapped).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits(),
                    "element {i}: bare {a}, wrapped {b}"
                );
            }
        };
        // fused_linear: the CPU primitive on the CPU, the CUDA kernels when asked for.
        kernels::set_fused_linear_cuda(gpu);
        for (rows, dtype) in [(5usize, Dtype::Float32), (16, Dtype::Bfloat16)] {
            let c = linear_case(&mut rng, &[rows as i32, 48], 40, 48, dtype);
            let s = stream.clone();
            both(Rc::new(move || {
                kernels::fused_linear_on(&c.x, &c.w, Some(&c.b), Activation::GeluTanh, &s)
            }));
        }
        kernels::set_fused_linear_cuda(false);
        // quantized_matmul: each CUDA kernel (the reference elsewhere).
        for mode in [QuantizedCuda::Fused, QuantizedCuda::TensorCore] {
            kernels::set_quantized_matmul_cuda(mode);
            let q = quant_case(&mut rng, 37, 128, 64, 4, Dtype::Bfloat16);
            let (x, _) = array_of(
                &common::uniform(&mut rng, 2 * 128, -1.0, 1.0),
                &[2, 128],
                Dtype::Bfloat16,
            );
            let s = stream.clone();
            both(Rc::new(move || {
                kernels::quantized_matmul_on(&x, &q.w, &q.scales, &q.biases, 64, 4, &s)
            }));
        }
        kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx);
    }
);
