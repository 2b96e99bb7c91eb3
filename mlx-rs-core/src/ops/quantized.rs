//! Quantized weights: `quantize`, `dequantize`, `quantized_matmul`,
//! `gather_qmm`, `qqmm`, and float8 conversions.

use std::ffi::CStr;

use crate::ffi::{array_op, vector_op};
use crate::ops::raw_or_null;
use crate::{Array, Dtype, Error, Result};

/// How a weight is quantized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum QuantizationMode {
    /// Integers with a float scale and bias per group (bits 2, 3, 4, 5, 6 or
    /// 8; group size 32, 64 or 128).
    #[default]
    Affine,
    /// OCP microscaling FP4 (E2M1 values, an E8M0 scale per 32 values; bits 4).
    Mxfp4,
    /// OCP microscaling FP8 (E4M3 values, an E8M0 scale per 32 values; bits 8).
    Mxfp8,
    /// NVIDIA FP4 (E2M1 values, an E4M3 scale per 16 values; bits 4).
    Nvfp4,
}

impl QuantizationMode {
    /// The name MLX uses (`"affine"`, `"mxfp4"`, `"mxfp8"`, `"nvfp4"`).
    pub fn name(self) -> &'static str {
        match self {
            QuantizationMode::Affine => "affine",
            QuantizationMode::Mxfp4 => "mxfp4",
            QuantizationMode::Mxfp8 => "mxfp8",
            QuantizationMode::Nvfp4 => "nvfp4",
        }
    }

    fn c_name(self) -> &'static CStr {
        match self {
            QuantizationMode::Affine => c"affine",
            QuantizationMode::Mxfp4 => c"mxfp4",
            QuantizationMode::Mxfp8 => c"mxfp8",
            QuantizationMode::Nvfp4 => c"nvfp4",
        }
    }

    /// Whether the mode stores a bias per group ([`QuantizationMode::Affine`] only).
    pub fn has_biases(self) -> bool {
        self == QuantizationMode::Affine
    }
}

/// A quantized weight as [`quantize`] returns it.
#[derive(Clone, Debug)]
pub struct Quantized {
    /// The packed values (`uint32`), last axis `K · bits / 32`.
    pub weight: Array,
    /// One scale per group: last axis `K / group_size`.
    pub scales: Array,
    /// One bias per group ([`QuantizationMode::Affine`] only).
    pub biases: Option<Array>,
}

fn optional_int(v: i32) -> mlx_sys::mlx_optional_int {
    mlx_sys::mlx_optional_int {
        value: v,
        has_value: true,
    }
}

/// An affine weight needs its biases; the other modes have none.
#[track_caller]
fn check_biases(mode: QuantizationMode, biases: Option<&Array>) -> Result<()> {
    match (mode.has_biases(), biases.is_some()) {
        (true, false) => Err(Error::invalid("affine quantization needs biases")),
        (false, true) => Err(Error::invalid(format!(
            "{} quantization has no biases",
            mode.name()
        ))),
        _ => Ok(()),
    }
}

op! {
    /// Quantizes `w` (float, last axis a multiple of `group_size`) in groups
    /// along its last axis.
    ///
    /// In the [`QuantizationMode::Affine`] mode each group of `group_size`
    /// consecutive values along the last axis of a weight `w` is stored as
    /// `bits`-bit unsigned integers `q` with one `scale` and one `bias` per
    /// group, so that `w ≈ scale · q + bias`, with `q` in `0..2^bits`; MLX derives
    /// `scale` and `bias` from the group's minimum and maximum, and every value is
    /// reconstructed within one step (`|scale|`) of the original (checked by this
    /// crate's tests against an f64 decoding of the packed integers). The integers
    /// are packed little-endian into `uint32` words, so the packed last axis has
    /// `K · bits / 32` entries.
    ///
    /// ```
    /// use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let w = ops::random::normal(&[8, 64], mlx_rs_core::Dtype::Float32, 0.0, 1.0, None)?;
    /// let q = ops::quantize(&w, 64, 4, ops::QuantizationMode::Affine)?;
    /// assert_eq!(q.weight.shape(), [8, 8]); // 64 values × 4 bits / 32
    /// let back = ops::dequantize(&q.weight, &q.scales, q.biases.as_ref(), 64, 4, ops::QuantizationMode::Affine)?;
    /// assert_eq!(back.shape(), [8, 64]);
    /// # Ok(()) }
    /// ```
    fn quantize(w: &Array, group_size: i32, bits: i32, mode: QuantizationMode) -> Quantized |s| {
        let parts = vector_op!(mlx_quantize(
            w.as_raw(),
            optional_int(group_size),
            optional_int(bits),
            mode.c_name().as_ptr(),
            raw_or_null(None),
            s.as_raw()
        ))?;
        let mut it = parts.into_iter();
        match (it.next(), it.next(), it.next()) {
            (Some(weight), Some(scales), biases) => Ok(Quantized { weight, scales, biases }),
            _ => Err(Error::invalid("MLX's quantize returned fewer than two arrays")),
        }
    }
}

op! {
    /// Reverses [`quantize`]: `scale · q + bias` per group (in the dtype of
    /// `scales`). `biases` is required for [`QuantizationMode::Affine`] and
    /// must be `None` otherwise.
    fn dequantize(w: &Array, scales: &Array, biases: Option<&Array>, group_size: i32, bits: i32, mode: QuantizationMode) -> Array |s| {
        check_biases(mode, biases)?;
        array_op!(mlx_dequantize(
            w.as_raw(),
            scales.as_raw(),
            raw_or_null(biases),
            optional_int(group_size),
            optional_int(bits),
            mode.c_name().as_ptr(),
            raw_or_null(None),
            mlx_sys::mlx_optional_dtype { value: mlx_sys::MLX_FLOAT32, has_value: false },
            s.as_raw()
        ))
    }
}

op! {
    /// `x @ dequantize(w)ᵀ` (with `transpose`, the layout of a Linear weight
    /// `[N, K]`) or `x @ dequantize(w)` without, computed from the packed
    /// weight directly (the weight is never expanded in memory).
    fn quantized_matmul(x: &Array, w: &Array, scales: &Array, biases: Option<&Array>, transpose: bool, group_size: i32, bits: i32, mode: QuantizationMode) -> Array |s| {
        check_biases(mode, biases)?;
        array_op!(mlx_quantized_matmul(
            x.as_raw(),
            w.as_raw(),
            scales.as_raw(),
            raw_or_null(biases),
            transpose,
            optional_int(group_size),
            optional_int(bits),
            mode.c_name().as_ptr(),
            s.as_raw()
        ))
    }
}

op! {
    /// [`quantized_matmul`] with gathered operands (mixture-of-experts): the
    /// batch entries of `x` picked by `lhs_indices` times the stacked weights
    /// (`w` `[E, N, K/..]`) picked by `rhs_indices`. `None` indices take the
    /// batch as it is. `sorted_indices` promises `rhs_indices` ascending
    /// (a faster kernel).
    fn gather_qmm(x: &Array, w: &Array, scales: &Array, biases: Option<&Array>, lhs_indices: Option<&Array>, rhs_indices: Option<&Array>, transpose: bool, group_size: i32, bits: i32, mode: QuantizationMode, sorted_indices: bool) -> Array |s| {
        check_biases(mode, biases)?;
        array_op!(mlx_gather_qmm(
            x.as_raw(),
            w.as_raw(),
            scales.as_raw(),
            raw_or_null(biases),
            raw_or_null(lhs_indices),
            raw_or_null(rhs_indices),
            transpose,
            optional_int(group_size),
            optional_int(bits),
            mode.c_name().as_ptr(),
            sorted_indices,
            s.as_raw()
        ))
    }
}

op! {
    /// `x @ wᵀ` where `w` is quantized (`w_scales` its scales, a
    /// microscaling or NVFP4 mode) and `x` is quantized on the fly in the same
    /// mode. MLX 0.32.2 implements it on CUDA only; other devices return `Err`.
    fn qqmm(x: &Array, w: &Array, w_scales: &Array, group_size: i32, bits: i32, mode: QuantizationMode) -> Array |s| {
        if mode == QuantizationMode::Affine {
            return Err(Error::invalid("qqmm takes mxfp4, mxfp8 or nvfp4, not affine"));
        }
        array_op!(mlx_qqmm(
            x.as_raw(),
            w.as_raw(),
            w_scales.as_raw(),
            optional_int(group_size),
            optional_int(bits),
            mode.c_name().as_ptr(),
            raw_or_null(None),
            raw_or_null(None),
            s.as_raw()
        ))
    }
}

op! {
    /// Rounds a float array to float8 E4M3 (saturating), stored as `uint8`.
    fn to_fp8(x: &Array) => mlx_to_fp8(x.as_raw());
}

op! {
    /// Reads `uint8` float8 E4M3 values back as `dtype` (a float type).
    fn from_fp8(x: &Array, dtype: Dtype) -> Array |s| {
        if !matches!(dtype, Dtype::Float16 | Dtype::Bfloat16 | Dtype::Float32) {
            return Err(Error::invalid(format!("from_fp8 returns float16, bfloat16 or float32, not {dtype:?}")));
        }
        array_op!(mlx_from_fp8(x.as_raw(), dtype.to_raw(), s.as_raw()))
    }
}
