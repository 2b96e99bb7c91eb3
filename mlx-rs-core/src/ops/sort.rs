//! Sorting, partitioning, top-k and cumulative (scan) ops.
//!
//! The flattened forms (`sort`, `argsort`, ...) work on `a` flattened to one
//! axis; the `_axis` forms work along one axis (negative counts from the end).
//! The cumulative ops keep the input's shape: `reverse` scans from the end,
//! and `inclusive = false` shifts the result by one (the first element is the
//! op's identity: 0 for sums, 1 for products).

use crate::ffi::array_op;
use crate::Array;

/// mlx-c's "no dtype given": the accumulation type follows MLX's defaults.
fn no_dtype() -> mlx_sys::mlx_optional_dtype {
    mlx_sys::mlx_optional_dtype {
        value: mlx_sys::MLX_FLOAT32,
        has_value: false,
    }
}

/// MLX's CPU sort and scan kernels divide by the length of the sorted axis,
/// so an empty input with an empty sorted axis traps (SIGFPE) and kills the
/// process at evaluation. An empty input's result is empty: keep MLX's
/// checks, shape and dtype from building the op, but answer with zeros of
/// that shape instead of running the kernel.
fn empty_safe(a: &Array, out: crate::Result<Array>, s: &crate::Stream) -> crate::Result<Array> {
    let out = out?;
    if a.size() != 0 {
        return Ok(out);
    }
    crate::ops::zeros_on(&out.shape(), out.dtype(), s)
}

/// MLX 0.32.2's CUDA sort kernels return wrong values for non-contiguous
/// inputs (a transposed array sorted along its first or last axis; seen on an
/// H200, with Python MLX too). On GPU streams the input is made row-contiguous
/// first, a no-op for inputs that already are.
fn sort_input(a: &Array, s: &crate::Stream) -> crate::Result<Array> {
    if s.device()?.device_type() == crate::DeviceType::Gpu {
        crate::ops::contiguous_on(a, s)
    } else {
        Ok(a.clone())
    }
}

op! {
    /// The flattened `a` rearranged so that position `kth` holds the value it
    /// would hold if sorted, smaller-or-equal values before it and
    /// greater-or-equal after (each side in no particular order). Negative
    /// `kth` counts from the end.
    fn partition(a: &Array, kth: i32) -> Array |s| {
        let a = &sort_input(a, &s)?;
        array_op!(mlx_partition(a.as_raw(), kth, s.as_raw()))
    }
}

op! {
    /// [`partition`] along `axis`.
    fn partition_axis(a: &Array, kth: i32, axis: i32) -> Array |s| {
        let a = &sort_input(a, &s)?;
        array_op!(mlx_partition_axis(a.as_raw(), kth, axis, s.as_raw()))
    }
}

op! {
    /// Indices (uint32) that [`partition`] the flattened `a`.
    fn argpartition(a: &Array, kth: i32) -> Array |s| {
        let a = &sort_input(a, &s)?;
        array_op!(mlx_argpartition(a.as_raw(), kth, s.as_raw()))
    }
}

op! {
    /// Indices (uint32) that partition `a` along `axis`.
    fn argpartition_axis(a: &Array, kth: i32, axis: i32) -> Array |s| {
        let a = &sort_input(a, &s)?;
        array_op!(mlx_argpartition_axis(a.as_raw(), kth, axis, s.as_raw()))
    }
}

op! {
    /// The `k` largest elements of the flattened `a`, in no particular order.
    fn topk(a: &Array, k: i32) -> Array |s| {
        let a = &sort_input(a, &s)?;
        array_op!(mlx_topk(a.as_raw(), k, s.as_raw()))
    }
}

op! {
    /// The `k` largest elements along `axis` (that axis becomes size `k`), in
    /// no particular order.
    fn topk_axis(a: &Array, k: i32, axis: i32) -> Array |s| {
        let a = &sort_input(a, &s)?;
        array_op!(mlx_topk_axis(a.as_raw(), k, axis, s.as_raw()))
    }
}

op! {
    /// The flattened `a`, sorted ascending (NaNs last).
    fn sort(a: &Array) -> Array |s| {
        let input = sort_input(a, &s)?;
        empty_safe(a, array_op!(mlx_sort(input.as_raw(), s.as_raw())), &s)
    }
}

op! {
    /// `a` sorted ascending along `axis`.
    fn sort_axis(a: &Array, axis: i32) -> Array |s| {
        let input = sort_input(a, &s)?;
        empty_safe(a, array_op!(mlx_sort_axis(input.as_raw(), axis, s.as_raw())), &s)
    }
}

op! {
    /// Indices (uint32) that sort the flattened `a` ascending.
    fn argsort(a: &Array) -> Array |s| {
        let input = sort_input(a, &s)?;
        empty_safe(a, array_op!(mlx_argsort(input.as_raw(), s.as_raw())), &s)
    }
}

op! {
    /// Indices (uint32) that sort `a` ascending along `axis`.
    fn argsort_axis(a: &Array, axis: i32) -> Array |s| {
        let input = sort_input(a, &s)?;
        empty_safe(a, array_op!(mlx_argsort_axis(input.as_raw(), axis, s.as_raw())), &s)
    }
}

op! {
    /// Running sum of the flattened `a`.
    fn cumsum(a: &Array, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_cumsum(a.as_raw(), reverse, inclusive, no_dtype(), s.as_raw())), &s)
    }
}

op! {
    /// Running sum along `axis`.
    fn cumsum_axis(a: &Array, axis: i32, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_cumsum_axis(a.as_raw(), axis, reverse, inclusive, no_dtype(), s.as_raw())), &s)
    }
}

op! {
    /// Running product of the flattened `a`.
    fn cumprod(a: &Array, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_cumprod(a.as_raw(), reverse, inclusive, no_dtype(), s.as_raw())), &s)
    }
}

op! {
    /// Running product along `axis`.
    fn cumprod_axis(a: &Array, axis: i32, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_cumprod_axis(a.as_raw(), axis, reverse, inclusive, no_dtype(), s.as_raw())), &s)
    }
}

op! {
    /// Running maximum of the flattened `a` (exclusive scans start at `-inf`,
    /// or the lowest value of an integer dtype).
    fn cummax(a: &Array, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_cummax(a.as_raw(), reverse, inclusive, s.as_raw())), &s)
    }
}

op! {
    /// Running maximum along `axis`.
    fn cummax_axis(a: &Array, axis: i32, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_cummax_axis(a.as_raw(), axis, reverse, inclusive, s.as_raw())), &s)
    }
}

op! {
    /// Running minimum of the flattened `a` (exclusive scans start at `inf`,
    /// or the highest value of an integer dtype).
    fn cummin(a: &Array, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_cummin(a.as_raw(), reverse, inclusive, s.as_raw())), &s)
    }
}

op! {
    /// Running minimum along `axis`.
    fn cummin_axis(a: &Array, axis: i32, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_cummin_axis(a.as_raw(), axis, reverse, inclusive, s.as_raw())), &s)
    }
}

op! {
    /// Running `log(sum(exp(..)))` of the flattened `a`, computed stably
    /// (exclusive scans start at `-inf`).
    fn logcumsumexp(a: &Array, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_logcumsumexp(a.as_raw(), reverse, inclusive, s.as_raw())), &s)
    }
}

op! {
    /// Running `log(sum(exp(..)))` along `axis`.
    fn logcumsumexp_axis(a: &Array, axis: i32, reverse: bool, inclusive: bool) -> Array |s| {
        empty_safe(a, array_op!(mlx_logcumsumexp_axis(a.as_raw(), axis, reverse, inclusive, s.as_raw())), &s)
    }
}

op! {
    /// The `n`-th discrete difference along `axis`: `a[i + 1] - a[i]`,
    /// applied `n` times (each pass shortens the axis by one; `n = 0`
    /// returns `a`). Negative `n` is an error.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1i32, 4, 9, 16], &[4])?;
    /// assert_eq!(ops::diff(&a, 1, 0)?.to_vec::<i32>()?, [3, 5, 7]);
    /// assert_eq!(ops::diff(&a, 2, 0)?.to_vec::<i32>()?, [2, 2]);
    /// # Ok(()) }
    /// ```
    fn diff(a: &Array, n: i32, axis: i32) -> Array |s| {
        // MLX builds one subtraction per pass: a huge `n` would build (and
        // hang on) billions of ops, while every `n` past the axis length
        // gives the same empty result.
        let n = match a.dim(axis) {
            Ok(len) if n > len => len,
            _ => n,
        };
        array_op!(mlx_diff(a.as_raw(), n, axis, s.as_raw()))
    }
}

/// Which insertion point [`searchsorted`] returns for values equal to an
/// element of the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Before the equal elements: the first `i` with `value <= seq[i]`.
    Left,
    /// After the equal elements: the first `i` with `value < seq[i]`.
    Right,
}

op! {
    /// For each of `values`, the index (uint32) at which it would be inserted
    /// into the ascending 1-D `sorted_sequence` to keep it sorted (NumPy's
    /// `searchsorted`). The result has the shape of `values`.
    ///
    /// ```
    /// # use mlx_rs_core::{ops::{self, Side}, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let seq = Array::from_slice(&[1.0f32, 2.0, 2.0, 3.0], &[4])?;
    /// let v = Array::from_slice(&[2.0f32, 0.5, 9.0], &[3])?;
    /// assert_eq!(ops::searchsorted(&seq, &v, Side::Left)?.to_vec::<u32>()?, [1, 0, 4]);
    /// assert_eq!(ops::searchsorted(&seq, &v, Side::Right)?.to_vec::<u32>()?, [3, 0, 4]);
    /// # Ok(()) }
    /// ```
    fn searchsorted(sorted_sequence: &Array, values: &Array, side: Side) -> Array |s| {
        let side: &std::ffi::CStr = match side {
            Side::Left => c"left",
            Side::Right => c"right",
        };
        array_op!(mlx_searchsorted(sorted_sequence.as_raw(), values.as_raw(), side.as_ptr(), s.as_raw()))
    }
}
