//! [`Embedding`]: a lookup table of vectors.

use mlx_rs_core::{ops, Array, Dtype, Result};

use crate::error::invalid;
use crate::module::{Module, Param};

/// Maps integer ids to rows of `weight` `[num_embeddings, dims]`.
///
/// ```
/// use mlx_nn::{Embedding, Module};
/// use mlx_rs_core::Array;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let emb = Embedding::new(10, 4)?;
/// let ids = Array::from_slice(&[1i32, 7, 7], &[3])?;
/// assert_eq!(emb.forward(&ids)?.shape(), [3, 4]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Embedding {
    /// `[num_embeddings, dims]`.
    pub weight: Param,
}

impl Embedding {
    /// A table drawn from `N(0, 1/dims)` (as MLX does), float32.
    #[track_caller]
    pub fn new(num_embeddings: i32, dims: i32) -> Result<Embedding> {
        if num_embeddings <= 0 || dims <= 0 {
            return Err(invalid(format!(
                "Embedding needs positive sizes, got {num_embeddings} x {dims}"
            )));
        }
        let scale = (1.0 / dims as f32).sqrt();
        let w = ops::random::normal(&[num_embeddings, dims], Dtype::Float32, 0.0, scale, None)?;
        Ok(Embedding {
            weight: Param::new(w),
        })
    }

    /// A table from an existing `[num_embeddings, dims]` array.
    #[track_caller]
    pub fn from_weight(weight: Array) -> Result<Embedding> {
        if weight.ndim() != 2 {
            return Err(invalid(format!(
                "Embedding weight must be [num_embeddings, dims], got {:?}",
                weight.shape()
            )));
        }
        Ok(Embedding {
            weight: Param::new(weight),
        })
    }

    /// Uses the table as an output projection: `x @ weightᵀ` (tied weights).
    #[track_caller]
    pub fn as_linear(&self, x: &Array) -> Result<Array> {
        ops::matmul(x, &ops::transpose(&self.weight)?)
    }
}

crate::impl_members!(Embedding { weight });

impl Module for Embedding {
    /// Ids of any integer dtype and shape `S` give `S + [dims]`. Ids outside
    /// `0..num_embeddings` are an `Err` (checked on the values, which
    /// evaluates `x`).
    fn forward(&self, x: &Array) -> Result<Array> {
        if x.dtype().is_float() || x.dtype() == Dtype::Bool {
            return Err(invalid(format!(
                "Embedding takes integer ids, got {:?}",
                x.dtype()
            )));
        }
        let n = self.weight.shape()[0];
        if x.size() > 0 {
            let ids = x.astype(Dtype::Int64)?;
            let lo = ops::min(&ids, false)?.item::<i64>()?;
            let hi = ops::max(&ids, false)?.item::<i64>()?;
            if lo < 0 || hi >= n as i64 {
                return Err(invalid(format!(
                    "Embedding: ids span {lo}..={hi}, outside the table's 0..{n} (weight shape {:?})",
                    self.weight.shape()
                )));
            }
        }
        ops::take_axis(&self.weight, x, 0)
    }
}
