//! Convolutions (cross-correlations, like most deep learning libraries).
//!
//! # Layout: channels last
//! MLX puts channels last, unlike PyTorch:
//! - input: `[N, spatial.., C_in]`, i.e. `NLC` (1-D), `NHWC` (2-D), `NDHWC` (3-D);
//! - weight: `[C_out, kernel spatial.., C_in / groups]`, i.e. `OLI`, `OHWI`, `ODHWI`;
//! - output: `[N, out spatial.., C_out]`.
//!
//! With stride `s`, padding `p` (on both sides), dilation `d` and kernel size
//! `k`, each output spatial size is `(n + 2p - d(k - 1) - 1) / s + 1`.
//! `groups` splits the input channels and output channels into that many
//! equal groups; output group `g` only sees input group `g` (`C_in` and
//! `C_out` must be divisible by `groups`). MLX supports `groups != 1` only
//! for 1-D and 2-D convolutions.
//!
//! On CPU streams, bfloat16 and float16 convolutions run in float32 and
//! are rounded once (see [`crate::ops::matmul`]).
//!
//! To convert from PyTorch's `NCHW` input and `OIHW` weight, move the channel
//! axis to the end (`ops::moveaxis(x, 1, -1)`) on both.

use crate::ffi::array_op;
use crate::Array;

/// MLX 0.32.2 divides by `groups` before checking it: 0 killed the process
/// (SIGFPE).
#[track_caller]
fn check_groups(groups: i32) -> crate::Result<()> {
    if groups < 1 {
        return Err(crate::Error::invalid(format!(
            "convolution: groups must be at least 1, got {groups}"
        )));
    }
    Ok(())
}

/// Works around an out-of-bounds write in MLX 0.32.2's CPU kernels for
/// 2-D and 3-D convolutions with kernel dilation or groups (`slow_conv_2D`,
/// `slow_conv_3D`; transposed convolutions use them too). With no input
/// dilation, they treat output positions below `ceil(padding_lo / stride)`
/// as "may touch the padding" and loop over them without clamping that
/// bound to the output size: when it exceeds the output size on some axis
/// (heavy padding, tiny output), the kernel writes past the output buffer
/// and corrupts the heap (SIGABRT or SIGSEGV later).
///
/// On such an axis the low padding is applied here as explicit zeros, so
/// MLX sees `padding_lo = 0` there and the kernel's bound is 0. Returns
/// `None` when the call is safe as it is (or invalid: MLX then reports the
/// error), so the caller runs its usual MLX op.
#[allow(clippy::too_many_arguments)]
fn conv_with_low_padding_applied(
    input: &Array,
    weight: &Array,
    stride: &[i32],
    padding_lo: &[i32],
    padding_hi: &[i32],
    kernel_dilation: &[i32],
    input_dilation: &[i32],
    groups: i32,
    flip: bool,
    s: &crate::Stream,
) -> crate::Result<Option<Array>> {
    let (x_shape, w_shape) = (input.shape(), weight.shape());
    let d = x_shape.len().saturating_sub(2);
    if d == 0 || w_shape.len() != d + 2 {
        return Ok(None);
    }
    // conv_general takes one value per axis, or one for all axes.
    let at = |v: &[i32], i: usize| match v.len() {
        1 => Some(v[0]),
        n if n == d => Some(v[i]),
        _ => None,
    };
    let mut lo = Vec::with_capacity(d);
    let mut explicit = Vec::with_capacity(d);
    for i in 0..d {
        let (Some(st), Some(pl), Some(ph), Some(kd), Some(id)) = (
            at(stride, i),
            at(padding_lo, i),
            at(padding_hi, i),
            at(kernel_dilation, i),
            at(input_dilation, i),
        ) else {
            return Ok(None);
        };
        if st < 1 || kd < 1 || id != 1 {
            // Input dilation makes MLX check every output position.
            return Ok(None);
        }
        let (st, pl, ph, kd) = (st as i64, pl as i64, ph as i64, kd as i64);
        let span = kd * (w_shape[i + 1] as i64 - 1) + 1;
        let out = (x_shape[i + 1] as i64 + pl + ph - span).div_euclid(st) + 1;
        if out < 1 {
            return Ok(None);
        }
        let unsafe_axis = pl > 0 && (pl + st - 1) / st > out;
        explicit.push(if unsafe_axis { pl as i32 } else { 0 });
        lo.push(if unsafe_axis { 0 } else { pl as i32 });
    }
    if explicit.iter().all(|&p| p == 0) {
        return Ok(None);
    }
    let hi: Vec<i32> = (0..d).map(|i| at(padding_hi, i).unwrap_or(0)).collect();
    let stride: Vec<i32> = (0..d).map(|i| at(stride, i).unwrap_or(1)).collect();
    let kernel_dilation: Vec<i32> = (0..d)
        .map(|i| at(kernel_dilation, i).unwrap_or(1))
        .collect();
    let ones = vec![1; d];
    let axes: Vec<i32> = (1..=d as i32).collect();
    let zero = super::astype_on(&Array::scalar(0.0f32)?, input.dtype(), s)?;
    let padded = super::pad_on(
        input,
        &axes,
        &explicit,
        &vec![0; d],
        &zero,
        super::PadMode::Constant,
        s,
    )?;
    Ok(Some(array_op!(mlx_conv_general(
        padded.as_raw(),
        weight.as_raw(),
        stride.as_ptr(),
        d,
        lo.as_ptr(),
        d,
        hi.as_ptr(),
        d,
        kernel_dilation.as_ptr(),
        d,
        ones.as_ptr(),
        d,
        groups,
        flip,
        s.as_raw()
    ))?))
}

op! {
    /// 1-D convolution of `input` `[N, L, C_in]` with `weight`
    /// `[C_out, K, C_in / groups]`, giving `[N, L_out, C_out]`.
    fn conv1d(input: &Array, weight: &Array, stride: i32, padding: i32, dilation: i32, groups: i32) -> Array |s| {
        check_groups(groups)?;
        super::half_via_f32(&[input, weight], &s, |x| {
            array_op!(mlx_conv1d(x[0].as_raw(), x[1].as_raw(), stride, padding, dilation, groups, s.as_raw()))
        })
    }
}

op! {
    /// 2-D convolution of `input` `[N, H, W, C_in]` with `weight`
    /// `[C_out, KH, KW, C_in / groups]`, giving `[N, H_out, W_out, C_out]`.
    /// `stride`, `padding` and `dilation` are per spatial axis (`[h, w]`).
    fn conv2d(input: &Array, weight: &Array, stride: [i32; 2], padding: [i32; 2], dilation: [i32; 2], groups: i32) -> Array |s| {
        check_groups(groups)?;
        super::half_via_f32(&[input, weight], &s, |x| {
            let one = [1, 1];
            if let Some(y) = conv_with_low_padding_applied(&x[0], &x[1], &stride, &padding, &padding, &dilation, &one, groups, false, &s)? {
                return Ok(y);
            }
            array_op!(mlx_conv2d(x[0].as_raw(), x[1].as_raw(), stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], groups, s.as_raw()))
        })
    }
}

op! {
    /// 3-D convolution of `input` `[N, D, H, W, C_in]` with `weight`
    /// `[C_out, KD, KH, KW, C_in / groups]`, giving `[N, D_out, H_out, W_out,
    /// C_out]`. `stride`, `padding` and `dilation` are per spatial axis;
    /// `groups` must be 1 (an MLX limitation).
    fn conv3d(input: &Array, weight: &Array, stride: [i32; 3], padding: [i32; 3], dilation: [i32; 3], groups: i32) -> Array |s| {
        check_groups(groups)?;
        super::half_via_f32(&[input, weight], &s, |x| {
            let one = [1, 1, 1];
            if let Some(y) = conv_with_low_padding_applied(&x[0], &x[1], &stride, &padding, &padding, &dilation, &one, groups, false, &s)? {
                return Ok(y);
            }
            array_op!(mlx_conv3d(x[0].as_raw(), x[1].as_raw(), stride[0], stride[1], stride[2], padding[0], padding[1], padding[2], dilation[0], dilation[1], dilation[2], groups, s.as_raw()))
        })
    }
}

op! {
    /// N-D convolution with every knob, in the layout of the module docs.
    ///
    /// Each per-axis slice has one entry per spatial axis (or a single entry
    /// used for all of them): `stride`, `padding_lo` / `padding_hi` (zeros
    /// added before / after), `kernel_dilation` (gaps between kernel taps)
    /// and `input_dilation` (`input_dilation - 1` zeros inserted between
    /// input elements, as in a transposed convolution). `flip` flips the
    /// kernel's spatial axes (a true convolution rather than a
    /// cross-correlation).
    fn conv_general(
        input: &Array,
        weight: &Array,
        stride: &[i32],
        padding_lo: &[i32],
        padding_hi: &[i32],
        kernel_dilation: &[i32],
        input_dilation: &[i32],
        groups: i32,
        flip: bool,
    ) -> Array |s| {
        check_groups(groups)?;
        super::half_via_f32(&[input, weight], &s, |x| {
            if let Some(y) = conv_with_low_padding_applied(&x[0], &x[1], stride, padding_lo, padding_hi, kernel_dilation, input_dilation, groups, flip, &s)? {
                return Ok(y);
            }
            array_op!(mlx_conv_general(
            x[0].as_raw(),
            x[1].as_raw(),
            stride.as_ptr(),
            stride.len(),
            padding_lo.as_ptr(),
            padding_lo.len(),
            padding_hi.as_ptr(),
            padding_hi.len(),
            kernel_dilation.as_ptr(),
            kernel_dilation.len(),
            input_dilation.as_ptr(),
            input_dilation.len(),
            groups,
            flip,
            s.as_raw()
        ))
        })
    }
}

/// Rejects settings that MLX 0.32.2 does not check before dividing by them
/// (`groups = 0` killed the process with SIGFPE) or that make no sense.
#[track_caller]
fn check_transpose_args(
    stride: &[i32],
    padding: &[i32],
    dilation: &[i32],
    output_padding: &[i32],
    groups: i32,
) -> crate::Result<()> {
    let checks: [(&str, &[i32], i32); 4] = [
        ("stride", stride, 1),
        ("dilation", dilation, 1),
        ("padding", padding, 0),
        ("output padding", output_padding, 0),
    ];
    for (what, values, min) in checks {
        if values.iter().any(|&v| v < min) {
            return Err(crate::Error::invalid(format!(
                "transposed convolution: {what} must be at least {min}, got {values:?}"
            )));
        }
    }
    check_groups(groups)
}

/// [`conv_with_low_padding_applied`] for a transposed convolution, which
/// MLX runs as a flipped convolution with input dilation `stride` and
/// padding `dilation * (k - 1) - padding` (plus `output_padding` after).
#[allow(clippy::too_many_arguments)]
fn conv_transpose_with_low_padding_applied(
    input: &Array,
    weight: &Array,
    stride: &[i32],
    padding: &[i32],
    dilation: &[i32],
    output_padding: &[i32],
    groups: i32,
    s: &crate::Stream,
) -> crate::Result<Option<Array>> {
    let w_shape = weight.shape();
    if w_shape.len() != stride.len() + 2 {
        return Ok(None);
    }
    let lo: Vec<i32> = (0..stride.len())
        .map(|i| dilation[i] * (w_shape[i + 1] - 1) - padding[i])
        .collect();
    let hi: Vec<i32> = lo.iter().zip(output_padding).map(|(l, o)| l + o).collect();
    let ones = vec![1; stride.len()];
    conv_with_low_padding_applied(
        input, weight, &ones, &lo, &hi, dilation, stride, groups, true, s,
    )
}

op! {
    /// 1-D transposed convolution (the gradient of [`conv1d`] with respect
    /// to its input) of `input` `[N, L, C_in]` with `weight`
    /// `[C_out, K, C_in / groups]`: each input position `i` adds
    /// `weight[.., k, ..] · input[i]` to output position
    /// `i * stride + k * dilation - padding`. The output length is
    /// `(L - 1) * stride - 2 * padding + dilation * (K - 1) + output_padding + 1`.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let x = Array::from_slice(&[1.0f32, 2.0], &[1, 2, 1])?;
    /// let w = Array::from_slice(&[1.0f32, 10.0], &[1, 2, 1])?;
    /// let y = ops::conv_transpose1d(&x, &w, 2, 0, 1, 0, 1)?;
    /// assert_eq!(y.to_vec::<f32>()?, [1.0, 10.0, 2.0, 20.0]);
    /// # Ok(()) }
    /// ```
    fn conv_transpose1d(input: &Array, weight: &Array, stride: i32, padding: i32, dilation: i32, output_padding: i32, groups: i32) -> Array |s| {
        check_transpose_args(&[stride], &[padding], &[dilation], &[output_padding], groups)?;
        array_op!(mlx_conv_transpose1d(input.as_raw(), weight.as_raw(), stride, padding, dilation, output_padding, groups, s.as_raw()))
    }
}

op! {
    /// 2-D transposed convolution of `input` `[N, H, W, C_in]` with `weight`
    /// `[C_out, KH, KW, C_in / groups]` (per axis as in [`conv_transpose1d`]).
    fn conv_transpose2d(input: &Array, weight: &Array, stride: [i32; 2], padding: [i32; 2], dilation: [i32; 2], output_padding: [i32; 2], groups: i32) -> Array |s| {
        check_transpose_args(&stride, &padding, &dilation, &output_padding, groups)?;
        if let Some(y) = conv_transpose_with_low_padding_applied(input, weight, &stride, &padding, &dilation, &output_padding, groups, &s)? {
            return Ok(y);
        }
        array_op!(mlx_conv_transpose2d(input.as_raw(), weight.as_raw(), stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], output_padding[0], output_padding[1], groups, s.as_raw()))
    }
}

op! {
    /// 3-D transposed convolution of `input` `[N, D, H, W, C_in]` with
    /// `weight` `[C_out, KD, KH, KW, C_in / groups]` (per axis as in
    /// [`conv_transpose1d`]).
    fn conv_transpose3d(input: &Array, weight: &Array, stride: [i32; 3], padding: [i32; 3], dilation: [i32; 3], output_padding: [i32; 3], groups: i32) -> Array |s| {
        check_transpose_args(&stride, &padding, &dilation, &output_padding, groups)?;
        if let Some(y) = conv_transpose_with_low_padding_applied(input, weight, &stride, &padding, &dilation, &output_padding, groups, &s)? {
            return Ok(y);
        }
        array_op!(mlx_conv_transpose3d(input.as_raw(), weight.as_raw(), stride[0], stride[1], stride[2], padding[0], padding[1], padding[2], dilation[0], dilation[1], dilation[2], output_padding[0], output_padding[1], output_padding[2], groups, s.as_raw()))
    }
}
