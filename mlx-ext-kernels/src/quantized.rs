//! Affine-quantized matmul for a few rows (the decode step of a language
//! model): `x @ dequantize(w)ᵀ` with `w` in MLX's affine format, as one fused
//! kernel that reads the packed weight once.
//!
//! Format (MLX's, what [`mlx_rs_core::ops::quantize`] returns): `w` is
//! `uint32` `[N, K · bits / 32]`, the `bits`-bit integers `q` packed along
//! `K`, low bits first; `scales` and `biases` are `[N, K / group_size]`, and
//! the value at `(n, k)` is `scales[n, g] · q[n, k] + biases[n, g]` with
//! `g = k / group_size`.
//!
//! With few rows the op is bound by reading the weight, so the kernels stream
//! it with wide coalesced loads and compute, per group, `scale · Σ x·q +
//! bias · Σ x` in f32 (see `docs/kernels.md`).
//!
//! Kernels and where they run:
//! - CUDA runs MLX's own kernel (the reference) unless
//!   [`set_quantized_matmul_cuda`] picks one of this crate's:
//!   [`QuantizedCuda::Fused`], the scalar kernel (`cuda-src/quantized_matmul.cu`;
//!   tested against f64 on an NVIDIA H200, and 1.6x faster than MLX's kernel
//!   there at the decode shape by ncu, but not faster end to end: each
//!   custom-kernel op costs more outside the kernel, see BENCHMARKS.md), or
//!   [`QuantizedCuda::TensorCore`] (`cuda-src/quantized_matmul_mma.cu`, for
//!   f16/bf16 `x` with 4-bit weights and f16 with 8-bit; it compiles for
//!   sm_90a but **has not been run** yet: its GPU tests exist in
//!   `tests/kernels.rs`).
//! - Metal (`metal-src/quantized_matmul.metal`): the scalar algorithm, 4 and
//!   8 bits, the default on Apple GPUs. **Not run** (no Apple hardware here).
//!
//! Everything else — more than [`QUANTIZED_MATMUL_MAX_ROWS`] rows, bits other
//! than 4 and 8, float64, scales of another dtype than `x`, CPU streams,
//! [`crate::set_force_reference`] — runs the reference, core's
//! [`quantized_matmul`](mlx_rs_core::ops::quantized_matmul). Inside a
//! function that MLX transforms
//! ([`in_mlx_function`](mlx_rs_core::closure::in_mlx_function)) the kernels
//! are wrapped in a custom function whose VJP is the reference's; outside,
//! where nothing can differentiate the result, they run bare (the wrapper
//! costs several µs per call on the host).

use std::cell::RefCell;

use mlx_rs_core::closure::{in_mlx_function, Closure};
use mlx_rs_core::kernel::{KernelConfig, KernelSpec, TemplateArg};
use mlx_rs_core::ops::{self, QuantizationMode};
use mlx_rs_core::transforms::{self, CustomFunction};
use mlx_rs_core::{with_stream, Array, Dtype, Error, Result, Stream, StreamOrDevice};

use crate::dispatch::{cached_fn, path_for, poisoned, EnvChoice, FnCache, KernelPath, Kernels};

const CUDA_HEADER: &str = include_str!("../../cuda-src/quantized_matmul.cuh");
/// The tensor-core kernel calls the fused linear kernels' `mma` wrapper.
const CUDA_LINEAR_HEADER: &str = include_str!("../../cuda-src/fused_linear_common.cuh");
const CUDA_SOURCE: &str = include_str!("../../cuda-src/quantized_matmul.cu");
const CUDA_MMA_SOURCE: &str = include_str!("../../cuda-src/quantized_matmul_mma.cu");
const METAL_SOURCE: &str = include_str!("../../metal-src/quantized_matmul.metal");

/// The most rows of `x` (the product of its leading axes) the kernels take;
/// more rows run the reference (MLX's own kernels then reuse each weight
/// load across rows).
pub const QUANTIZED_MATMUL_MAX_ROWS: i32 = 8;
/// Rows of `w` per warp (SIMD group), `NR` in the scalar sources.
const ROWS_PER_WARP: i32 = 2;
/// Threads per block of the scalar kernels: 4 warps (`WARPS` in the sources).
const BLOCK: i32 = 128;
/// Rows of `w` per block of the tensor-core kernel (one `mma` tile).
const MMA_ROWS: i64 = 16;

static KERNELS: Kernels = Kernels::new(|| {
    let spec = |source: &str| {
        KernelSpec::new(
            "mlx_rs_quantized_matmul",
            &["x", "w", "scales", "biases"],
            &["out"],
            source,
        )
    };
    (
        spec(CUDA_SOURCE).with_header(CUDA_HEADER),
        spec(METAL_SOURCE),
    )
});

/// The CUDA tensor-core kernel (half-precision `x`; 4-bit, or 8-bit with f16),
/// [`QuantizedCuda::TensorCore`]; Apple GPUs run the Metal
/// kernel above instead.
static MMA_KERNELS: Kernels = Kernels::new(|| {
    let spec = |source: &str| {
        KernelSpec::new(
            "mlx_rs_quantized_matmul_mma",
            &["x", "w", "scales", "biases"],
            &["out"],
            source,
        )
    };
    (
        spec(CUDA_MMA_SOURCE).with_header(format!("{CUDA_LINEAR_HEADER}{CUDA_HEADER}")),
        spec(METAL_SOURCE),
    )
});

/// Which implementation [`quantized_matmul`] uses on CUDA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantizedCuda {
    /// MLX's own kernel (core's `quantized_matmul`): the default, since this
    /// crate's kernels were not faster end to end where measured.
    Mlx,
    /// This crate's scalar kernel (4 and 8 bits, f32/f16/bf16), tested on an
    /// H200.
    Fused,
    /// The tensor-core kernel for f16/bf16 `x` with 4-bit weights and f16
    /// with 8-bit (the scalar kernel for the rest). Compiled, not yet run on
    /// a GPU by this project.
    TensorCore,
}

/// Environment variable read before the first [`quantized_matmul`] call:
/// `fused` or `tensor-core` start the process with that
/// [`QuantizedCuda`] mode (anything else: [`QuantizedCuda::Mlx`]).
pub const QUANTIZED_MATMUL_CUDA_ENV: &str = "MLX_RS_QUANTIZED_MATMUL_CUDA";

static CUDA_MODE: EnvChoice<QuantizedCuda, 3> = EnvChoice::new(
    QUANTIZED_MATMUL_CUDA_ENV,
    [
        QuantizedCuda::Mlx,
        QuantizedCuda::Fused,
        QuantizedCuda::TensorCore,
    ],
    ["mlx", "fused", "tensor-core"],
);

/// Picks what [`quantized_matmul`] runs on CUDA (default
/// [`QuantizedCuda::Mlx`]). Also settable for a process with
/// [`QUANTIZED_MATMUL_CUDA_ENV`]; calling this overrides the variable.
/// [`crate::set_force_reference`] wins over both.
///
/// ```
/// use mlx_ext_kernels::{quantized_matmul_cuda, set_quantized_matmul_cuda, QuantizedCuda};
/// set_quantized_matmul_cuda(QuantizedCuda::Fused);
/// assert_eq!(quantized_matmul_cuda(), QuantizedCuda::Fused);
/// set_quantized_matmul_cuda(QuantizedCuda::Mlx);
/// ```
pub fn set_quantized_matmul_cuda(mode: QuantizedCuda) {
    CUDA_MODE.set(mode);
}

/// The mode [`set_quantized_matmul_cuda`] (or its environment variable) set.
pub fn quantized_matmul_cuda() -> QuantizedCuda {
    CUDA_MODE.get()
}

/// `x @ dequantize(w, scales, biases)ᵀ` for an affine-quantized weight
/// (the forward pass of a quantized `Linear`), fused for up to
/// [`QUANTIZED_MATMUL_MAX_ROWS`] rows on Apple GPUs and, when
/// [`set_quantized_matmul_cuda`] picks a kernel, on CUDA (see the module
/// docs for which kernel runs where).
///
/// `x: [..., K]` (f32, f16 or bf16 on the kernel path), `w: [N, K · bits / 32]`
/// `uint32`, `scales` and `biases: [N, K / group_size]` in `x`'s dtype; the
/// result is `[..., N]` in that dtype. The kernels accumulate in f32 and
/// round once. Bad shapes return `Err` (MLX's message, from the reference).
///
/// ```
/// use mlx_ext_kernels::quantized_matmul;
/// use mlx_rs_core::ops::{self, QuantizationMode};
/// use mlx_rs_core::{Array, Dtype};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let w = ops::random::normal(&[16, 64], Dtype::Float32, 0.0, 1.0, None)?;
/// let q = ops::quantize(&w, 64, 4, QuantizationMode::Affine)?;
/// let x = ops::random::normal(&[1, 64], Dtype::Float32, 0.0, 1.0, None)?;
/// let biases = q.biases.as_ref().unwrap();
/// let y = quantized_matmul(&x, &q.weight, &q.scales, biases, 64, 4)?;
/// assert_eq!(y.shape(), [1, 16]);
/// // The same as multiplying by the dequantized weight.
/// let dense = ops::dequantize(&q.weight, &q.scales, Some(biases), 64, 4, QuantizationMode::Affine)?;
/// let want = ops::matmul(&x, &ops::transpose(&dense)?)?;
/// let err = ops::max(&ops::abs(&(&y - &want)?)?, false)?.item::<f32>()?;
/// assert!(err < 1e-3);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn quantized_matmul(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: &Array,
    group_size: i32,
    bits: i32,
) -> Result<Array> {
    quantized_matmul_on(
        x,
        w,
        scales,
        biases,
        group_size,
        bits,
        StreamOrDevice::Default,
    )
}

/// [`quantized_matmul`] on a chosen stream or device.
#[track_caller]
pub fn quantized_matmul_on<'s>(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: &Array,
    group_size: i32,
    bits: i32,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<Array> {
    let stream = on.into().resolve()?;
    let Some(dims) = kernel_dims(x, w, scales, biases, group_size, bits) else {
        return quantized_matmul_reference_on(x, w, scales, biases, group_size, bits, &stream);
    };
    if path(x.dtype(), &stream)? == KernelPath::Reference {
        return quantized_matmul_reference_on(x, w, scales, biases, group_size, bits, &stream);
    }
    let x2 = ops::reshape_on(x, &[dims.m, dims.k], &stream)?;
    let out = if in_mlx_function() {
        // Something may differentiate this: wrap the kernel with its VJP.
        let f = cached_fn(&FUNCTIONS, (group_size, bits), &stream, || {
            fused(group_size, bits)
        })?;
        with_stream(&stream, || {
            f.call(&[x2, w.clone(), scales.clone(), biases.clone()])
        })?
        .remove(0)
    } else {
        // Nothing can differentiate an array built out here: the bare kernel.
        launch(&x2, w, scales, biases, group_size, bits, &stream)?
    };
    ops::reshape_on(&out, &dims.out_shape, &stream)
}

/// The implementation [`quantized_matmul_on`] uses for these inputs on `on`.
///
/// ```
/// use mlx_ext_kernels::{quantized_matmul_path, KernelPath};
/// use mlx_rs_core::ops::{self, QuantizationMode};
/// use mlx_rs_core::{Device, Dtype, Stream};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let w = ops::random::normal(&[8, 64], Dtype::Float32, 0.0, 1.0, None)?;
/// let q = ops::quantize(&w, 64, 4, QuantizationMode::Affine)?;
/// let x = ops::random::normal(&[1, 64], Dtype::Float32, 0.0, 1.0, None)?;
/// let cpu = Stream::new(&Device::cpu())?;
/// let path = quantized_matmul_path(&x, &q.weight, &q.scales, q.biases.as_ref().unwrap(), 64, 4, &cpu)?;
/// assert_eq!(path, KernelPath::Reference);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn quantized_matmul_path<'s>(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: &Array,
    group_size: i32,
    bits: i32,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<KernelPath> {
    let stream = on.into().resolve()?;
    if kernel_dims(x, w, scales, biases, group_size, bits).is_none() {
        return Ok(KernelPath::Reference);
    }
    path(x.dtype(), &stream)
}

/// The path for inputs the kernels take: on CUDA, MLX's kernel unless
/// [`set_quantized_matmul_cuda`] picks one of this crate's.
fn path(dtype: Dtype, stream: &Stream) -> Result<KernelPath> {
    let p = path_for(stream, dtype)?;
    Ok(
        if p == KernelPath::Cuda && quantized_matmul_cuda() == QuantizedCuda::Mlx {
            KernelPath::Reference
        } else {
            p
        },
    )
}

/// The reference: core's `quantized_matmul` (affine mode, `w` transposed, the
/// layout of a `Linear` weight). Same contract as [`quantized_matmul`], any
/// rows, bits and dtypes MLX takes.
///
/// ```
/// use mlx_ext_kernels::quantized_matmul_reference;
/// use mlx_rs_core::ops::{self, QuantizationMode};
/// use mlx_rs_core::Dtype;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let w = ops::random::normal(&[8, 32], Dtype::Float32, 0.0, 1.0, None)?;
/// let q = ops::quantize(&w, 32, 8, QuantizationMode::Affine)?;
/// let x = ops::random::normal(&[3, 32], Dtype::Float32, 0.0, 1.0, None)?;
/// let y = quantized_matmul_reference(&x, &q.weight, &q.scales, q.biases.as_ref().unwrap(), 32, 8)?;
/// assert_eq!(y.shape(), [3, 8]);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn quantized_matmul_reference(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: &Array,
    group_size: i32,
    bits: i32,
) -> Result<Array> {
    quantized_matmul_reference_on(
        x,
        w,
        scales,
        biases,
        group_size,
        bits,
        StreamOrDevice::Default,
    )
}

/// [`quantized_matmul_reference`] on a chosen stream or device.
#[track_caller]
pub fn quantized_matmul_reference_on<'s>(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: &Array,
    group_size: i32,
    bits: i32,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<Array> {
    let stream = on.into().resolve()?;
    ops::quantized_matmul_on(
        x,
        w,
        scales,
        Some(biases),
        true,
        group_size,
        bits,
        QuantizationMode::Affine,
        &stream,
    )
}

/// Sizes of a call the kernels take.
struct Dims {
    /// Rows: the product of `x`'s leading axes.
    m: i32,
    k: i32,
    /// `x`'s leading axes, then `N`.
    out_shape: Vec<i32>,
}

/// `Some` when the kernels take these inputs: 4 or 8 bits, group size 32, 64
/// or 128, 1 to [`QUANTIZED_MATMUL_MAX_ROWS`] rows, shapes and dtypes that
/// fit each other exactly (x, scales and biases of one float dtype, f64
/// excepted). Anything else goes to the reference, which reports bad input.
fn kernel_dims(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: &Array,
    group_size: i32,
    bits: i32,
) -> Option<Dims> {
    let dtype = x.dtype();
    if !matches!(bits, 4 | 8)
        || !matches!(group_size, 32 | 64 | 128)
        || !matches!(dtype, Dtype::Float32 | Dtype::Float16 | Dtype::Bfloat16)
        || scales.dtype() != dtype
        || biases.dtype() != dtype
        || w.dtype() != Dtype::Uint32
        || x.ndim() == 0
        || w.ndim() != 2
    {
        return None;
    }
    let xs = x.shape();
    let k = xs[xs.len() - 1];
    let n = w.shape()[0];
    if k <= 0 || n <= 0 || k % group_size != 0 {
        return None;
    }
    let groups = [n, k / group_size];
    if w.shape()[1] != k / 32 * bits || scales.shape() != groups || biases.shape() != groups {
        return None;
    }
    let lead = &xs[..xs.len() - 1];
    let m = lead.iter().map(|&d| i64::from(d)).product::<i64>();
    if !(1..=i64::from(QUANTIZED_MATMUL_MAX_ROWS)).contains(&m) {
        return None;
    }
    let mut out_shape = lead.to_vec();
    out_shape.push(n);
    Some(Dims {
        m: m as i32,
        k,
        out_shape,
    })
}

thread_local! {
    // One built function per thread, (group size, bits) and stream.
    static FUNCTIONS: FnCache<(i32, i32), Closure> = const { RefCell::new(Vec::new()) };
}

/// The kernel as a custom function of `(x [M, K], w, scales, biases)` whose
/// VJP is the reference's for `x`, `scales` and `biases`. The packed weight
/// gets a zero cotangent: it is integer data (MLX's own op refuses to
/// differentiate it; quantized layers keep it frozen).
fn fused(group_size: i32, bits: i32) -> Result<Closure> {
    CustomFunction::new(move |a: &[Array]| {
        let s = Stream::current()?;
        Ok(vec![launch(
            &a[0], &a[1], &a[2], &a[3], group_size, bits, &s,
        )?])
    })?
    .vjp(
        move |primals: &[Array], cotangents: &[Array], _outputs: &[Array]| {
            let w = primals[1].clone();
            let (_, grads) = transforms::vjp(
                move |a: &[Array]| {
                    let s = Stream::current()?;
                    Ok(vec![quantized_matmul_reference_on(
                        &a[0], &w, &a[1], &a[2], group_size, bits, &s,
                    )?])
                },
                &[primals[0].clone(), primals[2].clone(), primals[3].clone()],
                cotangents,
            )?;
            let mut grads = grads.into_iter();
            let (gx, gs, gb) =
                match (grads.next(), grads.next(), grads.next()) {
                    (Some(gx), Some(gs), Some(gb)) => (gx, gs, gb),
                    _ => return Err(Error::InvalidArgument {
                        message:
                            "quantized_matmul: the reference's VJP returned fewer than 3 gradients"
                                .into(),
                        location: std::panic::Location::caller(),
                    }),
                };
            let s = Stream::current()?;
            Ok(vec![gx, ops::zeros_like_on(&primals[1], &s)?, gs, gb])
        },
    )?
    .build()
}

/// Launches the kernel on `x: [M, K]` (shapes checked by [`kernel_dims`]).
fn launch(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: &Array,
    group_size: i32,
    bits: i32,
    s: &Stream,
) -> Result<Array> {
    let m = x.dim(0)?;
    let n = w.dim(0)?;
    let dtype = x.dtype();
    let cuda = mlx_rs_core::cuda_is_available();
    // Tensor cores take f16 and bf16; the weight is dequantized in x's dtype,
    // where an 8-bit value fits f16 exactly but not bf16 (8 significant bits
    // after the magic-number offset).
    if cuda
        && quantized_matmul_cuda() == QuantizedCuda::TensorCore
        && (dtype == Dtype::Float16 || (dtype == Dtype::Bfloat16 && bits == 4))
    {
        let blocks = (i64::from(n) + MMA_ROWS - 1) / MMA_ROWS;
        // Few blocks (short N): more warps per block split K further, so that
        // enough loads are in flight.
        let warps: i32 = if blocks >= 512 { 4 } else { 8 };
        let threads =
            i32::try_from(blocks * i64::from(warps * 32)).map_err(|_| Error::InvalidArgument {
                message: format!("quantized_matmul: {n} output columns exceed one launch"),
                location: std::panic::Location::caller(),
            })?;
        let config = poisoned(
            KernelConfig::linear(threads, warps * 32)
                .output(&[m, n], dtype)
                .template("T", TemplateArg::Dtype(dtype))
                .template("BITS", TemplateArg::Int(bits))
                .template("GS", TemplateArg::Int(group_size))
                .template("M", TemplateArg::Int(m))
                .template("WARPS", TemplateArg::Int(warps)),
        );
        let inputs = [x, w, scales, biases];
        return Ok(MMA_KERNELS.cuda()?.apply_on(&inputs, &config, s)?.remove(0));
    }
    let rows_per_block = i64::from(ROWS_PER_WARP) * i64::from(BLOCK / 32);
    let blocks = (i64::from(n) + rows_per_block - 1) / rows_per_block;
    let threads = i32::try_from(blocks * i64::from(BLOCK)).map_err(|_| Error::InvalidArgument {
        message: format!("quantized_matmul: {n} output columns exceed one launch"),
        location: std::panic::Location::caller(),
    })?;
    let config = poisoned(
        KernelConfig::linear(threads, BLOCK)
            .output(&[m, n], dtype)
            .template("T", TemplateArg::Dtype(dtype))
            .template("BITS", TemplateArg::Int(bits))
            .template("GS", TemplateArg::Int(group_size))
            .template("M", TemplateArg::Int(m))
            .template("NR", TemplateArg::Int(ROWS_PER_WARP)),
    );
    let inputs = [x, w, scales, biases];
    let mut out = if cuda {
        KERNELS.cuda()?.apply_on(&inputs, &config, s)?
    } else {
        KERNELS.metal()?.apply_on(&inputs, &config, s)?
    };
    Ok(out.remove(0))
}
