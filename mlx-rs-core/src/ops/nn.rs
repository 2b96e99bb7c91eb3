//! Everyday neural-network functions (Python's `mlx.nn` functional forms):
//! activations, `log_softmax`, `one_hot` and the cross-entropy loss.
//!
//! ```
//! use mlx_rs_core::{ops::nn, Array};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let x = Array::from_slice(&[-1.0f32, 0.0, 2.0], &[3])?;
//! assert_eq!(nn::relu(&x)?.to_vec::<f32>()?, [0.0, 0.0, 2.0]);
//! let logits = Array::from_slice(&[2.0f32, 0.0, 0.0, 2.0], &[2, 2])?;
//! let targets = Array::from_slice(&[0i32, 1], &[2])?;
//! let loss = nn::cross_entropy(&logits, &targets)?.mean()?;
//! assert!((loss.item::<f32>()? - (1.0 + (-2.0f32).exp()).ln()).abs() < 1e-6);
//! # Ok(()) }
//! ```

use crate::{ops, Array, Dtype, Error, Result};

/// `max(x, 0)`.
#[track_caller]
pub fn relu(x: &Array) -> Result<Array> {
    x.maximum(0.0)
}

/// Exact GELU: `x * Φ(x) = x / 2 * (1 + erf(x / √2))` (Python's
/// `nn.gelu`).
#[track_caller]
pub fn gelu(x: &Array) -> Result<Array> {
    let cdf = ((x * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)?;
    (x * 0.5)? * cdf
}

/// GELU with the tanh approximation:
/// `x / 2 * (1 + tanh(√(2/π) (x + 0.044715 x³)))` (Python's
/// `nn.gelu_approx`).
#[track_caller]
pub fn gelu_tanh(x: &Array) -> Result<Array> {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let inner = ((x * x)? * x)? * 0.044715;
    let t = ((x + inner)? * c)?.tanh()?;
    (x * 0.5)? * (t + 1.0)?
}

/// SiLU (swish): `x * sigmoid(x)`.
#[track_caller]
pub fn silu(x: &Array) -> Result<Array> {
    x * x.sigmoid()?
}

/// `x - logsumexp(x)` along `axis`, computed stably.
#[track_caller]
pub fn log_softmax(x: &Array, axis: i32) -> Result<Array> {
    x - ops::logsumexp_axis(x, axis, true)?
}

/// One-hot rows: `out[.., i, c] = (indices[.., i] == c)` for `c` in
/// `0..num_classes`, as `dtype`. `indices` must be integers.
#[track_caller]
pub fn one_hot(indices: &Array, num_classes: i32, dtype: Dtype) -> Result<Array> {
    if !indices.dtype().is_integer() {
        return Err(Error::invalid(format!(
            "one_hot needs integer indices, got {:?}",
            indices.dtype()
        )));
    }
    if num_classes <= 0 {
        return Err(Error::invalid(format!(
            "one_hot needs a positive number of classes, got {num_classes}"
        )));
    }
    let classes = ops::arange(0.0, f64::from(num_classes), 1.0, indices.dtype())?;
    indices.expand_dims(-1)?.equal(&classes)?.astype(dtype)
}

/// Cross-entropy loss per row: `logsumexp(logits) - logits[target]` along
/// the last axis, for `logits` `[.., C]` and integer class `targets` of
/// `logits`' shape without the last axis (no reduction, as Python's
/// `nn.losses.cross_entropy(..., reduction="none")`; take `.mean()`).
/// Targets outside `0..C` read a clamped class (targets are lazy values,
/// so they are not range-checked here).
#[track_caller]
pub fn cross_entropy(logits: &Array, targets: &Array) -> Result<Array> {
    if !targets.dtype().is_integer() {
        return Err(Error::invalid(format!(
            "cross_entropy needs integer class targets, got {:?} (for one-hot or \
             probability targets use -(targets * log_softmax(logits)).sum_axis(-1))",
            targets.dtype()
        )));
    }
    let expected = logits.shape().split_last().map(|(_, r)| r.to_vec());
    if expected.as_deref() != Some(&targets.shape()[..]) {
        return Err(Error::invalid(format!(
            "cross_entropy: logits {:?} need targets of shape {:?}, got {:?}",
            logits.shape(),
            expected.unwrap_or_default(),
            targets.shape()
        )));
    }
    let picked = logits.take_along_axis(&targets.expand_dims(-1)?, -1)?;
    ops::logsumexp_axis(logits, -1, false)? - picked.squeeze_axes(-1)?
}
