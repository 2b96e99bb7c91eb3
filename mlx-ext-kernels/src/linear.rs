//! The fused linear layer `act(x @ wᵀ + b)`: the MLP up-projection of a
//! transformer or DiT block, with `x: [..., K]`, `w: [N, K]` (the layout
//! `nn.Linear` checkpoints store) and `b: [N]`.
//!
//! One op that MLX sees as one node. On the CPU it is this crate's CPU
//! primitive ([`mlx_rs_core::ops::cpu::linear`]): one BLAS GEMM, then bias
//! and activation in a single vectorized pass over the output. By default on
//! CUDA it is the reference compiled once so that MLX fuses the element-wise
//! tail after cuBLAS's GEMM: measured on an H200 that is 1.06-1.19x the
//! bare GEMM. This crate's fused CUDA kernels (a tensor-core GEMM, or a
//! split-K tensor-core kernel for at most 64 rows, with bias and activation
//! applied to the accumulators before the only store) run when asked for
//! ([`set_fused_linear_cuda`]); `docs/kernels.md` and `BENCHMARKS.md` give
//! their measured times against cuBLAS. On Apple GPUs a Metal kernel
//! computes the same.
//! Inside a function that MLX transforms
//! ([`in_mlx_function`](mlx_rs_core::closure::in_mlx_function)) the fused
//! kernels and the CPU primitive are wrapped in a custom function whose VJP
//! is the reference's, so the op trains; outside, where nothing can
//! differentiate the result, they run bare (the wrapper costs several µs per
//! call on the host).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};

use mlx_rs_core::closure::{in_mlx_function, Closure};
use mlx_rs_core::kernel::{KernelConfig, KernelSpec, TemplateArg};
use mlx_rs_core::ops::cpu::{self, Epilogue};
use mlx_rs_core::transforms::{self, CompiledFn, CustomFunction};
use mlx_rs_core::{
    cuda_is_available, metal_is_available, ops, with_stream, Array, DeviceType, Dtype, Error,
    Result, Stream, StreamOrDevice,
};

use crate::dispatch::{cached_fn, force_reference, poisoned, FnCache, Kernels};

const CUDA_HEADER: &str = include_str!("../../cuda-src/fused_linear_common.cuh");
const CUDA_MMA: &str = include_str!("../../cuda-src/fused_linear_mma.cu");
const CUDA_SPLITK: &str = include_str!("../../cuda-src/fused_linear_splitk.cu");
const METAL_HEADER: &str = include_str!("../../metal-src/fused_linear_common.metal");
const METAL_SOURCE: &str = include_str!("../../metal-src/fused_linear.metal");

/// Tile of the CUDA tensor-core kernel (`BM`, `BN`, `BK`, `STAGES` in
/// `fused_linear_mma.cu`).
const MMA_BM: i32 = 128;
const MMA_BN: i32 = 128;
const MMA_BK: i32 = 32;
const MMA_STAGES: i32 = 4;
const MMA_THREADS: i32 = 256;
/// Shared memory of one block: the ring of padded (BK + 8) `x` and `w` tiles.
const MMA_SHARED: i32 = MMA_STAGES * (MMA_BM + MMA_BN) * (MMA_BK + 8) * 2;
/// Rows at or below which the split-K kernel runs for bf16/f16: up to here it
/// reads `w` once (from DRAM) and beats the 128-row tiles of the tensor-core
/// kernel, which leave most of a tile empty.
const SPLITK_MAX_ROWS_HALF: i32 = 64;
/// The same for f32: each element of `w` costs three TF32 MMAs there (with
/// TF32 off), so more rows would make the kernel bound by the tensor pipe;
/// f32 with more rows goes to cuBLAS.
const SPLITK_MAX_ROWS_F32: i32 = 16;
/// Most rows one split-K block keeps (`MT`; more rows take several blocks).
const SPLITK_ROWS: i32 = 32;
/// Columns of `out` per split-K block (8 * `NT` in `fused_linear_splitk.cu`).
const SPLITK_COLUMNS: i32 = 16;
/// Output tile of the Metal kernel (`TILE` in `fused_linear.metal`).
const METAL_TILE: i32 = 32;

static MMA: Kernels = Kernels::with_shared_memory(
    || {
        (
            spec("mlx_rs_linear_mma", CUDA_MMA, CUDA_HEADER),
            spec("mlx_rs_linear_metal", METAL_SOURCE, METAL_HEADER),
        )
    },
    MMA_SHARED,
);
static SPLITK: Kernels = Kernels::new(|| {
    (
        spec("mlx_rs_linear_splitk", CUDA_SPLITK, CUDA_HEADER),
        spec("mlx_rs_linear_metal", METAL_SOURCE, METAL_HEADER),
    )
});

fn spec(name: &str, source: &str, header: &str) -> KernelSpec {
    KernelSpec::new(name, &["x", "w", "b"], &["out"], source).with_header(header)
}

/// The activation applied after the bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// None: `v`.
    Identity,
    /// `max(v, 0)`.
    Relu,
    /// GELU, tanh approximation: `0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³)))`
    /// (FLUX, GPT-2).
    GeluTanh,
    /// GELU, exact: `0.5·v·(1 + erf(v/√2))`.
    Gelu,
    /// SiLU: `v·sigmoid(v)`.
    Silu,
}

impl Activation {
    /// The code the kernels take (`ACT`; see `cuda-src/fused_linear_common.cuh`).
    fn code(self) -> i32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::GeluTanh => 2,
            Activation::Gelu => 3,
            Activation::Silu => 4,
        }
    }
}

/// Environment variable that, set to `1` before the first [`fused_linear`]
/// call, starts the process with [`set_fused_linear_cuda`] on.
pub const FUSED_LINEAR_CUDA_ENV: &str = "MLX_RS_FUSED_LINEAR_CUDA";

/// 0: not read from the environment yet, 1: off, 2: on.
static FUSED_LINEAR_CUDA: AtomicU8 = AtomicU8::new(0);

/// Sends [`fused_linear`] on CUDA to this crate's fused kernels (`true`) or to
/// the compiled reference (`false`, the default: faster today, see the
/// docs of [`fused_linear`]). Also settable for a process with
/// [`FUSED_LINEAR_CUDA_ENV`]` = 1`; calling this overrides the variable.
/// [`crate::set_force_reference`] wins over both.
///
/// ```
/// use mlx_ext_kernels::{fused_linear_cuda, set_fused_linear_cuda};
/// set_fused_linear_cuda(true);
/// assert!(fused_linear_cuda());
/// set_fused_linear_cuda(false);
/// ```
pub fn set_fused_linear_cuda(on: bool) {
    FUSED_LINEAR_CUDA.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether [`set_fused_linear_cuda`] (or its environment variable) is on.
pub fn fused_linear_cuda() -> bool {
    match FUSED_LINEAR_CUDA.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var(FUSED_LINEAR_CUDA_ENV).is_ok_and(|v| v == "1");
            // A concurrent set_fused_linear_cuda wins over the environment.
            let _ = FUSED_LINEAR_CUDA.compare_exchange(
                0,
                if on { 2 } else { 1 },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            FUSED_LINEAR_CUDA.load(Ordering::Relaxed) == 2
        }
        v => v == 2,
    }
}

/// Which implementation a [`fused_linear`] call uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearPath {
    /// The fused CUDA kernels (a tensor-core GEMM, or a split-K kernel for
    /// at most 64 rows, 16 in f32), when [`set_fused_linear_cuda`] is on.
    Cuda,
    /// The fused Metal kernel.
    Metal,
    /// The CPU primitive ([`mlx_rs_core::ops::cpu::linear`]): BLAS GEMM plus
    /// one pass for bias and activation; bfloat16 and float16 go through
    /// float32 and are rounded once.
    Cpu,
    /// The reference compiled once, so that MLX fuses the bias and activation
    /// into one element-wise kernel after its GEMM: the CUDA path unless
    /// [`set_fused_linear_cuda`] is on (and then for inputs no fused kernel
    /// takes: f32 with more than 16 rows).
    Compiled,
    /// The reference, uncompiled: float64 and integer dtypes, and everything
    /// while [`crate::set_force_reference`] is on.
    Reference,
}

/// `act(x @ wᵀ + b)` as one fused op; see `docs/kernels.md`.
///
/// `x: [..., K]`, `w: [N, K]` (any view: transposed or sliced weights are
/// copied to row-major first), `b: [N]`, all of one dtype; the result is
/// `[..., N]`. Kernels accumulate in f32 and round once.
///
/// ```
/// use mlx_ext_kernels::{fused_linear, Activation};
/// use mlx_rs_core::Array;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let x = Array::from_slice(&[1.0f32, 2.0], &[1, 2])?;
/// let w = Array::from_slice(&[0.5f32, -1.0, 3.0, 0.25], &[2, 2])?;
/// let b = Array::from_slice(&[0.0f32, 1.0], &[2])?;
/// // x @ wᵀ + b = [-1.5, 4.5]; ReLU keeps the positive part.
/// let y = fused_linear(&x, &w, Some(&b), Activation::Relu)?;
/// assert_eq!(y.to_vec::<f32>()?, [0.0, 4.5]);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn fused_linear(x: &Array, w: &Array, b: Option<&Array>, act: Activation) -> Result<Array> {
    fused_linear_on(x, w, b, act, StreamOrDevice::Default)
}

/// `fused_linear(x, w, Some(b), Activation::GeluTanh)`: the MLP up-projection
/// of a FLUX block.
#[track_caller]
pub fn fused_linear_bias_gelu(x: &Array, w: &Array, b: &Array) -> Result<Array> {
    fused_linear(x, w, Some(b), Activation::GeluTanh)
}

/// [`fused_linear`] on a chosen stream or device.
#[track_caller]
pub fn fused_linear_on<'s>(
    x: &Array,
    w: &Array,
    b: Option<&Array>,
    act: Activation,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<Array> {
    let stream = on.into().resolve()?;
    let dims = check("fused_linear", x, w, b)?;
    let x2 = ops::reshape_on(x, &[dims.m, dims.k], &stream)?;
    let out = match path(&dims, x.dtype(), &stream)? {
        LinearPath::Reference => reference::linear_2d(&x2, w, b, act, &stream)?,
        LinearPath::Compiled => {
            let f = cached_fn(&COMPILED, (act, b.is_some()), &stream, || {
                compiled(act, b.is_some())
            })?;
            with_stream(&stream, || f.call(&args(x2, w, b)))?.remove(0)
        }
        LinearPath::Cuda | LinearPath::Metal | LinearPath::Cpu if in_mlx_function() => {
            // Something may differentiate this: wrap the kernel with its VJP.
            let f = cached_fn(&FUSED, (act, b.is_some()), &stream, || {
                fused(act, b.is_some())
            })?;
            with_stream(&stream, || f.call(&args(x2, w, b)))?.remove(0)
        }
        // Nothing can differentiate an array built out here: the bare kernel.
        LinearPath::Cuda | LinearPath::Metal | LinearPath::Cpu => launch(&x2, w, b, act, &stream)?,
    };
    ops::reshape_on(&out, &dims.out_shape, &stream)
}

/// The implementation [`fused_linear_on`] uses for `x` and `w` on `on`.
#[track_caller]
pub fn fused_linear_path<'s>(
    x: &Array,
    w: &Array,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<LinearPath> {
    let stream = on.into().resolve()?;
    let dims = check("fused_linear_path", x, w, None)?;
    path(&dims, x.dtype(), &stream)
}

/// The reference: `act(addmm(b, x, wᵀ))` from core ops, the ground truth of
/// the tests and the fallback of [`fused_linear`]. Half-precision inputs stay
/// in their dtype (MLX's GEMM accumulates in f32; the activation rounds
/// after each op).
pub mod reference {
    use super::*;

    /// `act(x @ wᵀ + b)` from core ops.
    ///
    /// ```
    /// use mlx_ext_kernels::{reference, Activation};
    /// use mlx_rs_core::Array;
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let x = Array::from_slice(&[1.0f32, 2.0], &[1, 2])?;
    /// let w = Array::from_slice(&[0.5f32, -1.0, 3.0, 0.25], &[2, 2])?;
    /// let y = reference::linear(&x, &w, None, Activation::Identity)?;
    /// assert_eq!(y.to_vec::<f32>()?, [-1.5, 3.5]);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn linear(x: &Array, w: &Array, b: Option<&Array>, act: Activation) -> Result<Array> {
        linear_on(x, w, b, act, StreamOrDevice::Default)
    }

    /// [`linear`] on a chosen stream or device.
    #[track_caller]
    pub fn linear_on<'s>(
        x: &Array,
        w: &Array,
        b: Option<&Array>,
        act: Activation,
        on: impl Into<StreamOrDevice<'s>>,
    ) -> Result<Array> {
        let stream = on.into().resolve()?;
        let dims = check("reference::linear", x, w, b)?;
        let x2 = ops::reshape_on(x, &[dims.m, dims.k], &stream)?;
        let out = linear_2d(&x2, w, b, act, &stream)?;
        ops::reshape_on(&out, &dims.out_shape, &stream)
    }

    /// `linear(x, w, Some(b), Activation::GeluTanh)`.
    #[track_caller]
    pub fn linear_bias_gelu(x: &Array, w: &Array, b: &Array) -> Result<Array> {
        linear(x, w, Some(b), Activation::GeluTanh)
    }

    /// The reference on a checked `x: [M, K]`.
    pub(super) fn linear_2d(
        x: &Array,
        w: &Array,
        b: Option<&Array>,
        act: Activation,
        s: &Stream,
    ) -> Result<Array> {
        let wt = ops::transpose_on(w, s)?;
        let y = match b {
            Some(b) => ops::addmm_on(b, x, &wt, 1.0, 1.0, s)?,
            None => ops::matmul_on(x, &wt, s)?,
        };
        activate(&y, act, s)
    }

    /// `act(y)` from core ops, constants in `y`'s dtype (an f32 scalar would
    /// promote half-precision inputs).
    fn activate(y: &Array, act: Activation, s: &Stream) -> Result<Array> {
        let c = |v: f32| ops::astype_on(&Array::scalar(v)?, y.dtype(), s);
        match act {
            Activation::Identity => Ok(y.clone()),
            Activation::Relu => ops::maximum_on(y, &c(0.0)?, s),
            Activation::GeluTanh => {
                let cube = ops::multiply_on(&ops::multiply_on(y, y, s)?, y, s)?;
                let inner = ops::add_on(y, &ops::multiply_on(&c(0.044715)?, &cube, s)?, s)?;
                let t = ops::tanh_on(&ops::multiply_on(&c(0.797_884_6)?, &inner, s)?, s)?;
                let half_y = ops::multiply_on(&c(0.5)?, y, s)?;
                ops::multiply_on(&half_y, &ops::add_on(&c(1.0)?, &t, s)?, s)
            }
            Activation::Gelu => {
                let e = ops::erf_on(
                    &ops::multiply_on(y, &c(std::f32::consts::FRAC_1_SQRT_2)?, s)?,
                    s,
                )?;
                let half_y = ops::multiply_on(&c(0.5)?, y, s)?;
                ops::multiply_on(&half_y, &ops::add_on(&c(1.0)?, &e, s)?, s)
            }
            Activation::Silu => ops::multiply_on(y, &ops::sigmoid_on(y, s)?, s),
        }
    }
}

/// Checked sizes of one call.
struct Dims {
    /// Rows: the product of `x`'s leading axes.
    m: i32,
    k: i32,
    n: i32,
    /// `x`'s leading axes, then `n`.
    out_shape: Vec<i32>,
}

/// Validates shapes and dtypes before anything is built or launched.
#[track_caller]
fn check(op: &str, x: &Array, w: &Array, b: Option<&Array>) -> Result<Dims> {
    let fail = |message: String| Error::InvalidArgument {
        message: format!("{op}: {message}"),
        location: std::panic::Location::caller(),
    };
    if w.ndim() != 2 {
        return Err(fail(format!(
            "the weight must be 2-d [N, K], got shape {:?}",
            w.shape()
        )));
    }
    if x.ndim() == 0 {
        return Err(fail("x must have at least one axis ([..., K])".into()));
    }
    let (n, k) = (w.dim(0)?, w.dim(1)?);
    let xs = x.shape();
    if xs[xs.len() - 1] != k {
        return Err(fail(format!(
            "x's last axis has {} elements but the weight [N, K] = {:?} has K = {k}",
            xs[xs.len() - 1],
            w.shape()
        )));
    }
    if x.dtype() != w.dtype() {
        return Err(fail(format!(
            "x is {} but the weight is {}",
            x.dtype(),
            w.dtype()
        )));
    }
    if let Some(b) = b {
        if b.shape() != [n] {
            return Err(fail(format!(
                "the bias must have shape [{n}] (one value per output), got {:?}",
                b.shape()
            )));
        }
        if b.dtype() != x.dtype() {
            return Err(fail(format!(
                "x is {} but the bias is {}",
                x.dtype(),
                b.dtype()
            )));
        }
    }
    let lead = &xs[..xs.len() - 1];
    let m = lead.iter().map(|&d| i64::from(d)).product::<i64>();
    let m = i32::try_from(m).map_err(|_| fail(format!("{m} rows exceed one launch")))?;
    let mut out_shape = lead.to_vec();
    out_shape.push(n);
    Ok(Dims { m, k, n, out_shape })
}

fn path(dims: &Dims, dtype: Dtype, stream: &Stream) -> Result<LinearPath> {
    let half = matches!(dtype, Dtype::Bfloat16 | Dtype::Float16);
    // Empty products (no rows, no outputs) launch nothing: core ops give
    // their empty shapes.
    if force_reference() || !(half || dtype == Dtype::Float32) || dims.n == 0 || dims.m == 0 {
        return Ok(LinearPath::Reference);
    }
    if stream.device()?.device_type() != DeviceType::Gpu {
        return Ok(LinearPath::Cpu);
    }
    Ok(if cuda_is_available() {
        // The tensor-core kernel takes 16-bit inputs; f32 goes to the split-K
        // kernel (few rows), else to cuBLAS through the compiled reference.
        if fused_linear_cuda() && (half || dims.m <= SPLITK_MAX_ROWS_F32) {
            LinearPath::Cuda
        } else {
            LinearPath::Compiled
        }
    } else if metal_is_available() {
        LinearPath::Metal
    } else {
        LinearPath::Compiled
    })
}

fn args(x2: Array, w: &Array, b: Option<&Array>) -> Vec<Array> {
    let mut v = vec![x2, w.clone()];
    v.extend(b.cloned());
    v
}

thread_local! {
    // One built function per thread, activation, bias presence and stream.
    static COMPILED: FnCache<(Activation, bool), CompiledFn> = const { RefCell::new(Vec::new()) };
    static FUSED: FnCache<(Activation, bool), Closure> = const { RefCell::new(Vec::new()) };
}

/// The reference compiled: MLX fuses the bias add and activation into one
/// element-wise kernel after the GEMM. Streams are bound to their thread, so
/// the function runs on the current stream: callers scope it with
/// `with_stream`.
fn compiled(act: Activation, has_bias: bool) -> Result<CompiledFn> {
    transforms::compile(
        move |a: &[Array]| {
            let s = Stream::current()?;
            let b = if has_bias { Some(&a[2]) } else { None };
            Ok(vec![reference::linear_2d(&a[0], &a[1], b, act, &s)?])
        },
        false,
    )
}

/// The fused kernel (or the CPU primitive) as a custom function whose VJP is
/// the reference's. Both run on the current stream (callers scope the
/// forward call with `with_stream`; the VJP runs where the gradient is
/// taken).
fn fused(act: Activation, has_bias: bool) -> Result<Closure> {
    CustomFunction::new(move |a: &[Array]| {
        let s = Stream::current()?;
        let b = if has_bias { Some(&a[2]) } else { None };
        Ok(vec![launch(&a[0], &a[1], b, act, &s)?])
    })?
    .vjp(
        move |primals: &[Array], cotangents: &[Array], _outputs: &[Array]| {
            let (_, grads) = transforms::vjp(
                move |a: &[Array]| {
                    let s = Stream::current()?;
                    let b = if has_bias { Some(&a[2]) } else { None };
                    Ok(vec![reference::linear_2d(&a[0], &a[1], b, act, &s)?])
                },
                primals,
                cotangents,
            )?;
            Ok(grads)
        },
    )?
    .build()
}

/// The CPU primitive; half-precision operands are widened to f32 for BLAS
/// and the result rounded once (MLX's half GEMMs on the CPU are plain loops).
fn launch_cpu(
    x: &Array,
    w: &Array,
    b: Option<&Array>,
    act: Activation,
    s: &Stream,
) -> Result<Array> {
    let epilogue = match act {
        Activation::Identity => Epilogue::Identity,
        Activation::Relu => Epilogue::Relu,
        Activation::GeluTanh => Epilogue::GeluTanh,
        Activation::Gelu => Epilogue::GeluErf,
        Activation::Silu => Epilogue::Silu,
    };
    let dtype = x.dtype();
    if dtype == Dtype::Float32 {
        return cpu::linear_on(x, w, b, epilogue, s);
    }
    let wide = |a: &Array| ops::astype_on(a, Dtype::Float32, s);
    let b = b.map(wide).transpose()?;
    let y = cpu::linear_on(&wide(x)?, &wide(w)?, b.as_ref(), epilogue, s)?;
    ops::astype_on(&y, dtype, s)
}

/// Whether MLX computes f32 matmuls with TF32 on CUDA (`MLX_ENABLE_TF32`,
/// read once like MLX does; on unless it is `0`). The split-K kernel follows
/// it: one TF32 product per step when allowed, else 3xTF32 (about f32
/// accuracy).
fn tf32_allowed() -> bool {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWED.get_or_init(|| {
        std::env::var("MLX_ENABLE_TF32")
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            != Some(0)
    })
}

/// Launches the fused kernel on `x: [M, K]`, or on CPU streams the CPU
/// primitive.
fn launch(x: &Array, w: &Array, b: Option<&Array>, act: Activation, s: &Stream) -> Result<Array> {
    if s.device()?.device_type() == DeviceType::Cpu {
        return launch_cpu(x, w, b, act, s);
    }
    let (m, k) = (x.dim(0)?, x.dim(1)?);
    let n = w.dim(0)?;
    let dtype = x.dtype();
    let too_big = || Error::InvalidArgument {
        message: format!("fused_linear: [{m}, {k}] x [{n}, {k}] exceeds one launch"),
        location: std::panic::Location::caller(),
    };
    let has_bias = b.is_some();
    // Without a bias the kernel reads none; a one-element stand-in fills the slot.
    let dummy;
    let b = match b {
        Some(b) => b,
        None => {
            dummy = ops::zeros_on(&[1], dtype, s)?;
            &dummy
        }
    };
    let base = |threads: i64, group: i32| -> Result<KernelConfig> {
        let threads = i32::try_from(threads).map_err(|_| too_big())?;
        Ok(KernelConfig::linear(threads, group)
            .output(&[m, n], dtype)
            .template("T", TemplateArg::Dtype(dtype))
            .template("ACT", TemplateArg::Int(act.code()))
            .template("HAS_BIAS", TemplateArg::Bool(has_bias)))
    };
    let inputs = [x, w, b];
    let mut out = if cuda_is_available() {
        let splitk_rows = if dtype == Dtype::Float32 {
            SPLITK_MAX_ROWS_F32
        } else {
            SPLITK_MAX_ROWS_HALF
        };
        if m <= splitk_rows {
            // Rows per block: a power of two from 8 (one MMA fragment's
            // real rows) to SPLITK_ROWS, so few shapes compile a kernel.
            let rows = ((m as u32).next_power_of_two() as i32).clamp(8, SPLITK_ROWS);
            let blocks = (i64::from(m) + i64::from(rows) - 1) / i64::from(rows)
                * ((i64::from(n) + i64::from(SPLITK_COLUMNS) - 1) / i64::from(SPLITK_COLUMNS));
            let precise = dtype == Dtype::Float32 && !tf32_allowed();
            let config = poisoned(
                base(blocks * 256, 256)?
                    .template("MT", TemplateArg::Int(rows))
                    .template("PRECISE", TemplateArg::Bool(precise)),
            );
            SPLITK.cuda()?.apply_on(&inputs, &config, s)?
        } else {
            let tiles = (i64::from(m) + i64::from(MMA_BM) - 1) / i64::from(MMA_BM)
                * ((i64::from(n) + i64::from(MMA_BN) - 1) / i64::from(MMA_BN));
            let config = poisoned(base(tiles * i64::from(MMA_THREADS), MMA_THREADS)?);
            MMA.cuda()?.apply_on(&inputs, &config, s)?
        }
    } else {
        // Metal: one threadgroup (4 SIMD groups) per TILE x TILE block of out.
        let tiles = (i64::from(m) + i64::from(METAL_TILE) - 1) / i64::from(METAL_TILE)
            * ((i64::from(n) + i64::from(METAL_TILE) - 1) / i64::from(METAL_TILE));
        let config = poisoned(base(tiles * 128, 128)?);
        MMA.metal()?.apply_on(&inputs, &config, s)?
    };
    Ok(out.remove(0))
}
