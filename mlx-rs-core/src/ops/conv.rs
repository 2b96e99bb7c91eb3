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

op! {
    /// 1-D convolution of `input` `[N, L, C_in]` with `weight`
    /// `[C_out, K, C_in / groups]`, giving `[N, L_out, C_out]`.
    fn conv1d(input: &Array, weight: &Array, stride: i32, padding: i32, dilation: i32, groups: i32) -> Array |s| {
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
        super::half_via_f32(&[input, weight], &s, |x| {
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
        super::half_via_f32(&[input, weight], &s, |x| {
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
        super::half_via_f32(&[input, weight], &s, |x| array_op!(mlx_conv_general(
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
        )))
    }
}
