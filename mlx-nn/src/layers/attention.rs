//! [`MultiHeadAttention`] on MLX's fused attention, and [`Rope`].

use mlx_rs_core::ops::fast::{self, AttentionMask};
use mlx_rs_core::{ops, Array, Result};

use crate::error::invalid;
use crate::layers::linear::Linear;
use crate::module::Module;

/// Rotary position embedding (MLX's fast kernel) over the last axis of
/// `[.., L, D]` input, positions along axis `-2`; see
/// [`mlx_rs_core::ops::fast::rope`] for the exact rotation.
#[derive(Clone, Debug)]
pub struct Rope {
    /// Features rotated (from the start of the last axis; even).
    pub dims: i32,
    /// Rotate adjacent pairs `(x[2i], x[2i+1])` instead of halves.
    pub traditional: bool,
    /// Frequency base (10000 in most models).
    pub base: f32,
    /// Position scale.
    pub scale: f32,
}

impl Rope {
    /// RoPE over `dims` features.
    #[track_caller]
    pub fn new(dims: i32, traditional: bool, base: f32) -> Result<Rope> {
        if dims <= 0 || dims % 2 != 0 {
            return Err(invalid(format!(
                "Rope needs a positive, even dims, got {dims}"
            )));
        }
        Ok(Rope {
            dims,
            traditional,
            base,
            scale: 1.0,
        })
    }

    /// RoPE with positions starting at `offset` (decoding with a cache).
    #[track_caller]
    pub fn forward_at(&self, x: &Array, offset: i32) -> Result<Array> {
        let xs = x.shape();
        if xs.len() < 2 || xs[xs.len() - 1] < self.dims {
            return Err(invalid(format!(
                "Rope: input shape {xs:?} must be [.., L, D] with D >= {}",
                self.dims
            )));
        }
        fast::rope(
            x,
            self.dims,
            self.traditional,
            Some(self.base),
            self.scale,
            offset,
            None,
        )
    }
}

crate::impl_members!(Rope {});

impl Module for Rope {
    fn forward(&self, x: &Array) -> Result<Array> {
        self.forward_at(x, 0)
    }
}

/// Multi-head attention with Python MLX's parameter names (`query_proj`,
/// `key_proj`, `value_proj`, `out_proj`), computed by MLX's fused
/// scaled-dot-product attention.
///
/// ```
/// use mlx_nn::{Module, MultiHeadAttention};
/// use mlx_rs_core::{ops, ops::fast::AttentionMask, Dtype};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let mha = MultiHeadAttention::new(16, 4, false)?;
/// let x = ops::random::normal(&[2, 5, 16], Dtype::Float32, 0.0, 1.0, None)?;
/// let y = mha.attend(&x, &x, &x, AttentionMask::Causal)?;
/// assert_eq!(y.shape(), [2, 5, 16]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    /// Queries `[dims, dims]`.
    pub query_proj: Linear,
    /// Keys `[dims, dims]`.
    pub key_proj: Linear,
    /// Values `[dims, dims]`.
    pub value_proj: Linear,
    /// Output `[dims, dims]`.
    pub out_proj: Linear,
    /// Number of heads (divides `dims`).
    pub num_heads: i32,
}

impl MultiHeadAttention {
    /// Attention over `dims` features in `num_heads` heads; `bias` gives the
    /// four projections biases.
    #[track_caller]
    pub fn new(dims: i32, num_heads: i32, bias: bool) -> Result<MultiHeadAttention> {
        if num_heads <= 0 || dims <= 0 || dims % num_heads != 0 {
            return Err(invalid(format!(
                "MultiHeadAttention: {dims} features do not split into {num_heads} heads"
            )));
        }
        Ok(MultiHeadAttention {
            query_proj: Linear::new(dims, dims, bias)?,
            key_proj: Linear::new(dims, dims, bias)?,
            value_proj: Linear::new(dims, dims, bias)?,
            out_proj: Linear::new(dims, dims, bias)?,
            num_heads,
        })
    }

    /// `[B, L, H·D]` → `[B, H, L, D]`.
    fn heads(&self, x: &Array) -> Result<Array> {
        let s = x.shape();
        let split = ops::reshape(x, &[s[0], s[1], self.num_heads, -1])?;
        ops::transpose_axes(&split, &[0, 2, 1, 3])
    }

    /// Attention of `queries` `[B, L_q, dims]` over `keys` and `values`
    /// `[B, L_kv, dims]` with `mask` (none, causal, or an array broadcastable
    /// to `[B, heads, L_q, L_kv]`: boolean, or additive in the queries' dtype).
    #[track_caller]
    pub fn attend(
        &self,
        queries: &Array,
        keys: &Array,
        values: &Array,
        mask: AttentionMask<'_>,
    ) -> Result<Array> {
        let dims = self.query_proj.input_dims();
        for (name, a) in [("queries", queries), ("keys", keys), ("values", values)] {
            let s = a.shape();
            if s.len() != 3 || s[2] != dims {
                return Err(invalid(format!(
                    "MultiHeadAttention: {name} shape {s:?} must be [B, L, {dims}]"
                )));
            }
        }
        if keys.shape()[..2] != values.shape()[..2] {
            return Err(invalid(format!(
                "MultiHeadAttention: keys {:?} and values {:?} differ in batch or length",
                keys.shape(),
                values.shape()
            )));
        }
        let q = self.heads(&self.query_proj.forward(queries)?)?;
        let k = self.heads(&self.key_proj.forward(keys)?)?;
        let v = self.heads(&self.value_proj.forward(values)?)?;
        let head_dim = dims / self.num_heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let o = fast::scaled_dot_product_attention(&q, &k, &v, scale, mask)?;
        let qs = queries.shape();
        let merged = ops::reshape(
            &ops::transpose_axes(&o, &[0, 2, 1, 3])?,
            &[qs[0], qs[1], dims],
        )?;
        self.out_proj.forward(&merged)
    }
}

crate::impl_members!(MultiHeadAttention {
    query_proj,
    key_proj,
    value_proj,
    out_proj
});

impl Module for MultiHeadAttention {
    /// Self-attention without a mask.
    fn forward(&self, x: &Array) -> Result<Array> {
        self.attend(x, x, x, AttentionMask::None)
    }
}
