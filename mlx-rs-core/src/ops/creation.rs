//! Array constructors. (Arrays from Rust data: [`Array::from_slice`],
//! [`Array::from_vec`], [`Array::scalar`].)

use crate::{Array, Dtype};

ops! {
    /// An array of zeros.
    fn zeros(shape: &[i32], dtype: Dtype) => mlx_zeros(shape.as_ptr(), shape.len(), dtype.to_raw());
    /// An array of ones.
    fn ones(shape: &[i32], dtype: Dtype) => mlx_ones(shape.as_ptr(), shape.len(), dtype.to_raw());
    /// An array of `shape` filled with `value` (broadcast), converted to `dtype`.
    fn full(shape: &[i32], value: &Array, dtype: Dtype) => mlx_full(shape.as_ptr(), shape.len(), value.as_raw(), dtype.to_raw());
    /// Zeros with the shape and dtype of `a`.
    fn zeros_like(a: &Array) => mlx_zeros_like(a.as_raw());
    /// Ones with the shape and dtype of `a`.
    fn ones_like(a: &Array) => mlx_ones_like(a.as_raw());
    /// Values `start, start + step, …` below `stop`.
    fn arange(start: f64, stop: f64, step: f64, dtype: Dtype) => mlx_arange(start, stop, step, dtype.to_raw());
    /// `num` evenly spaced values from `start` to `stop` inclusive.
    fn linspace(start: f64, stop: f64, num: i32, dtype: Dtype) => mlx_linspace(start, stop, num, dtype.to_raw());
    /// An `n × m` matrix with ones on diagonal `k` (0 main, >0 above).
    fn eye(n: i32, m: i32, k: i32, dtype: Dtype) => mlx_eye(n, m, k, dtype.to_raw());
    /// The `n × n` identity matrix.
    fn identity(n: i32, dtype: Dtype) => mlx_identity(n, dtype.to_raw());
    /// An `n × m` matrix with ones at and below diagonal `k`.
    fn tri(n: i32, m: i32, k: i32, dtype: Dtype) => mlx_tri(n, m, k, dtype.to_raw());
    /// `a` with the elements above diagonal `k` zeroed.
    fn tril(a: &Array, k: i32) => mlx_tril(a.as_raw(), k);
    /// `a` with the elements below diagonal `k` zeroed.
    fn triu(a: &Array, k: i32) => mlx_triu(a.as_raw(), k);
}
