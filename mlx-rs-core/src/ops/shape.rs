//! Shape manipulation: reshaping, axis permutation, joining and splitting.

use crate::ffi::{array_op, vector_op};
use crate::handles::VectorArray;
use crate::Array;

ops! {
    /// Merges axes `start_axis..=end_axis` into one.
    fn flatten(a: &Array, start_axis: i32, end_axis: i32) => mlx_flatten(a.as_raw(), start_axis, end_axis);
    /// Reverses the axes.
    fn transpose(a: &Array) => mlx_transpose(a.as_raw());
    /// Permutes the axes: output axis `i` is input axis `axes[i]`.
    fn transpose_axes(a: &Array, axes: &[i32]) => mlx_transpose_axes(a.as_raw(), axes.as_ptr(), axes.len());
    /// Swaps two axes.
    fn swapaxes(a: &Array, axis1: i32, axis2: i32) => mlx_swapaxes(a.as_raw(), axis1, axis2);
    /// Moves axis `source` to position `destination`.
    fn moveaxis(a: &Array, source: i32, destination: i32) => mlx_moveaxis(a.as_raw(), source, destination);
    /// Inserts a size-1 axis at `axis`.
    fn expand_dims(a: &Array, axis: i32) => mlx_expand_dims(a.as_raw(), axis);
    /// Inserts size-1 axes at `axes`.
    fn expand_dims_axes(a: &Array, axes: &[i32]) => mlx_expand_dims_axes(a.as_raw(), axes.as_ptr(), axes.len());
    /// Removes every size-1 axis.
    fn squeeze(a: &Array) => mlx_squeeze(a.as_raw());
    /// Removes the given size-1 axes.
    fn squeeze_axes(a: &Array, axes: &[i32]) => mlx_squeeze_axes(a.as_raw(), axes.as_ptr(), axes.len());
    /// Broadcasts `a` to `shape` (NumPy rules).
    fn broadcast_to(a: &Array, shape: &[i32]) => mlx_broadcast_to(a.as_raw(), shape.as_ptr(), shape.len());
    /// Repeats the whole array `reps[i]` times along axis `i`.
    fn tile(a: &Array, reps: &[i32]) => mlx_tile(a.as_raw(), reps.as_ptr(), reps.len());
    /// Repeats each element `repeats` times along `axis`.
    fn repeat_axis(a: &Array, repeats: i32, axis: i32) => mlx_repeat_axis(a.as_raw(), repeats, axis);
    /// Repeats each element of the flattened array `repeats` times.
    fn repeat(a: &Array, repeats: i32) => mlx_repeat(a.as_raw(), repeats);
    /// A row-contiguous copy (or `a` itself if it already is).
    fn contiguous(a: &Array) => mlx_contiguous(a.as_raw(), false);
}

op! {
    /// The same elements in a new shape (one dimension may be `-1`, inferred).
    /// Other negative dimensions are an error.
    fn reshape(a: &Array, shape: &[i32]) -> Array |s| {
        // MLX 0.32.2 only checks that the product of the dimensions matches,
        // so `[-2, -3]` "reshaped" six elements into an array with negative
        // dimensions.
        if shape.iter().any(|&d| d < -1) || shape.iter().filter(|&&d| d == -1).count() > 1 {
            return Err(crate::Error::invalid(format!(
                "cannot reshape to {shape:?}: dimensions must be non-negative, \
                 with at most one -1 to infer"
            )));
        }
        array_op!(mlx_reshape(a.as_raw(), shape.as_ptr(), shape.len(), s.as_raw()))
    }
}

op! {
    /// Joins arrays (`&[Array]` or `&[&Array]`) along an existing axis.
    fn concatenate(arrays: &[impl std::borrow::Borrow<Array>], axis: i32) -> Array |s| {
        let v = VectorArray::from_arrays(arrays.iter().map(std::borrow::Borrow::borrow))?;
        array_op!(mlx_concatenate_axis(v.as_raw(), axis, s.as_raw()))
    }
}

op! {
    /// Joins arrays (`&[Array]` or `&[&Array]`) along a new axis.
    fn stack(arrays: &[impl std::borrow::Borrow<Array>], axis: i32) -> Array |s| {
        let v = VectorArray::from_arrays(arrays.iter().map(std::borrow::Borrow::borrow))?;
        array_op!(mlx_stack_axis(v.as_raw(), axis, s.as_raw()))
    }
}

op! {
    /// Splits into `parts` equal pieces along `axis`.
    fn split(a: &Array, parts: i32, axis: i32) -> Vec<Array> |s| {
        vector_op!(mlx_split(a.as_raw(), parts, axis, s.as_raw()))
    }
}

op! {
    /// Splits along `axis` before each of `indices`.
    fn split_at(a: &Array, indices: &[i32], axis: i32) -> Vec<Array> |s| {
        vector_op!(mlx_split_sections(a.as_raw(), indices.as_ptr(), indices.len(), axis, s.as_raw()))
    }
}

/// How [`pad`] fills the new border.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    /// With a constant value.
    Constant,
    /// By repeating the edge values.
    Edge,
}

op! {
    /// Pads axis `axes[i]` with `low[i]` elements before and `high[i]` after,
    /// filled per `mode` (`value` for [`PadMode::Constant`]).
    fn pad(a: &Array, axes: &[i32], low: &[i32], high: &[i32], value: &Array, mode: PadMode) -> Array |s| {
        let mode: &std::ffi::CStr = match mode {
            PadMode::Constant => c"constant",
            PadMode::Edge => c"edge",
        };
        array_op!(mlx_pad(
            a.as_raw(),
            axes.as_ptr(),
            axes.len(),
            low.as_ptr(),
            low.len(),
            high.as_ptr(),
            high.len(),
            value.as_raw(),
            mode.as_ptr(),
            s.as_raw()
        ))
    }
}

op! {
    /// Broadcasts arrays against each other to one common shape.
    fn broadcast_arrays(arrays: &[Array]) -> Vec<Array> |s| {
        let v = VectorArray::from_arrays(arrays)?;
        vector_op!(mlx_broadcast_arrays(v.as_raw(), s.as_raw()))
    }
}
