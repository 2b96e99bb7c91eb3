//! Loss functions.

use mlx_rs_core::{ops, Array, Result};

/// Mean cross-entropy of `logits` `[N, C]` against integer class `targets`
/// `[N]`: the mean of [`ops::nn::cross_entropy`], which checks the shapes
/// and dtypes.
///
/// ```
/// use mlx_rs_core::Array;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let logits = Array::from_slice(&[0.0f32, 0.0], &[1, 2])?;
/// let t = Array::from_slice(&[1i32], &[1])?;
/// let l = mlx_nn::losses::cross_entropy(&logits, &t)?.item::<f32>()?;
/// assert!((l - std::f32::consts::LN_2).abs() < 1e-6);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn cross_entropy(logits: &Array, targets: &Array) -> Result<Array> {
    ops::mean(&ops::nn::cross_entropy(logits, targets)?, false)
}

/// Mean squared error.
#[track_caller]
pub fn mse(predictions: &Array, targets: &Array) -> Result<Array> {
    ops::mean(&ops::square(&(predictions - targets)?)?, false)
}

/// Fraction of rows of `logits` `[N, C]` whose largest entry is the target.
#[track_caller]
pub fn accuracy(logits: &Array, targets: &Array) -> Result<f32> {
    let pred = ops::argmax_axis(logits, -1, false)?;
    let hits = ops::equal(&pred, &targets.astype(pred.dtype())?)?;
    ops::mean(&hits.astype(mlx_rs_core::Dtype::Float32)?, false)?.item::<f32>()
}
