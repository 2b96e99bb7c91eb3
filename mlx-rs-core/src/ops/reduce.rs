//! Reductions, softmax and matrix products.

use crate::Array;

ops! {
    /// Sum of all elements.
    fn sum(a: &Array, keepdims: bool) => mlx_sum(a.as_raw(), keepdims);
    /// Sum along one axis.
    fn sum_axis(a: &Array, axis: i32, keepdims: bool) => mlx_sum_axis(a.as_raw(), axis, keepdims);
    /// Sum along several axes.
    fn sum_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_sum_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// Product of all elements.
    fn prod(a: &Array, keepdims: bool) => mlx_prod(a.as_raw(), keepdims);
    /// Product along one axis.
    fn prod_axis(a: &Array, axis: i32, keepdims: bool) => mlx_prod_axis(a.as_raw(), axis, keepdims);
    /// Product along several axes.
    fn prod_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_prod_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// Maximum of all elements.
    fn max(a: &Array, keepdims: bool) => mlx_max(a.as_raw(), keepdims);
    /// Maximum along one axis.
    fn max_axis(a: &Array, axis: i32, keepdims: bool) => mlx_max_axis(a.as_raw(), axis, keepdims);
    /// Maximum along several axes.
    fn max_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_max_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// Minimum of all elements.
    fn min(a: &Array, keepdims: bool) => mlx_min(a.as_raw(), keepdims);
    /// Minimum along one axis.
    fn min_axis(a: &Array, axis: i32, keepdims: bool) => mlx_min_axis(a.as_raw(), axis, keepdims);
    /// Minimum along several axes.
    fn min_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_min_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// Mean of all elements.
    fn mean(a: &Array, keepdims: bool) => mlx_mean(a.as_raw(), keepdims);
    /// Mean along one axis.
    fn mean_axis(a: &Array, axis: i32, keepdims: bool) => mlx_mean_axis(a.as_raw(), axis, keepdims);
    /// Mean along several axes.
    fn mean_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_mean_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// `ln(sum(exp(a)))`, computed stably, of all elements.
    fn logsumexp(a: &Array, keepdims: bool) => mlx_logsumexp(a.as_raw(), keepdims);
    /// `ln(sum(exp(a)))`, computed stably, along one axis.
    fn logsumexp_axis(a: &Array, axis: i32, keepdims: bool) => mlx_logsumexp_axis(a.as_raw(), axis, keepdims);
    /// `ln(sum(exp(a)))`, computed stably, along several axes.
    fn logsumexp_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_logsumexp_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// Logical AND of all elements.
    fn all(a: &Array, keepdims: bool) => mlx_all(a.as_raw(), keepdims);
    /// Logical AND along one axis.
    fn all_axis(a: &Array, axis: i32, keepdims: bool) => mlx_all_axis(a.as_raw(), axis, keepdims);
    /// Logical AND along several axes.
    fn all_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_all_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// Logical OR of all elements.
    fn any(a: &Array, keepdims: bool) => mlx_any(a.as_raw(), keepdims);
    /// Logical OR along one axis.
    fn any_axis(a: &Array, axis: i32, keepdims: bool) => mlx_any_axis(a.as_raw(), axis, keepdims);
    /// Logical OR along several axes.
    fn any_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_any_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// Variance of all elements; `ddof` is subtracted from the count.
    fn var(a: &Array, keepdims: bool, ddof: i32) => mlx_var(a.as_raw(), keepdims, ddof);
    /// Variance along one axis.
    fn var_axis(a: &Array, axis: i32, keepdims: bool, ddof: i32) => mlx_var_axis(a.as_raw(), axis, keepdims, ddof);
    /// Variance along several axes.
    fn var_axes(a: &Array, axes: &[i32], keepdims: bool, ddof: i32) => mlx_var_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims, ddof);
    /// Standard deviation of all elements; `ddof` is subtracted from the count.
    fn std(a: &Array, keepdims: bool, ddof: i32) => mlx_std(a.as_raw(), keepdims, ddof);
    /// Standard deviation along one axis.
    fn std_axis(a: &Array, axis: i32, keepdims: bool, ddof: i32) => mlx_std_axis(a.as_raw(), axis, keepdims, ddof);
    /// Standard deviation along several axes.
    fn std_axes(a: &Array, axes: &[i32], keepdims: bool, ddof: i32) => mlx_std_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims, ddof);
    /// Index of the maximum of the flattened array.
    fn argmax(a: &Array, keepdims: bool) => mlx_argmax(a.as_raw(), keepdims);
    /// Index of the maximum along one axis.
    fn argmax_axis(a: &Array, axis: i32, keepdims: bool) => mlx_argmax_axis(a.as_raw(), axis, keepdims);
    /// Index of the minimum of the flattened array.
    fn argmin(a: &Array, keepdims: bool) => mlx_argmin(a.as_raw(), keepdims);
    /// Index of the minimum along one axis.
    fn argmin_axis(a: &Array, axis: i32, keepdims: bool) => mlx_argmin_axis(a.as_raw(), axis, keepdims);
    /// Softmax over all elements; `precise` accumulates half types in f32.
    fn softmax(a: &Array, precise: bool) => mlx_softmax(a.as_raw(), precise);
    /// Softmax along one axis.
    fn softmax_axis(a: &Array, axis: i32, precise: bool) => mlx_softmax_axis(a.as_raw(), axis, precise);
    /// Softmax along several axes.
    fn softmax_axes(a: &Array, axes: &[i32], precise: bool) => mlx_softmax_axes(a.as_raw(), axes.as_ptr(), axes.len(), precise);
    /// Outer product of two vectors (flattened first).
    fn outer(a: &Array, b: &Array) => mlx_outer(a.as_raw(), b.as_raw());
    /// Contracts the last `axis` axes of `a` with the first `axis` of `b`.
    fn tensordot(a: &Array, b: &Array, axis: i32) => mlx_tensordot_axis(a.as_raw(), b.as_raw(), axis);
    /// Contracts axes `axes_a` of `a` with `axes_b` of `b` pairwise.
    fn tensordot_axes(a: &Array, b: &Array, axes_a: &[i32], axes_b: &[i32]) => mlx_tensordot(a.as_raw(), b.as_raw(), axes_a.as_ptr(), axes_a.len(), axes_b.as_ptr(), axes_b.len());
}

op! {
    /// Matrix product with NumPy broadcasting of batch dimensions. On CPU
    /// streams, bfloat16 and float16 operands are multiplied in float32
    /// (BLAS, float32 accumulation) and rounded once.
    fn matmul(a: &Array, b: &Array) -> Array |s| {
        super::half_via_f32(&[a, b], &s, |x| {
            crate::ffi::array_op!(mlx_matmul(x[0].as_raw(), x[1].as_raw(), s.as_raw()))
        })
    }
}

op! {
    /// `alpha * (a @ b) + beta * c`; half precision on CPU as in [`matmul`].
    /// Empty operands (no rows, columns or inner dimension) give what the
    /// formula gives.
    fn addmm(c: &Array, a: &Array, b: &Array, alpha: f32, beta: f32) -> Array |s| {
        if a.size() == 0 || b.size() == 0 {
            // MLX 0.32.2's CUDA AddMM divides by the output's rows times
            // columns before checking for an empty product, and a zero
            // divisor killed the process (SIGFPE, seen on an H200 with zero
            // rows). Its matmul handles empty operands.
            let prod = super::matmul_on(a, b, &s)?;
            let scale = |x: &Array, by: f32| -> crate::Result<Array> {
                super::multiply_on(x, &super::astype_on(&Array::scalar(by)?, x.dtype(), &s)?, &s)
            };
            return super::add_on(&scale(&prod, alpha)?, &scale(c, beta)?, &s);
        }
        super::half_via_f32(&[c, a, b], &s, |x| {
            crate::ffi::array_op!(mlx_addmm(x[0].as_raw(), x[1].as_raw(), x[2].as_raw(), alpha, beta, s.as_raw()))
        })
    }
}

ops! {
    /// The median of all elements (float32 for integer inputs; the mean of
    /// the two middle values for an even count). An empty array is an error.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[3.0f32, 1.0, 4.0, 2.0], &[4])?;
    /// assert_eq!(ops::median(&a, false)?.item::<f32>()?, 2.5);
    /// # Ok(()) }
    /// ```
    fn median(a: &Array, keepdims: bool) => mlx_median(a.as_raw(), keepdims);
    /// The median along `axis`.
    fn median_axis(a: &Array, axis: i32, keepdims: bool) => mlx_median_axis(a.as_raw(), axis, keepdims);
    /// The median over `axes`.
    fn median_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_median_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
    /// How many elements are not zero (not `false`), as int32.
    fn count_nonzero(a: &Array, keepdims: bool) => mlx_count_nonzero(a.as_raw(), keepdims);
    /// How many elements along `axis` are not zero.
    fn count_nonzero_axis(a: &Array, axis: i32, keepdims: bool) => mlx_count_nonzero_axis(a.as_raw(), axis, keepdims);
    /// How many elements over `axes` are not zero.
    fn count_nonzero_axes(a: &Array, axes: &[i32], keepdims: bool) => mlx_count_nonzero_axes(a.as_raw(), axes.as_ptr(), axes.len(), keepdims);
}
