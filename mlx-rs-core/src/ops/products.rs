//! Products beyond [`matmul`](super::matmul): gathered, segmented and
//! block-masked matrix products, Einstein summation, Kronecker, inner and
//! vector dot products, and the Hadamard transform.

use crate::ffi::array_op;
use crate::handles::VectorArray;
use crate::ops::index::bounded;
use crate::{Array, Error, Result, Stream};

/// The number of matrices stacked in `a` (the product of all axes but the
/// last two), as an index bound.
#[track_caller]
fn batch_len(a: &Array, what: &str) -> Result<i32> {
    let shape = a.shape();
    if shape.len() < 2 {
        return Err(Error::invalid(format!(
            "gather_mm: {what} must have at least 2 dimensions, got shape {shape:?}"
        )));
    }
    let n: i64 = shape[..shape.len() - 2]
        .iter()
        .map(|&d| i64::from(d))
        .product();
    i32::try_from(n).map_err(|_| Error::invalid(format!("gather_mm: {what} has too many matrices")))
}

/// Clamps `indices` (if any) into `a`'s batch.
#[track_caller]
fn batch_indices(
    a: &Array,
    indices: Option<&Array>,
    what: &str,
    s: &Stream,
) -> Result<Option<Array>> {
    indices
        .map(|idx| bounded(idx, batch_len(a, what)?, 1, s))
        .transpose()
}

/// An optional array argument for mlx-c: the array's handle, or an empty
/// handle, which mlx-c reads as "not given".
pub(crate) fn optional_raw(a: Option<&Array>) -> mlx_sys::mlx_array {
    a.map_or(
        mlx_sys::mlx_array {
            ctx: std::ptr::null_mut(),
        },
        Array::as_raw,
    )
}

op! {
    /// Matrix products of chosen matrices of two stacks: `a` has shape
    /// `[.., M, K]` and `b` `[.., K, N]`; `lhs_indices` picks matrices of `a`
    /// (positions in its flattened leading axes) and `rhs_indices` those of
    /// `b`. The index arrays broadcast together to a shape `I` and the result
    /// has shape `I ++ [M, N]`. An absent index array means "every matrix, in
    /// order" (then the leading axes broadcast as in [`matmul`](super::matmul)).
    /// `sorted_indices` promises that `rhs_indices` is sorted, which lets MLX
    /// use a faster kernel. Out-of-range indices are clamped (see
    /// [`take`](super::take)). The product behind mixture-of-experts layers.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let x = Array::from_slice(&[1.0f32, 2.0], &[1, 2])?;            // one row
    /// let experts = Array::from_slice(&[1.0f32, 0.0, 0.0, 1.0,         // identity
    ///                                   2.0, 0.0, 0.0, 2.0], &[2, 2, 2])?; // 2 * identity
    /// let pick = Array::from_slice(&[1u32, 0], &[2])?;
    /// let y = ops::gather_mm(&x, &experts, None, Some(&pick), false)?;
    /// assert_eq!(y.shape(), [2, 1, 2]);
    /// assert_eq!(y.to_vec::<f32>()?, [2.0, 4.0, 1.0, 2.0]);
    /// # Ok(()) }
    /// ```
    fn gather_mm(a: &Array, b: &Array, lhs_indices: Option<&Array>, rhs_indices: Option<&Array>, sorted_indices: bool) -> Array |s| {
        let lhs = batch_indices(a, lhs_indices, "a", &s)?;
        let rhs = batch_indices(b, rhs_indices, "b", &s)?;
        let (lhs, rhs) = (optional_raw(lhs.as_ref()), optional_raw(rhs.as_ref()));
        array_op!(mlx_gather_mm(a.as_raw(), b.as_raw(), lhs, rhs, sorted_indices, s.as_raw()))
    }
}

op! {
    /// Matrix products over segments of the inner dimension: `a` is `[M, K]`,
    /// `b` is `[K, N]` and `segments` holds integer pairs `[start, end)` of
    /// positions along `K` (shape `[.., 2]`). Each pair gives
    /// `a[:, start..end] @ b[start..end, :]`; the result has shape
    /// `segments.shape[..-1] ++ [M, N]`. Bounds are clamped into `0..=K` and
    /// an `end` before its `start` gives an empty segment (a zero matrix):
    /// MLX does not check them, and an out-of-range segment there aborted the
    /// process inside BLAS.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[1, 3])?;
    /// let b = Array::from_slice(&[1.0f32, 1.0, 1.0], &[3, 1])?;
    /// let seg = Array::from_slice(&[0i32, 1, 1, 3], &[2, 2])?; // K split as 0..1, 1..3
    /// let y = ops::segmented_mm(&a, &b, &seg)?;
    /// assert_eq!(y.to_vec::<f32>()?, [1.0, 5.0]);
    /// # Ok(()) }
    /// ```
    fn segmented_mm(a: &Array, b: &Array, segments: &Array) -> Array |s| {
        let (ashape, bshape) = (a.shape(), b.shape());
        // MLX does not compare the inner dimensions here; a `b` shorter than
        // `a`'s K would be read past its end.
        if ashape.len() != 2 || bshape.len() != 2 || ashape[1] != bshape[0] {
            return Err(Error::invalid(format!(
                "segmented_mm needs a [M, K] and b [K, N], got {ashape:?} and {bshape:?}"
            )));
        }
        let k = ashape[1];
        let dtype = segments.dtype();
        if !dtype.is_integer() {
            return Err(Error::invalid(format!("segmented_mm: segments must be integers, got {dtype}")));
        }
        if segments.shape().last() != Some(&2) {
            return Err(Error::invalid(format!(
                "segmented_mm: segments must have shape [.., 2], got {:?}",
                segments.shape()
            )));
        }
        // Work in int32 so that `k` is representable whatever the input dtype.
        let seg = crate::ops::astype_on(segments, crate::Dtype::Int32, &s)?;
        let seg = crate::ops::clip_on(&seg, &Array::scalar(0i32)?, &Array::scalar(k)?, &s)?;
        let parts = crate::ops::split_on(&seg, 2, -1, &s)?;
        let end = crate::ops::maximum_on(&parts[1], &parts[0], &s)?;
        let seg = crate::ops::concatenate_on(&[parts[0].clone(), end], -1, &s)?;
        array_op!(mlx_segmented_mm(a.as_raw(), b.as_raw(), seg.as_raw(), s.as_raw()))
    }
}

op! {
    /// A matrix product that skips blocks: `a @ b` computed in
    /// `block_size`-square tiles (MLX supports 32 and 64), where
    /// `mask_lhs` (shape `[.., ceil(M/bs), ceil(K/bs)]`) and `mask_rhs`
    /// (`[.., ceil(K/bs), ceil(N/bs)]`) mark which input blocks take part and
    /// `mask_out` (`[.., ceil(M/bs), ceil(N/bs)]`) which output blocks are
    /// kept (others are 0). Boolean masks select; float masks also scale the
    /// blocks. Absent masks keep everything. Inputs must be floating point.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array, Dtype};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = ops::ones(&[64, 64], Dtype::Float32)?;
    /// let keep = Array::from_slice(&[true, false, false, true], &[2, 2])?;
    /// let y = ops::block_masked_mm(&a, &a, 32, Some(&keep), None, None)?;
    /// let v = y.to_vec::<f32>()?;
    /// assert_eq!((v[0], v[63]), (64.0, 0.0)); // row 0: first block kept, second zeroed
    /// # Ok(()) }
    /// ```
    fn block_masked_mm(a: &Array, b: &Array, block_size: i32, mask_out: Option<&Array>, mask_lhs: Option<&Array>, mask_rhs: Option<&Array>) -> Array |s| {
        let (mo, ml, mr) = (optional_raw(mask_out), optional_raw(mask_lhs), optional_raw(mask_rhs));
        array_op!(mlx_block_masked_mm(a.as_raw(), b.as_raw(), block_size, mo, ml, mr, s.as_raw()))
    }
}

op! {
    /// Einstein summation, as NumPy's `einsum`: `subscripts` such as
    /// `"ij,jk->ik"` name the axes of each operand; repeated letters are
    /// multiplied along and letters missing from the output are summed.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let trace = ops::einsum("ii", &[a.clone()])?;
    /// assert_eq!(trace.item::<f32>()?, 5.0);
    /// let ab = ops::einsum("ij,jk->ik", &[a.clone(), a])?;
    /// assert_eq!(ab.to_vec::<f32>()?, [7.0, 10.0, 15.0, 22.0]);
    /// # Ok(()) }
    /// ```
    fn einsum(subscripts: &str, operands: &[Array]) -> Array |s| {
        let subscripts = std::ffi::CString::new(subscripts)
            .map_err(|_| Error::invalid("einsum: subscripts contain a NUL byte"))?;
        let v = VectorArray::from_arrays(operands)?;
        array_op!(mlx_einsum(subscripts.as_ptr(), v.as_raw(), s.as_raw()))
    }
}

ops! {
    /// The Kronecker product: every element of `a` times the whole of `b`,
    /// laid out in blocks (inputs of different rank get leading 1s). Empty
    /// inputs are an error.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1i32, 2], &[1, 2])?;
    /// let b = Array::from_slice(&[1i32, 10], &[2, 1])?;
    /// assert_eq!(ops::kron(&a, &b)?.to_vec::<i32>()?, [1, 2, 10, 20]);
    /// # Ok(()) }
    /// ```
    fn kron(a: &Array, b: &Array) => mlx_kron(a.as_raw(), b.as_raw());
    /// The inner product over the last axes: shape `a.shape[..-1] ++
    /// b.shape[..-1]` (an ordinary dot product for vectors).
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
    /// assert_eq!(ops::inner(&a, &a)?.item::<f32>()?, 14.0);
    /// # Ok(()) }
    /// ```
    fn inner(a: &Array, b: &Array) => mlx_inner(a.as_raw(), b.as_raw());
    /// The dot product of `a` and `b` along `axis` (after broadcasting);
    /// complex `a` is conjugated.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(ops::vecdot(&a, &a, -1)?.to_vec::<f32>()?, [5.0, 25.0]);
    /// # Ok(()) }
    /// ```
    fn vecdot(a: &Array, b: &Array, axis: i32) => mlx_vecdot(a.as_raw(), b.as_raw(), axis);
}

op! {
    /// The Walsh-Hadamard transform along the last axis: multiplication by
    /// the Hadamard matrix of that size, times `scale` (default `1/sqrt(n)`,
    /// which makes the transform orthonormal). MLX has matrices for sizes
    /// `m * 2^k` with `m` in 1, 12, 20, 28; other sizes are an `Err` when
    /// evaluated.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let x = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[4])?;
    /// assert_eq!(ops::hadamard_transform(&x, None)?.to_vec::<f32>()?, [5.0, -1.0, -2.0, 0.0]);
    /// # Ok(()) }
    /// ```
    fn hadamard_transform(a: &Array, scale: Option<f32>) -> Array |s| {
        let scale = mlx_sys::mlx_optional_float { value: scale.unwrap_or(0.0), has_value: scale.is_some() };
        array_op!(mlx_hadamard_transform(a.as_raw(), scale, s.as_raw()))
    }
}
