//! Fused implementations of common neural-network blocks (MLX's `fast`
//! namespace): normalization, rotary embeddings and attention. Each matches a
//! composition of plain ops but runs as one kernel where MLX has one.
//!
//! ```
//! # use mlx_rs_core::{ops::{fast, random}, Dtype};
//! # fn main() -> mlx_rs_core::Result<()> {
//! // Batch 1, 8 heads, 16 positions, head size 64.
//! let q = random::normal(&[1, 8, 16, 64], Dtype::Float32, 0.0, 1.0, None)?;
//! let q = fast::rope(&q, 64, false, Some(10000.0), 1.0, 0, None)?;
//! let out = fast::scaled_dot_product_attention(
//!     &q, &q, &q, 1.0 / 8.0, fast::AttentionMask::Causal,
//! )?;
//! # Ok(()) }
//! ```

use std::ffi::CStr;

use crate::ffi::array_op;
use crate::ops::raw_or_null;
use crate::Array;

ops! {
    /// Root-mean-square normalization over the last axis:
    /// `x / sqrt(mean(x², -1) + eps) * weight`. `weight` (shape `[D]` for
    /// input `[.., D]`) is optional; `None` means no scaling.
    fn rms_norm(x: &Array, weight: Option<&Array>, eps: f32) => mlx_fast_rms_norm(x.as_raw(), raw_or_null(weight), eps);
    /// Layer normalization over the last axis:
    /// `(x - mean) / sqrt(var + eps) * weight + bias` (biased variance).
    /// `weight` and `bias` (shape `[D]`) are each optional.
    fn layer_norm(x: &Array, weight: Option<&Array>, bias: Option<&Array>, eps: f32) => mlx_fast_layer_norm(x.as_raw(), raw_or_null(weight), raw_or_null(bias), eps);
    /// Cross-entropy loss with class-index targets, one value per row:
    /// `logsumexp(logits, -1) - logits[.., target]` for `logits` `[.., C]` and
    /// integer `targets` of `logits`' shape without the last axis.
    fn cross_entropy(logits: &Array, targets: &Array) => mlx_fast_cross_entropy(logits.as_raw(), targets.as_raw());
}

/// An optional float, as mlx-c takes it.
fn optional_float(v: Option<f32>) -> mlx_sys::mlx_optional_float {
    mlx_sys::mlx_optional_float {
        value: v.unwrap_or(0.0),
        has_value: v.is_some(),
    }
}

op! {
    /// Rotary position embedding over the first `dims` features of the last
    /// axis of `x` (`[.., L, D]`, positions along axis `-2`).
    ///
    /// Position `p = offset + l` (for row `l`) rotates feature pair `i`
    /// (`0 <= i < dims / 2`) by the angle `scale · p · θᵢ`, with
    /// `θᵢ = base^(-2i / dims)`, or `θᵢ = 1 / freqs[i]` when `freqs`
    /// (shape `[dims / 2]`) is given instead of `base` (give exactly one).
    /// The pairs are `(x[i], x[i + dims/2])`, or adjacent features
    /// `(x[2i], x[2i + 1])` if `traditional`; each becomes
    /// `(a cos φ - b sin φ, a sin φ + b cos φ)`. Features from `dims` on pass
    /// through unchanged.
    fn rope(x: &Array, dims: i32, traditional: bool, base: Option<f32>, scale: f32, offset: i32, freqs: Option<&Array>) -> Array |s| {
        array_op!(mlx_fast_rope(
            x.as_raw(),
            dims,
            traditional,
            optional_float(base),
            scale,
            offset,
            raw_or_null(freqs),
            s.as_raw()
        ))
    }
}

op! {
    /// [`rope`] with the position offset given as an integer array (a scalar,
    /// or one offset per batch entry), so it can change without rebuilding a
    /// compiled graph.
    fn rope_dynamic(x: &Array, dims: i32, traditional: bool, base: Option<f32>, scale: f32, offset: &Array, freqs: Option<&Array>) -> Array |s| {
        array_op!(mlx_fast_rope_dynamic(
            x.as_raw(),
            dims,
            traditional,
            optional_float(base),
            scale,
            offset.as_raw(),
            raw_or_null(freqs),
            s.as_raw()
        ))
    }
}

/// The mask of [`scaled_dot_product_attention`].
#[derive(Clone, Copy, Debug, Default)]
pub enum AttentionMask<'a> {
    /// Every query attends to every key.
    #[default]
    None,
    /// Query `i` attends to keys `j <= i + (L_kv - L_q)` (the causal mask
    /// aligned to the last key, as when decoding with a cache).
    Causal,
    /// An explicit mask broadcastable to `[B, H_q, L_q, L_kv]`: boolean
    /// (`true` = attend) or additive (same float type as the queries, added to
    /// the scores before the softmax).
    Array(&'a Array),
}

op! {
    /// Scaled dot-product attention, `softmax(scale · Q Kᵀ + mask) V`.
    ///
    /// Shapes: `queries` `[B, H_q, L_q, D]`, `keys` `[B, H_kv, L_kv, D]`,
    /// `values` `[B, H_kv, L_kv, D_v]`; the result is `[B, H_q, L_q, D_v]`.
    /// `H_q` must be a multiple of `H_kv` (grouped-query attention: query head
    /// `h` uses key/value head `h / (H_q / H_kv)`). The usual `scale` is
    /// `1 / sqrt(D)`.
    fn scaled_dot_product_attention(queries: &Array, keys: &Array, values: &Array, scale: f32, mask: AttentionMask<'_>) -> Array |s| {
        let (mode, mask_arr): (&CStr, Option<&Array>) = match mask {
            AttentionMask::None => (c"", None),
            AttentionMask::Causal => (c"causal", None),
            AttentionMask::Array(m) => (c"array", Some(m)),
        };
        array_op!(mlx_fast_scaled_dot_product_attention(
            queries.as_raw(),
            keys.as_raw(),
            values.as_raw(),
            scale,
            mode.as_ptr(),
            raw_or_null(mask_arr),
            raw_or_null(None),
            false,
            s.as_raw()
        ))
    }
}
