//! Diagonals: extracting them, building diagonal matrices, traces.

use crate::Array;

ops! {
    /// For a vector, the square matrix with it on diagonal `k` (0 the main
    /// diagonal, positive above, negative below); for a matrix, its diagonal
    /// `k` as a vector. Other ranks are an error.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let v = Array::from_slice(&[1i32, 2], &[2])?;
    /// assert_eq!(ops::diag(&v, 0)?.to_vec::<i32>()?, [1, 0, 0, 2]);
    /// let m = Array::from_slice(&[1i32, 2, 3, 4], &[2, 2])?;
    /// assert_eq!(ops::diag(&m, 1)?.to_vec::<i32>()?, [2]);
    /// # Ok(()) }
    /// ```
    fn diag(a: &Array, k: i32) => mlx_diag(a.as_raw(), k);
    /// Diagonal `offset` of the matrices spanned by `axis1` and `axis2`:
    /// those axes are removed and the diagonal becomes the last axis.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let m = Array::from_slice(&[1i32, 2, 3, 4, 5, 6], &[2, 3])?;
    /// assert_eq!(ops::diagonal(&m, 0, 0, 1)?.to_vec::<i32>()?, [1, 5]);
    /// # Ok(()) }
    /// ```
    fn diagonal(a: &Array, offset: i32, axis1: i32, axis2: i32) => mlx_diagonal(a.as_raw(), offset, axis1, axis2);
    /// The sum of the main diagonal of a matrix (axes 0 and 1).
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let m = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(ops::trace(&m)?.item::<f32>()?, 5.0);
    /// # Ok(()) }
    /// ```
    fn trace(a: &Array) => mlx_trace(a.as_raw());
    /// The sum of diagonal `offset` over `axis1` and `axis2`, accumulated and
    /// returned in `dtype`.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array, Dtype};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let m = Array::from_slice(&[1i32, 2, 3, 4], &[2, 2])?;
    /// let t = ops::trace_axes(&m, 1, 0, 1, Dtype::Float32)?;
    /// assert_eq!(t.item::<f32>()?, 2.0);
    /// # Ok(()) }
    /// ```
    fn trace_axes(a: &Array, offset: i32, axis1: i32, axis2: i32, dtype: crate::Dtype) => mlx_trace_axes(a.as_raw(), offset, axis1, axis2, dtype.to_raw());
}
