//! [`Conv1d`] and [`Conv2d`], channels-last as MLX computes them.

use mlx_rs_core::{ops, Array, Dtype, Result};

use crate::error::invalid;
use crate::module::{Module, Param};

fn init(shape: &[i32], fan_in: i32) -> Result<Array> {
    let k = 1.0 / (fan_in as f32).sqrt();
    ops::random::uniform(-k, k, shape, Dtype::Float32, None)
}

/// 1-D convolution over `[B, L, C_in]` input with `weight`
/// `[C_out, K, C_in]` and `bias` `[C_out]` (MLX's layout; a PyTorch weight
/// `[C_out, C_in, K]` converts with `ops::swapaxes(w, 1, 2)`).
#[derive(Clone, Debug)]
pub struct Conv1d {
    /// `[C_out, K, C_in]`.
    pub weight: Param,
    /// `[C_out]`, if present.
    pub bias: Option<Param>,
    /// Step between windows.
    pub stride: i32,
    /// Zeros added at both ends.
    pub padding: i32,
    /// Spacing of the kernel taps.
    pub dilation: i32,
}

impl Conv1d {
    /// A convolution with weights from `U(-1/√(C_in·K), 1/√(C_in·K))`.
    #[track_caller]
    pub fn new(
        in_channels: i32,
        out_channels: i32,
        kernel: i32,
        stride: i32,
        padding: i32,
        bias: bool,
    ) -> Result<Conv1d> {
        if in_channels <= 0 || out_channels <= 0 || kernel <= 0 || stride <= 0 || padding < 0 {
            return Err(invalid(format!(
                "Conv1d: bad configuration in {in_channels}, out {out_channels}, kernel {kernel}, stride {stride}, padding {padding}"
            )));
        }
        let fan_in = in_channels * kernel;
        Ok(Conv1d {
            weight: Param::new(init(&[out_channels, kernel, in_channels], fan_in)?),
            bias: if bias {
                Some(Param::new(init(&[out_channels], fan_in)?))
            } else {
                None
            },
            stride,
            padding,
            dilation: 1,
        })
    }
}

crate::impl_members!(Conv1d { weight, bias });

impl Module for Conv1d {
    fn forward(&self, x: &Array) -> Result<Array> {
        let (xs, ws) = (x.shape(), self.weight.shape());
        if xs.len() != 3 || xs[2] != ws[2] {
            return Err(invalid(format!(
                "Conv1d: input shape {xs:?} must be [B, L, {}] (weight shape {ws:?})",
                ws[2]
            )));
        }
        let y = ops::conv1d(x, &self.weight, self.stride, self.padding, self.dilation, 1)?;
        match &self.bias {
            Some(b) => &y + b.value(),
            None => Ok(y),
        }
    }
}

/// 2-D convolution over `[B, H, W, C_in]` input with `weight`
/// `[C_out, KH, KW, C_in]` and `bias` `[C_out]` (MLX's layout; a PyTorch
/// weight `[C_out, C_in, KH, KW]` converts with
/// `ops::transpose_axes(w, &[0, 2, 3, 1])`).
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// `[C_out, KH, KW, C_in]`.
    pub weight: Param,
    /// `[C_out]`, if present.
    pub bias: Option<Param>,
    /// Steps between windows (rows, columns).
    pub stride: [i32; 2],
    /// Zeros added on each side (rows, columns).
    pub padding: [i32; 2],
    /// Spacing of the kernel taps.
    pub dilation: [i32; 2],
}

impl Conv2d {
    /// A convolution with a square `kernel`, the same `stride` and `padding`
    /// on both axes, weights from `U(-1/√(C_in·K²), 1/√(C_in·K²))`.
    #[track_caller]
    pub fn new(
        in_channels: i32,
        out_channels: i32,
        kernel: i32,
        stride: i32,
        padding: i32,
        bias: bool,
    ) -> Result<Conv2d> {
        if in_channels <= 0 || out_channels <= 0 || kernel <= 0 || stride <= 0 || padding < 0 {
            return Err(invalid(format!(
                "Conv2d: bad configuration in {in_channels}, out {out_channels}, kernel {kernel}, stride {stride}, padding {padding}"
            )));
        }
        let fan_in = in_channels * kernel * kernel;
        Ok(Conv2d {
            weight: Param::new(init(&[out_channels, kernel, kernel, in_channels], fan_in)?),
            bias: if bias {
                Some(Param::new(init(&[out_channels], fan_in)?))
            } else {
                None
            },
            stride: [stride; 2],
            padding: [padding; 2],
            dilation: [1; 2],
        })
    }
}

crate::impl_members!(Conv2d { weight, bias });

impl Module for Conv2d {
    fn forward(&self, x: &Array) -> Result<Array> {
        let (xs, ws) = (x.shape(), self.weight.shape());
        if xs.len() != 4 || xs[3] != ws[3] {
            return Err(invalid(format!(
                "Conv2d: input shape {xs:?} must be [B, H, W, {}] (weight shape {ws:?})",
                ws[3]
            )));
        }
        let y = ops::conv2d(x, &self.weight, self.stride, self.padding, self.dilation, 1)?;
        match &self.bias {
            Some(b) => &y + b.value(),
            None => Ok(y),
        }
    }
}
