//! Normalization layers: [`LayerNorm`], [`RmsNorm`], [`GroupNorm`].

use mlx_rs_core::{ops, Array, Dtype, Result};

use crate::error::invalid;
use crate::module::{Module, Param};

#[track_caller]
fn check_last(name: &str, x: &Array, dims: i32, param: &Param) -> Result<()> {
    let xs = x.shape();
    if xs.last() != Some(&dims) {
        return Err(invalid(format!(
            "{name}: input shape {xs:?} does not end in {dims} (weight shape {:?})",
            param.shape()
        )));
    }
    Ok(())
}

fn ones(dims: i32) -> Result<Param> {
    Ok(Param::new(ops::ones(&[dims], Dtype::Float32)?))
}

fn zeros(dims: i32) -> Result<Param> {
    Ok(Param::new(ops::zeros(&[dims], Dtype::Float32)?))
}

/// `(x - mean) / sqrt(var + eps) · weight + bias` over the last axis
/// (MLX's fast kernel). `weight` starts at 1 and `bias` at 0.
///
/// ```
/// use mlx_nn::{LayerNorm, Module};
/// use mlx_rs_core::Array;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let ln = LayerNorm::new(2, 1e-5, true)?;
/// let y = ln.forward(&Array::from_slice(&[1.0f32, 3.0], &[1, 2])?)?;
/// let v = y.to_vec::<f32>()?;
/// assert!((v[0] + 1.0).abs() < 1e-3 && (v[1] - 1.0).abs() < 1e-3);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// `[dims]`, if affine.
    pub weight: Option<Param>,
    /// `[dims]`, if affine.
    pub bias: Option<Param>,
    /// Added to the variance.
    pub eps: f32,
    dims: i32,
}

impl LayerNorm {
    /// A layer norm over `dims` features; `affine` adds `weight` and `bias`.
    #[track_caller]
    pub fn new(dims: i32, eps: f32, affine: bool) -> Result<LayerNorm> {
        if dims <= 0 {
            return Err(invalid(format!(
                "LayerNorm needs positive dims, got {dims}"
            )));
        }
        let (weight, bias) = if affine {
            (Some(ones(dims)?), Some(zeros(dims)?))
        } else {
            (None, None)
        };
        Ok(LayerNorm {
            weight,
            bias,
            eps,
            dims,
        })
    }
}

crate::impl_members!(LayerNorm { weight, bias });

impl Module for LayerNorm {
    fn forward(&self, x: &Array) -> Result<Array> {
        let xs = x.shape();
        if xs.last() != Some(&self.dims) {
            return Err(invalid(format!(
                "LayerNorm: input shape {xs:?} does not end in {}",
                self.dims
            )));
        }
        ops::fast::layer_norm(x, self.weight.as_deref(), self.bias.as_deref(), self.eps)
    }
}

/// `x / sqrt(mean(x²) + eps) · weight` over the last axis (MLX's fast
/// kernel). `weight` starts at 1.
#[derive(Clone, Debug)]
pub struct RmsNorm {
    /// `[dims]`.
    pub weight: Param,
    /// Added to the mean square.
    pub eps: f32,
}

impl RmsNorm {
    /// An RMS norm over `dims` features.
    #[track_caller]
    pub fn new(dims: i32, eps: f32) -> Result<RmsNorm> {
        if dims <= 0 {
            return Err(invalid(format!("RmsNorm needs positive dims, got {dims}")));
        }
        Ok(RmsNorm {
            weight: ones(dims)?,
            eps,
        })
    }
}

crate::impl_members!(RmsNorm { weight });

impl Module for RmsNorm {
    fn forward(&self, x: &Array) -> Result<Array> {
        check_last("RmsNorm", x, self.weight.shape()[0], &self.weight)?;
        ops::fast::rms_norm(x, Some(&self.weight), self.eps)
    }
}

/// Group normalization over channels-last input `[B, ..., C]`: the `C`
/// channels are split into `groups` groups, and each group is normalized over
/// all its positions and channels, then scaled by `weight` and shifted by
/// `bias` per channel (the layout of MLX's conv layers; PyTorch's GroupNorm
/// is the same math over channels-first input).
#[derive(Clone, Debug)]
pub struct GroupNorm {
    /// `[C]`, if affine.
    pub weight: Option<Param>,
    /// `[C]`, if affine.
    pub bias: Option<Param>,
    /// Number of groups (divides `C`).
    pub groups: i32,
    /// Added to the variance.
    pub eps: f32,
    dims: i32,
}

impl GroupNorm {
    /// A group norm of `dims` channels in `groups` groups.
    #[track_caller]
    pub fn new(groups: i32, dims: i32, eps: f32, affine: bool) -> Result<GroupNorm> {
        if groups <= 0 || dims <= 0 || dims % groups != 0 {
            return Err(invalid(format!(
                "GroupNorm: {dims} channels do not split into {groups} groups"
            )));
        }
        let (weight, bias) = if affine {
            (Some(ones(dims)?), Some(zeros(dims)?))
        } else {
            (None, None)
        };
        Ok(GroupNorm {
            weight,
            bias,
            groups,
            eps,
            dims,
        })
    }
}

crate::impl_members!(GroupNorm { weight, bias });

impl Module for GroupNorm {
    fn forward(&self, x: &Array) -> Result<Array> {
        let xs = x.shape();
        if xs.len() < 2 || xs.last() != Some(&self.dims) {
            return Err(invalid(format!(
                "GroupNorm: input shape {xs:?} must be [B, ..., {}]",
                self.dims
            )));
        }
        let b = xs[0];
        let g = self.groups;
        // [B, positions, G, C/G] → normalize over positions and C/G.
        let grouped = ops::reshape(x, &[b, -1, g, self.dims / g])?;
        let mean = ops::mean_axes(&grouped, &[1, 3], true)?;
        let var = ops::var_axes(&grouped, &[1, 3], true, 0)?;
        let normed = ((&grouped - &mean)? * ops::rsqrt(&(&var + self.eps)?)?)?;
        let mut y = ops::reshape(&normed, &xs)?;
        if let Some(w) = &self.weight {
            y = (&y * w.value())?;
        }
        if let Some(bias) = &self.bias {
            y = (&y + bias.value())?;
        }
        Ok(y)
    }
}
