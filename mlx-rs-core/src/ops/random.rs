//! Random numbers: explicit PRNG keys and samplers.
//!
//! MLX uses a counter-based generator. A *key* is a `uint32` array of shape
//! `[2]` made by [`key`]; every sampler takes an optional key:
//!
//! - `Some(&key)`: the draw is a pure function of the key (same key, same
//!   numbers). Derive independent keys with [`split`] / [`split_num`] rather
//!   than reusing one.
//! - `None`: the draw uses (and advances) MLX's process-wide generator, which
//!   [`seed`] resets. Convenient, but reproducible only when nothing else draws
//!   from it in between; pass keys when results must be repeatable.
//!
//! ```
//! # use mlx_rs_core::{ops::random, Dtype};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let k = random::key(42)?;
//! let (k1, k2) = random::split(&k)?;
//! let x = random::normal(&[2, 3], Dtype::Float32, 0.0, 1.0, Some(&k1))?;
//! let i = random::randint(0, 10, &[5], Dtype::Int32, Some(&k2))?;
//! # Ok(()) }
//! ```
//!
//! Like every op, the samplers are lazy and have `_on` twins taking a
//! [`crate::Stream`] or [`crate::Device`].

use crate::array::ResultSlot;
use crate::ffi::{array_op, mlx_call};
use crate::ops::raw_or_null;
use crate::{Array, Dtype, Result};

/// A PRNG key (a `uint32` array of shape `[2]`) derived from `seed`.
#[track_caller]
pub fn key(seed: u64) -> Result<Array> {
    array_op!(mlx_random_key(seed))
}

/// Reseeds MLX's process-wide generator (used by samplers given no key).
#[track_caller]
pub fn seed(seed: u64) -> Result<()> {
    mlx_call!(mlx_random_seed(seed))
}

op! {
    /// Splits a key into two new, independent keys.
    fn split(key: &Array) -> (Array, Array) |s| {
        let mut first = ResultSlot::new();
        let mut second = ResultSlot::new();
        let (p1, p2) = (first.as_mut_ptr(), second.as_mut_ptr());
        mlx_call!(mlx_random_split(p1, p2, key.as_raw(), s.as_raw()))?;
        Ok((first.into_array()?, second.into_array()?))
    }
}

ops! {
    /// Splits a key into `num` new keys, stacked in an array of shape `[num, 2]`.
    fn split_num(key: &Array, num: i32) => mlx_random_split_num(key.as_raw(), num);
    /// Random bits: unsigned integers of `width` bytes (1, 2 or 4) in `shape`.
    fn bits(shape: &[i32], width: i32, key: Option<&Array>) => mlx_random_bits(shape.as_ptr(), shape.len(), width, raw_or_null(key));
    /// Samples from the normal distribution with mean `loc` and standard
    /// deviation `scale`; `dtype` must be a floating type.
    fn normal(shape: &[i32], dtype: Dtype, loc: f32, scale: f32, key: Option<&Array>) => mlx_random_normal(shape.as_ptr(), shape.len(), dtype.to_raw(), loc, scale, raw_or_null(key));
    /// Samples from the normal distribution with array parameters `loc` and
    /// `scale` (broadcast against `shape`; `None` means 0 and 1).
    fn normal_array(shape: &[i32], dtype: Dtype, loc: Option<&Array>, scale: Option<&Array>, key: Option<&Array>) => mlx_random_normal_broadcast(shape.as_ptr(), shape.len(), dtype.to_raw(), raw_or_null(loc), raw_or_null(scale), raw_or_null(key));
    /// Samples uniformly from `[low, high)` with array bounds (broadcast against
    /// `shape`); `dtype` must be a floating type.
    fn uniform_array(low: &Array, high: &Array, shape: &[i32], dtype: Dtype, key: Option<&Array>) => mlx_random_uniform(low.as_raw(), high.as_raw(), shape.as_ptr(), shape.len(), dtype.to_raw(), raw_or_null(key));
    /// Samples integers uniformly from `[low, high)` with array bounds
    /// (broadcast against `shape`); `dtype` must be an integer type.
    fn randint_array(low: &Array, high: &Array, shape: &[i32], dtype: Dtype, key: Option<&Array>) => mlx_random_randint(low.as_raw(), high.as_raw(), shape.as_ptr(), shape.len(), dtype.to_raw(), raw_or_null(key));
    /// Samples from the normal distribution truncated to `[lower, upper]`
    /// (array bounds, broadcast against `shape`).
    fn truncated_normal(lower: &Array, upper: &Array, shape: &[i32], dtype: Dtype, key: Option<&Array>) => mlx_random_truncated_normal(lower.as_raw(), upper.as_raw(), shape.as_ptr(), shape.len(), dtype.to_raw(), raw_or_null(key));
    /// Samples from the standard Gumbel distribution.
    fn gumbel(shape: &[i32], dtype: Dtype, key: Option<&Array>) => mlx_random_gumbel(shape.as_ptr(), shape.len(), dtype.to_raw(), raw_or_null(key));
    /// Samples from the Laplace distribution with location `loc` and scale `scale`.
    fn laplace(shape: &[i32], dtype: Dtype, loc: f32, scale: f32, key: Option<&Array>) => mlx_random_laplace(shape.as_ptr(), shape.len(), dtype.to_raw(), loc, scale, raw_or_null(key));
    /// Samples from the multivariate normal with mean `mean` (`[.., n]`) and
    /// covariance `cov` (`[.., n, n]`, positive semi-definite); the output has
    /// shape `shape + [n]`. Runs on the CPU only (it factors `cov`).
    fn multivariate_normal(mean: &Array, cov: &Array, shape: &[i32], dtype: Dtype, key: Option<&Array>) => mlx_random_multivariate_normal(mean.as_raw(), cov.as_raw(), shape.as_ptr(), shape.len(), dtype.to_raw(), raw_or_null(key));
    /// Draws one category index per slice of `logits` along `axis`, with
    /// probabilities `softmax(logits)`; the output drops `axis`.
    fn categorical(logits: &Array, axis: i32, key: Option<&Array>) => mlx_random_categorical(logits.as_raw(), axis, raw_or_null(key));
    /// Like [`categorical`], drawing `num_samples` indices per slice (a new
    /// last axis).
    fn categorical_num_samples(logits: &Array, axis: i32, num_samples: i32, key: Option<&Array>) => mlx_random_categorical_num_samples(logits.as_raw(), axis, num_samples, raw_or_null(key));
    /// Like [`categorical`], with an output of `shape` (which must broadcast
    /// with `logits`' shape without `axis`).
    fn categorical_shape(logits: &Array, axis: i32, shape: &[i32], key: Option<&Array>) => mlx_random_categorical_shape(logits.as_raw(), axis, shape.as_ptr(), shape.len(), raw_or_null(key));
    /// A random permutation of `a` along `axis`.
    fn permutation(a: &Array, axis: i32, key: Option<&Array>) => mlx_random_permutation(a.as_raw(), axis, raw_or_null(key));
    /// A random permutation of `0..n` (`uint32`).
    fn permutation_arange(n: i32, key: Option<&Array>) => mlx_random_permutation_arange(n, raw_or_null(key));
}

op! {
    /// Samples uniformly from `[low, high)`; `dtype` must be a floating type.
    fn uniform(low: f32, high: f32, shape: &[i32], dtype: Dtype, key: Option<&Array>) -> Array |s| {
        let (low, high) = (Array::scalar(low)?, Array::scalar(high)?);
        array_op!(mlx_random_uniform(
            low.as_raw(),
            high.as_raw(),
            shape.as_ptr(),
            shape.len(),
            dtype.to_raw(),
            raw_or_null(key),
            s.as_raw()
        ))
    }
}

op! {
    /// Samples integers uniformly from `[low, high)`; `dtype` must be an
    /// integer type.
    fn randint(low: i32, high: i32, shape: &[i32], dtype: Dtype, key: Option<&Array>) -> Array |s| {
        let (low, high) = (Array::scalar(low)?, Array::scalar(high)?);
        array_op!(mlx_random_randint(
            low.as_raw(),
            high.as_raw(),
            shape.as_ptr(),
            shape.len(),
            dtype.to_raw(),
            raw_or_null(key),
            s.as_raw()
        ))
    }
}

op! {
    /// Samples booleans that are `true` with probability `p` (an array,
    /// broadcast against the output). The output has `shape`, or `p`'s shape
    /// when `None`.
    fn bernoulli(p: &Array, shape: Option<&[i32]>, key: Option<&Array>) -> Array |s| {
        let p_shape;
        let shape = match shape {
            Some(shape) => shape,
            None => {
                p_shape = p.shape();
                &p_shape
            }
        };
        array_op!(mlx_random_bernoulli(
            p.as_raw(),
            shape.as_ptr(),
            shape.len(),
            raw_or_null(key),
            s.as_raw()
        ))
    }
}
