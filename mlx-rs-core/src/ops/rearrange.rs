//! Moving elements around without arithmetic: rolling, flipping, strided and
//! dtype views, unstacking, coordinate grids, rank adjustments.

use crate::ffi::{array_op, vector_op};
use crate::handles::VectorArray;
use crate::{Array, Error};

ops! {
    /// Shifts the elements of the flattened array by `shift` places (elements
    /// pushed off the end come back at the start); the shape is kept.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[0i32, 1, 2, 3, 4], &[5])?;
    /// assert_eq!(ops::roll(&a, 2)?.to_vec::<i32>()?, [3, 4, 0, 1, 2]);
    /// # Ok(()) }
    /// ```
    fn roll(a: &Array, shift: i32) => mlx_roll(a.as_raw(), &shift, 1);
    /// Shifts elements by `shift` places along `axis`.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[0i32, 1, 2, 3, 4, 5], &[2, 3])?;
    /// assert_eq!(ops::roll_axis(&a, -1, 1)?.to_vec::<i32>()?, [1, 2, 0, 4, 5, 3]);
    /// # Ok(()) }
    /// ```
    fn roll_axis(a: &Array, shift: i32, axis: i32) => mlx_roll_axis(a.as_raw(), &shift, 1, axis);
    /// Reverses the order of all elements (every axis).
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1i32, 2, 3, 4], &[2, 2])?;
    /// assert_eq!(ops::flip(&a)?.to_vec::<i32>()?, [4, 3, 2, 1]);
    /// # Ok(()) }
    /// ```
    fn flip(a: &Array) => mlx_flip(a.as_raw());
    /// Reverses the order of elements along `axis`.
    fn flip_axis(a: &Array, axis: i32) => mlx_flip_axis(a.as_raw(), axis);
    /// Reverses the order of elements along each of `axes`.
    fn flip_axes(a: &Array, axes: &[i32]) => mlx_flip_axes(a.as_raw(), axes.as_ptr(), axes.len());
    /// Reinterprets the bytes of `a` as `dtype` (no conversion, like NumPy's
    /// `view`). The last axis is rescaled by the ratio of the element sizes;
    /// viewing as a larger type needs a last axis whose byte size is a
    /// multiple of the new element size.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array, Dtype};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1.0f32], &[1])?;
    /// assert_eq!(ops::view(&a, Dtype::Int32)?.to_vec::<i32>()?, [0x3f80_0000]);
    /// # Ok(()) }
    /// ```
    fn view(a: &Array, dtype: crate::Dtype) => mlx_view(a.as_raw(), dtype.to_raw());
    /// Removes the size-1 axis `axis` (other sizes are an error).
    fn squeeze_axis(a: &Array, axis: i32) => mlx_squeeze_axis(a.as_raw(), axis);
    /// `a` with at least one dimension (a scalar becomes shape `[1]`).
    fn atleast_1d(a: &Array) => mlx_atleast_1d(a.as_raw());
    /// `a` with at least two dimensions (leading size-1 axes are added).
    fn atleast_2d(a: &Array) => mlx_atleast_2d(a.as_raw());
    /// `a` with at least three dimensions (NumPy's placement of the new
    /// axes: a vector `[n]` becomes `[1, n, 1]`).
    fn atleast_3d(a: &Array) => mlx_atleast_3d(a.as_raw());
}

op! {
    /// Splits axis `axis` into the dimensions `shape` (one may be `-1`,
    /// inferred; it cannot be inferred next to a 0).
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[0i32, 1, 2, 3, 4, 5], &[6])?;
    /// assert_eq!(ops::unflatten(&a, 0, &[2, -1])?.shape(), [2, 3]);
    /// # Ok(()) }
    /// ```
    fn unflatten(a: &Array, axis: i32, shape: &[i32]) -> Array |s| {
        // MLX divides by the product of the other dimensions to infer a -1:
        // a 0 beside it killed the process (SIGFPE).
        if shape.contains(&-1) && shape.contains(&0) || shape.iter().any(|&d| d < -1) {
            return Err(Error::invalid(format!("unflatten: cannot split an axis into {shape:?}")));
        }
        array_op!(mlx_unflatten(a.as_raw(), axis, shape.as_ptr(), shape.len(), s.as_raw()))
    }
}

op! {
    /// Shifts elements by `shifts[i]` places along `axes[i]`.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[0i32, 1, 2, 3, 4, 5], &[2, 3])?;
    /// let r = ops::roll_axes(&a, &[1, 1], &[0, 1])?;
    /// assert_eq!(r.to_vec::<i32>()?, [5, 3, 4, 2, 0, 1]);
    /// # Ok(()) }
    /// ```
    fn roll_axes(a: &Array, shifts: &[i32], axes: &[i32]) -> Array |s| {
        if shifts.len() != axes.len() {
            return Err(Error::invalid(format!(
                "roll_axes needs one shift per axis, got {} shifts and {} axes",
                shifts.len(),
                axes.len()
            )));
        }
        array_op!(mlx_roll_axes(a.as_raw(), shifts.as_ptr(), shifts.len(), axes.as_ptr(), axes.len(), s.as_raw()))
    }
}

op! {
    /// A view of the row-major elements of `a` with the given `shape`,
    /// element `strides` and starting element `offset` (NumPy's
    /// `as_strided`, counting in elements rather than bytes). Elements may be
    /// read more than once; every position the view can reach must lie
    /// inside `a`, or the call is an error (MLX would read outside the
    /// array).
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[0i32, 1, 2, 3, 4], &[5])?;
    /// // Sliding windows of length 3.
    /// let w = ops::as_strided(&a, &[3, 3], &[1, 1], 0)?;
    /// assert_eq!(w.to_vec::<i32>()?, [0, 1, 2, 1, 2, 3, 2, 3, 4]);
    /// # Ok(()) }
    /// ```
    fn as_strided(a: &Array, shape: &[i32], strides: &[i64], offset: usize) -> Array |s| {
        if shape.len() != strides.len() {
            return Err(Error::invalid(format!(
                "as_strided needs one stride per dimension, got shape {shape:?} and strides {strides:?}"
            )));
        }
        if let Some(d) = shape.iter().find(|&&d| d < 0) {
            return Err(Error::invalid(format!("as_strided: negative dimension {d} in {shape:?}")));
        }
        if !shape.contains(&0) {
            // The lowest and highest element positions the view reaches.
            let (mut lo, mut hi) = (offset as i128, offset as i128);
            for (&d, &st) in shape.iter().zip(strides) {
                let reach = i128::from(d - 1) * i128::from(st);
                if reach < 0 { lo += reach } else { hi += reach }
            }
            if lo < 0 || hi >= a.size() as i128 {
                return Err(Error::invalid(format!(
                    "as_strided: shape {shape:?}, strides {strides:?} and offset {offset} reach \
                     elements {lo}..={hi}, outside the {} elements of the array",
                    a.size()
                )));
            }
        }
        array_op!(mlx_as_strided(a.as_raw(), shape.as_ptr(), shape.len(), strides.as_ptr(), strides.len(), offset, s.as_raw()))
    }
}

op! {
    /// Splits `a` along its first axis into the arrays it is made of (the
    /// inverse of [`stack`](super::stack) along axis 0).
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1i32, 2, 3, 4], &[2, 2])?;
    /// let rows = ops::unstack(&a)?;
    /// assert_eq!(rows[1].to_vec::<i32>()?, [3, 4]);
    /// # Ok(()) }
    /// ```
    fn unstack(a: &Array) -> Vec<Array> |s| {
        vector_op!(mlx_unstack(a.as_raw(), s.as_raw()))
    }
}

op! {
    /// Splits `a` along `axis` into the slices it is made of, each without
    /// that axis.
    fn unstack_axis(a: &Array, axis: i32) -> Vec<Array> |s| {
        vector_op!(mlx_unstack_axis(a.as_raw(), axis, s.as_raw()))
    }
}

/// How [`meshgrid`] orders the output axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshIndexing {
    /// Cartesian: for two inputs of lengths `m`, `n` the grids have shape
    /// `[n, m]` (NumPy's default).
    Xy,
    /// Matrix: the grids have shape `[m, n]`.
    Ij,
}

op! {
    /// Coordinate grids from 1-D coordinate vectors, like NumPy's `meshgrid`.
    /// `sparse` returns broadcastable grids (size 1 on all axes but one)
    /// instead of full ones.
    ///
    /// ```
    /// # use mlx_rs_core::{ops::{self, MeshIndexing}, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let x = Array::from_slice(&[0i32, 1], &[2])?;
    /// let y = Array::from_slice(&[5i32, 6, 7], &[3])?;
    /// let g = ops::meshgrid(&[x, y], false, MeshIndexing::Ij)?;
    /// assert_eq!(g[0].to_vec::<i32>()?, [0, 0, 0, 1, 1, 1]);
    /// assert_eq!(g[1].to_vec::<i32>()?, [5, 6, 7, 5, 6, 7]);
    /// # Ok(()) }
    /// ```
    fn meshgrid(arrays: &[Array], sparse: bool, indexing: MeshIndexing) -> Vec<Array> |s| {
        let indexing: &std::ffi::CStr = match indexing {
            MeshIndexing::Xy => c"xy",
            MeshIndexing::Ij => c"ij",
        };
        let v = VectorArray::from_arrays(arrays)?;
        vector_op!(mlx_meshgrid(v.as_raw(), sparse, indexing.as_ptr(), s.as_raw()))
    }
}
