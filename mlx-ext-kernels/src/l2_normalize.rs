//! Row-wise L2 normalization, as applied to sentence embeddings before a
//! cosine-similarity search: `x / max(‖x‖₂, eps)` over the last axis.

use mlx_rs_core::kernel::{KernelConfig, KernelSpec, TemplateArg};
use mlx_rs_core::{ops, Array, Dtype, Error, Result, StreamOrDevice};

use crate::dispatch::{path_for, poisoned, KernelPath, Kernels};

const CUDA_SOURCE: &str = include_str!("../../cuda-src/l2_normalize.cu");
const METAL_SOURCE: &str = include_str!("../../metal-src/l2_normalize.metal");
/// At most this many threads per row: one block (threadgroup) reduces one row.
const MAX_BLOCK: i32 = 256;

/// Threads per row: enough for about four values each (the kernels keep up
/// to eight in registers), a multiple of the 32-wide warp / SIMD group.
fn block_for(cols: i32) -> i32 {
    let per_four = (cols + 3) / 4;
    ((per_four + 31) / 32 * 32).clamp(32, MAX_BLOCK)
}

static KERNELS: Kernels = Kernels::new(|| {
    let spec =
        |source: &str| KernelSpec::new("mlx_rs_l2_normalize", &["x", "eps"], &["out"], source);
    (spec(CUDA_SOURCE), spec(METAL_SOURCE))
});

/// Divides each row (last axis) of `x` by `max(its L2 norm, eps)`, fused on GPUs.
#[track_caller]
pub fn l2_normalize(x: &Array, eps: f32) -> Result<Array> {
    l2_normalize_on(x, eps, StreamOrDevice::Default)
}

/// [`l2_normalize`] on a chosen stream or device.
#[track_caller]
pub fn l2_normalize_on<'s>(
    x: &Array,
    eps: f32,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<Array> {
    let stream = on.into().resolve()?;
    if x.ndim() == 0 {
        return Err(Error::InvalidArgument {
            message: "l2_normalize needs at least one axis".into(),
            location: std::panic::Location::caller(),
        });
    }
    let path = path_for(&stream, x.dtype())?;
    let rows = x.size() / x.dim(-1)?.max(1) as usize;
    if path == KernelPath::Reference || x.size() == 0 {
        return l2_normalize_reference_on(x, eps, &stream);
    }
    let block = block_for(x.dim(-1)?);
    let grid = i32::try_from(rows * block as usize).map_err(|_| Error::InvalidArgument {
        message: format!("l2_normalize: {rows} rows exceed one launch"),
        location: std::panic::Location::caller(),
    })?;
    // eps travels as a one-element input so that changing it needs no recompile.
    let eps = Array::scalar(eps)?;
    let config = poisoned(
        KernelConfig::linear(grid, block)
            .output(&x.shape(), x.dtype())
            .template("T", TemplateArg::Dtype(x.dtype())),
    );
    let mut out = match path {
        KernelPath::Cuda => KERNELS.cuda()?.apply_on(&[x, &eps], &config, &stream)?,
        _ => KERNELS.metal()?.apply_on(&[x, &eps], &config, &stream)?,
    };
    Ok(out.remove(0))
}

/// The reference: `x / maximum(sqrt(sum(x², axis=-1)), eps)` from core ops,
/// accumulated in f32 for half-precision inputs like the kernels.
#[track_caller]
pub fn l2_normalize_reference(x: &Array, eps: f32) -> Result<Array> {
    l2_normalize_reference_on(x, eps, StreamOrDevice::Default)
}

/// [`l2_normalize_reference`] on a chosen stream or device.
#[track_caller]
pub fn l2_normalize_reference_on<'s>(
    x: &Array,
    eps: f32,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<Array> {
    let s = on.into().resolve()?;
    let wide = if x.dtype().is_float() && x.dtype() != Dtype::Float64 {
        ops::astype_on(x, Dtype::Float32, &s)?
    } else {
        x.clone()
    };
    let sq = ops::sum_axis_on(&ops::square_on(&wide, &s)?, -1, true, &s)?;
    let norm = ops::maximum_on(&ops::sqrt_on(&sq, &s)?, &Array::scalar(eps)?, &s)?;
    ops::astype_on(&ops::divide_on(&wide, &norm, &s)?, x.dtype(), &s)
}
