//! Indexing: NumPy-style [`index`] expressions, slices, takes, gathers and
//! scatters.
//!
//! # Out-of-range index arrays are clamped
//! MLX does not check the values of *array* indices, and an out-of-range one
//! would read or write outside the array. Checking them would force
//! evaluation, so the ops that take array indices ([`take`], [`take_axis`],
//! [`take_along_axis`], [`put_along_axis`], [`gather`], the `scatter*` family
//! and [`Index::Array`]) instead rewrite them lazily: negative indices count
//! from the end of their axis once, then positions are clamped into the axis
//! (as JAX does for gathers). Integer and range indices given as plain numbers
//! ([`Index::At`], [`Index::Range`], [`slice()`]) are checked on the Rust side
//! and out-of-range ones are errors.

use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

use crate::ffi::array_op;
use crate::handles::VectorArray;
use crate::{Array, Error, Result, Stream, StreamOrDevice};

/// One entry of an [`index`] expression, following NumPy's rules.
///
/// Build entries with `From` conversions (`2.into()`, `(1..3).into()`,
/// `(..).into()`, `(&idx).into()`) or the constructors:
///
/// ```
/// # use mlx_rs_core::{ops::{self, Index}, Array, Dtype};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let a = ops::reshape(&ops::arange(0.0, 24.0, 1.0, Dtype::Float32)?, &[2, 3, 4])?;
/// // a[-1, 1:, ::-2]  -> shape [2, 2]
/// let b = ops::index(&a, &[(-1).into(), (1..).into(), Index::step_by(-2)])?;
/// // a[..., None, 0]  -> shape [2, 3, 1]
/// let c = ops::index(&a, &[Index::Ellipsis, Index::NewAxis, 0.into()])?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub enum Index<'a> {
    /// A single position (negative counts from the end); drops the axis.
    /// Out of range is an error.
    At(i32),
    /// A Python-style slice `start:stop:step`; `None` bounds mean "from the
    /// first" / "to the last" element in the direction of `step`. Bounds are
    /// clamped to the axis like in Python; `step` must not be 0.
    Range {
        /// First position (negative counts from the end).
        start: Option<i32>,
        /// One past the last position (negative counts from the end).
        stop: Option<i32>,
        /// Stride; negative walks backwards.
        step: i32,
    },
    /// Inserts a new axis of size 1 (NumPy's `None` / `np.newaxis`).
    NewAxis,
    /// Stands for as many full slices as needed (`...`); at most one.
    Ellipsis,
    /// Integer index array (NumPy "advanced" indexing). Index arrays (and
    /// [`Index::At`] entries, when any array is present) broadcast together;
    /// their broadcast shape replaces the indexed axes in place if those
    /// entries are adjacent, and goes first otherwise. Boolean masks are not
    /// supported. Out-of-range values are clamped (see the module docs).
    Array(&'a Array),
}

impl Index<'static> {
    /// The slice `start:stop:step`.
    pub fn slice(start: impl Into<Option<i32>>, stop: impl Into<Option<i32>>, step: i32) -> Self {
        Index::Range {
            start: start.into(),
            stop: stop.into(),
            step,
        }
    }

    /// The whole axis with a stride: `::step` (`step_by(-1)` reverses).
    pub fn step_by(step: i32) -> Self {
        Index::slice(None, None, step)
    }
}

impl std::fmt::Debug for Index<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Index::At(i) => write!(f, "At({i})"),
            Index::Range { start, stop, step } => {
                let show = |v: &Option<i32>| v.map(|v| v.to_string()).unwrap_or_default();
                write!(f, "Range({}:{}:{step})", show(start), show(stop))
            }
            Index::NewAxis => f.write_str("NewAxis"),
            Index::Ellipsis => f.write_str("Ellipsis"),
            // Not the values: printing an array evaluates it.
            Index::Array(a) => write!(f, "Array(shape={:?}, dtype={})", a.shape(), a.dtype()),
        }
    }
}

impl From<i32> for Index<'static> {
    fn from(i: i32) -> Self {
        Index::At(i)
    }
}

impl From<Range<i32>> for Index<'static> {
    fn from(r: Range<i32>) -> Self {
        Index::slice(r.start, r.end, 1)
    }
}

impl From<RangeFrom<i32>> for Index<'static> {
    fn from(r: RangeFrom<i32>) -> Self {
        Index::slice(r.start, None, 1)
    }
}

impl From<RangeTo<i32>> for Index<'static> {
    fn from(r: RangeTo<i32>) -> Self {
        Index::slice(None, r.end, 1)
    }
}

impl From<RangeFull> for Index<'static> {
    fn from(_: RangeFull) -> Self {
        Index::slice(None, None, 1)
    }
}

/// `a..=b` is `a:b+1`; `a..=-1` runs to the end of the axis.
impl From<RangeInclusive<i32>> for Index<'static> {
    fn from(r: RangeInclusive<i32>) -> Self {
        Index::slice(*r.start(), inclusive_stop(*r.end()), 1)
    }
}

/// `..=b` is `:b+1`; `..=-1` is the whole axis.
impl From<RangeToInclusive<i32>> for Index<'static> {
    fn from(r: RangeToInclusive<i32>) -> Self {
        Index::slice(None, inclusive_stop(r.end), 1)
    }
}

impl<'a> From<&'a Array> for Index<'a> {
    fn from(a: &'a Array) -> Self {
        Index::Array(a)
    }
}

fn inclusive_stop(end: i32) -> Option<i32> {
    if end == -1 {
        None
    } else {
        end.checked_add(1)
    }
}

/// A Python slice resolved against an axis of size `n`: the first position
/// and the number of elements selected.
fn resolve_slice(start: Option<i32>, stop: Option<i32>, step: i32, n: i32) -> Result<(i64, i64)> {
    if step == 0 {
        return Err(Error::invalid("slice step must not be 0"));
    }
    let (n, step) = (i64::from(n), i64::from(step));
    let wrap = |v: i32| {
        let v = i64::from(v);
        if v < 0 {
            v + n
        } else {
            v
        }
    };
    if step > 0 {
        let start = start.map_or(0, |v| wrap(v).clamp(0, n));
        let stop = stop.map_or(n, |v| wrap(v).clamp(0, n));
        let len = if stop > start {
            (stop - start + step - 1) / step
        } else {
            0
        };
        Ok((start, len))
    } else {
        let start = start.map_or(n - 1, |v| wrap(v).clamp(-1, n - 1));
        let stop = stop.map_or(-1, |v| wrap(v).clamp(-1, n - 1));
        let len = if start > stop {
            (start - stop - step - 1) / -step
        } else {
            0
        };
        Ok((start, len))
    }
}

/// `(start, stop, stride)` for `mlx_slice` selecting exactly `len` elements
/// from `start` by `step` on an axis of size `n` (already resolved, so MLX's
/// own clamping leaves them as they are).
fn slice_params(start: i64, len: i64, step: i32, n: i32) -> (i32, i32, i32) {
    if len == 0 {
        return (0, 0, 1);
    }
    let last = start + (len - 1) * i64::from(step);
    let stop = if step > 0 {
        last + 1
    } else if last >= 1 {
        last - 1
    } else {
        // "Before position 0": MLX adds `n` to negative stops.
        -1 - i64::from(n)
    };
    // All values lie within `-n-1..=n` of an i32-sized axis.
    (start as i32, stop as i32, step)
}

/// An index entry after the ellipsis is expanded.
enum Item<'a> {
    At,
    Range { len: i64 },
    NewAxis,
    Array(&'a Array),
}

op! {
    /// NumPy-style indexing `a[indices]`: integers (drop their axis; out of
    /// range is an error), slices with steps and negative bounds, new axes,
    /// one ellipsis, and integer index arrays (see [`Index`]). Entries
    /// missing at the end mean full slices.
    ///
    /// Slices and integers become one `slice` (a view when evaluated); index
    /// arrays become a `gather`.
    fn index(a: &Array, indices: &[Index<'_>]) -> Array |s| {
        index_impl(a, indices, &s)
    }
}

fn index_impl(a: &Array, indices: &[Index<'_>], s: &Stream) -> Result<Array> {
    let shape = a.shape();
    let ndim = shape.len();
    let consuming = indices
        .iter()
        .filter(|i| matches!(i, Index::At(_) | Index::Range { .. } | Index::Array(_)))
        .count();
    let ellipses = indices
        .iter()
        .filter(|i| matches!(i, Index::Ellipsis))
        .count();
    if ellipses > 1 {
        return Err(Error::invalid("an index may hold at most one ellipsis"));
    }
    if consuming > ndim {
        return Err(Error::invalid(format!(
            "too many indices ({consuming}) for an array of {ndim} dimensions"
        )));
    }

    // Expand the ellipsis (or the implicit trailing one) into full slices,
    // resolving every entry against its axis.
    let mut expanded: Vec<Index<'_>> = Vec::with_capacity(indices.len() + ndim);
    for idx in indices {
        match idx {
            Index::Ellipsis => {
                expanded.extend((0..ndim - consuming).map(|_| Index::step_by(1)));
            }
            other => expanded.push(*other),
        }
    }
    if ellipses == 0 {
        expanded.extend((0..ndim - consuming).map(|_| Index::step_by(1)));
    }

    let mut items = Vec::with_capacity(expanded.len());
    let (mut starts, mut stops, mut strides) = (vec![0; ndim], shape.clone(), vec![1; ndim]);
    let mut sliced = shape.clone();
    let mut axis = 0usize;
    for idx in expanded {
        match idx {
            Index::At(i) => {
                let n = shape[axis];
                let j = if i < 0 {
                    i64::from(i) + i64::from(n)
                } else {
                    i64::from(i)
                };
                if !(0..i64::from(n)).contains(&j) {
                    return Err(Error::invalid(format!(
                        "index {i} is out of range for axis {axis} of size {n}"
                    )));
                }
                let j = j as i32;
                (starts[axis], stops[axis], sliced[axis]) = (j, j + 1, 1);
                items.push(Item::At);
                axis += 1;
            }
            Index::Range { start, stop, step } => {
                let n = shape[axis];
                let (first, len) = resolve_slice(start, stop, step, n)?;
                (starts[axis], stops[axis], strides[axis]) = slice_params(first, len, step, n);
                sliced[axis] = len as i32;
                items.push(Item::Range { len });
                axis += 1;
            }
            Index::Array(arr) => {
                let dtype = arr.dtype();
                if !dtype.is_integer() {
                    return Err(Error::invalid(format!(
                        "index arrays must have an integer dtype, found {dtype} \
                         (boolean masks are not supported)"
                    )));
                }
                items.push(Item::Array(arr));
                axis += 1;
            }
            Index::NewAxis => items.push(Item::NewAxis),
            Index::Ellipsis => unreachable!("expanded above"),
        }
    }

    let trivial =
        starts.iter().all(|&v| v == 0) && stops == shape && strides.iter().all(|&v| v == 1);
    let b = if trivial {
        a.clone()
    } else {
        array_op!(mlx_slice(
            a.as_raw(),
            starts.as_ptr(),
            starts.len(),
            stops.as_ptr(),
            stops.len(),
            strides.as_ptr(),
            strides.len(),
            s.as_raw()
        ))?
    };

    let has_arrays = items.iter().any(|i| matches!(i, Item::Array(_)));
    if !has_arrays {
        let out_shape: Vec<i32> = items
            .iter()
            .filter_map(|i| match i {
                Item::At => None,
                Item::Range { len, .. } => Some(*len as i32),
                Item::NewAxis => Some(1),
                Item::Array(_) => unreachable!(),
            })
            .collect();
        return reshape_if_needed(b, &out_shape, s);
    }

    // Advanced indexing: gather along the integer / array axes of `b`, taking
    // whole slices of the others.
    let mut adv_axes = Vec::new();
    let mut adv_index = Vec::new();
    let mut adv_positions = Vec::new();
    let mut slice_sizes = sliced.clone();
    let mut axis = 0usize;
    for (pos, item) in items.iter().enumerate() {
        match item {
            Item::At => {
                // The axis was already sliced down to the chosen position.
                adv_axes.push(axis as i32);
                adv_index.push(Array::scalar(0i32)?);
                adv_positions.push(pos);
                slice_sizes[axis] = 1;
                axis += 1;
            }
            Item::Array(arr) => {
                adv_axes.push(axis as i32);
                adv_index.push(bounded(arr, b.dim(axis as i32)?, 1, s)?);
                adv_positions.push(pos);
                slice_sizes[axis] = 1;
                axis += 1;
            }
            Item::Range { .. } => axis += 1,
            Item::NewAxis => {}
        }
    }
    let v = VectorArray::from_arrays(&adv_index)?;
    let g = array_op!(mlx_gather(
        b.as_raw(),
        v.as_raw(),
        adv_axes.as_ptr(),
        adv_axes.len(),
        slice_sizes.as_ptr(),
        slice_sizes.len(),
        s.as_raw()
    ))?;
    // `g` is [broadcast index shape] ++ slice_sizes.
    let g_shape = g.shape();
    let nb = g_shape.len() - ndim;
    let bshape = &g_shape[..nb];
    let range_dims: Vec<i32> = items
        .iter()
        .filter_map(|i| match i {
            Item::Range { len, .. } => Some(*len as i32),
            _ => None,
        })
        .collect();
    let squeezed: Vec<i32> = bshape.iter().chain(&range_dims).copied().collect();
    let mut g = reshape_if_needed(g, &squeezed, s)?;

    let first = adv_positions[0];
    let adjacent = adv_positions[adv_positions.len() - 1] - first + 1 == adv_positions.len();
    let mut out_shape = Vec::new();
    if adjacent {
        // The broadcast dims take the place of the first advanced entry.
        let before = items[..first]
            .iter()
            .filter(|i| matches!(i, Item::Range { .. }))
            .count();
        if before > 0 && nb > 0 {
            let perm: Vec<i32> = (nb..nb + before)
                .chain(0..nb)
                .chain(nb + before..squeezed.len())
                .map(|v| v as i32)
                .collect();
            g = array_op!(mlx_transpose_axes(
                g.as_raw(),
                perm.as_ptr(),
                perm.len(),
                s.as_raw()
            ))?;
        }
        for (pos, item) in items.iter().enumerate() {
            match item {
                Item::Range { len, .. } => out_shape.push(*len as i32),
                Item::NewAxis => out_shape.push(1),
                _ if pos == first => out_shape.extend_from_slice(bshape),
                _ => {}
            }
        }
    } else {
        out_shape.extend_from_slice(bshape);
        for item in &items {
            match item {
                Item::Range { len, .. } => out_shape.push(*len as i32),
                Item::NewAxis => out_shape.push(1),
                _ => {}
            }
        }
    }
    reshape_if_needed(g, &out_shape, s)
}

fn reshape_if_needed(a: Array, shape: &[i32], s: &Stream) -> Result<Array> {
    if a.shape() == shape {
        Ok(a)
    } else {
        array_op!(mlx_reshape(
            a.as_raw(),
            shape.as_ptr(),
            shape.len(),
            s.as_raw()
        ))
    }
}

/// Index arrays reach MLX's gather and scatter kernels unchecked, and an
/// out-of-range index there reads or writes outside the array. So every index
/// array passes through this first, lazily: negative indices count from the
/// end once (NumPy), then positions are clamped to `[0, n - block]` (JAX's rule
/// for gathers). `block` is how many elements from the position are touched.
#[track_caller]
pub(crate) fn bounded(indices: &Array, n: i32, block: i32, s: &Stream) -> Result<Array> {
    let dtype = indices.dtype();
    if !dtype.is_integer() {
        return Err(Error::invalid(format!(
            "index arrays must be integers, got {dtype}"
        )));
    }
    if n < block.max(1) {
        return Err(Error::invalid(format!(
            "cannot index {} element(s) of an axis of size {n}",
            block.max(1)
        )));
    }
    // `n` and the clamp bounds must be representable in the index dtype:
    // 300 as a uint8 is 44, which clamped index 100 of a 300-long axis to 43.
    let widened;
    let (indices, dtype) = if dtype.size_of() < 4 {
        widened = crate::ops::astype_on(indices, crate::Dtype::Int32, s)?;
        (&widened, crate::Dtype::Int32)
    } else {
        (indices, dtype)
    };
    let scalar = |v: i32| crate::ops::astype_on(&Array::scalar(v)?, dtype, s);
    let zero = scalar(0)?;
    let wrapped = if matches!(
        dtype,
        crate::Dtype::Int8 | crate::Dtype::Int16 | crate::Dtype::Int32 | crate::Dtype::Int64
    ) {
        let neg = crate::ops::less_on(indices, &zero, s)?;
        let shifted = crate::ops::add_on(indices, &scalar(n)?, s)?;
        crate::ops::where_on(&neg, &shifted, indices, s)?
    } else {
        indices.clone()
    };
    crate::ops::clip_on(&wrapped, Some(&zero), Some(&scalar(n - block.max(1))?), s)
}

/// Size of axis `axis` of `a` (negative counts from the end).
#[track_caller]
fn axis_len(a: &Array, axis: i32) -> Result<i32> {
    a.dim(axis)
}

op! {
    /// Elements of the flattened `a` at `indices` (any integer shape; the
    /// result has the shape of `indices`). Out-of-range indices are clamped.
    fn take(a: &Array, indices: &Array) -> Array |s| {
        let n = i32::try_from(a.size()).map_err(|_| Error::invalid("array too large to take from"))?;
        let idx = bounded(indices, n, 1, &s)?;
        array_op!(mlx_take(a.as_raw(), idx.as_raw(), s.as_raw()))
    }
}

op! {
    /// Slices of `a` at `indices` along `axis`: the indexed axis is replaced
    /// by the shape of `indices`. Out-of-range indices are clamped.
    fn take_axis(a: &Array, indices: &Array, axis: i32) -> Array |s| {
        let idx = bounded(indices, axis_len(a, axis)?, 1, &s)?;
        array_op!(mlx_take_axis(a.as_raw(), idx.as_raw(), axis, s.as_raw()))
    }
}

op! {
    /// `out[.., i, ..] = a[.., indices[.., i, ..], ..]` along `axis`
    /// (`indices` broadcasts against `a` on the other axes), like NumPy's
    /// `take_along_axis`. Out-of-range indices are clamped.
    fn take_along_axis(a: &Array, indices: &Array, axis: i32) -> Array |s| {
        let idx = bounded(indices, axis_len(a, axis)?, 1, &s)?;
        array_op!(mlx_take_along_axis(a.as_raw(), idx.as_raw(), axis, s.as_raw()))
    }
}

op! {
    /// A copy of `a` with `values` written at `indices` along `axis` (the
    /// inverse of [`take_along_axis`]; `values` broadcasts to the shape of
    /// `indices`). With repeated indices one of the writes wins. Out-of-range
    /// indices are clamped.
    fn put_along_axis(a: &Array, indices: &Array, values: &Array, axis: i32) -> Array |s| {
        let idx = bounded(indices, axis_len(a, axis)?, 1, &s)?;
        array_op!(mlx_put_along_axis(a.as_raw(), idx.as_raw(), values.as_raw(), axis, s.as_raw()))
    }
}

op! {
    /// Like [`put_along_axis`], but adds `values` (repeated indices
    /// accumulate). Out-of-range indices are clamped.
    fn scatter_add_axis(a: &Array, indices: &Array, values: &Array, axis: i32) -> Array |s| {
        let idx = bounded(indices, axis_len(a, axis)?, 1, &s)?;
        array_op!(mlx_scatter_add_axis(a.as_raw(), idx.as_raw(), values.as_raw(), axis, s.as_raw()))
    }
}

/// The strided slice `a[start[i]:stop[i]:strides[i]]` on every axis `i`
/// (all three slices have one entry per axis). Negative bounds count from the
/// end and bounds are clamped to the axis, as MLX does; for a negative
/// stride, pass a `stop` of `-n - 1` to run through position 0. [`index`]
/// offers the full Python slice syntax.
// Written out rather than through `op!`, whose generated link to `slice`
// would be ambiguous with the primitive type in rustdoc.
#[track_caller]
pub fn slice(a: &Array, start: &[i32], stop: &[i32], strides: &[i32]) -> Result<Array> {
    slice_on(a, start, stop, strides, StreamOrDevice::Default)
}

/// [`slice()`] on a chosen stream or device.
#[track_caller]
pub fn slice_on<'s>(
    a: &Array,
    start: &[i32],
    stop: &[i32],
    strides: &[i32],
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<Array> {
    let s = on.into().resolve()?;
    check_slice_args(a, start, stop, strides)?;
    array_op!(mlx_slice(
        a.as_raw(),
        start.as_ptr(),
        start.len(),
        stop.as_ptr(),
        stop.len(),
        strides.as_ptr(),
        strides.len(),
        s.as_raw()
    ))
}

op! {
    /// A copy of `src` with the strided slice `start:stop:strides` (as in
    /// [`slice()`]) replaced by `update`, which must broadcast to the slice's
    /// shape.
    fn slice_update(src: &Array, update: &Array, start: &[i32], stop: &[i32], strides: &[i32]) -> Array |s| {
        check_slice_args(src, start, stop, strides)?;
        array_op!(mlx_slice_update(
            src.as_raw(),
            update.as_raw(),
            start.as_ptr(),
            start.len(),
            stop.as_ptr(),
            stop.len(),
            strides.as_ptr(),
            strides.len(),
            s.as_raw()
        ))
    }
}

#[track_caller]
fn check_slice_args(a: &Array, start: &[i32], stop: &[i32], strides: &[i32]) -> Result<()> {
    let n = a.ndim();
    if start.len() != n || stop.len() != n || strides.len() != n {
        return Err(Error::invalid(format!(
            "slice needs one start, stop and stride per axis ({n}), got {}, {} and {}",
            start.len(),
            stop.len(),
            strides.len()
        )));
    }
    if strides.contains(&0) {
        return Err(Error::invalid("slice strides must not be 0"));
    }
    Ok(())
}

/// Checks that there is one index array per axis and resolves negative axes.
#[track_caller]
fn index_axes(a: &Array, indices: &[Array], axes: &[i32], what: &str) -> Result<Vec<i32>> {
    if indices.len() != axes.len() {
        return Err(Error::invalid(format!(
            "{what} needs one index array per axis, got {} index arrays and {} axes",
            indices.len(),
            axes.len()
        )));
    }
    let n = a.ndim() as i32;
    axes.iter()
        .map(|&axis| {
            let resolved = if axis < 0 { axis + n } else { axis };
            if (0..n).contains(&resolved) {
                Ok(resolved)
            } else {
                Err(Error::invalid(format!(
                    "{what}: axis {axis} is out of range for {n} dimensions"
                )))
            }
        })
        .collect()
}

op! {
    /// General gather: `indices[k]` (broadcast together to a shape `I`) are
    /// positions along `axes[k]`; at each position a block of `slice_sizes`
    /// (one size per axis of `a`, starting there; other axes start at 0) is
    /// taken. The result has shape `I ++ slice_sizes`. Negative axes count
    /// from the end. Positions are clamped so that each block lies inside `a`.
    fn gather(a: &Array, indices: &[Array], axes: &[i32], slice_sizes: &[i32]) -> Array |s| {
        let axes = index_axes(a, indices, axes, "gather")?;
        if slice_sizes.len() != a.ndim() {
            return Err(Error::invalid(format!(
                "gather needs one slice size per axis ({}), got {}",
                a.ndim(),
                slice_sizes.len()
            )));
        }
        let shape = a.shape();
        let indices = indices
            .iter()
            .zip(&axes)
            .map(|(idx, &ax)| bounded(idx, shape[ax as usize], slice_sizes[ax as usize], &s))
            .collect::<Result<Vec<_>>>()?;
        let v = VectorArray::from_arrays(&indices)?;
        array_op!(mlx_gather(
            a.as_raw(),
            v.as_raw(),
            axes.as_ptr(),
            axes.len(),
            slice_sizes.as_ptr(),
            slice_sizes.len(),
            s.as_raw()
        ))
    }
}

/// Defines a scatter op over `mlx_scatter*`.
macro_rules! scatter_op {
    ($(#[$m:meta])* fn $name:ident => $f:ident) => {
        op! {
            $(#[$m])*
            ///
            /// `indices[k]` (broadcast together to a shape `I`) are positions
            /// along `axes[k]`; `updates` has shape `I ++ block`, where `block`
            /// has one entry per axis of `a` (1 on the indexed axes is usual),
            /// and each block is applied starting at its position (other axes
            /// start at 0). Negative axes count from the end. Positions are
            /// clamped so that each block lies inside `a`.
            fn $name(a: &Array, indices: &[Array], updates: &Array, axes: &[i32]) -> Array |s| {
                let axes = index_axes(a, indices, axes, stringify!($name))?;
                let (shape, ushape) = (a.shape(), updates.shape());
                let lead = ushape.len().checked_sub(shape.len()).ok_or_else(|| {
                    Error::invalid(concat!(stringify!($name), ": updates need the index dimensions plus one per axis of `a`"))
                })?;
                let indices = indices
                    .iter()
                    .zip(&axes)
                    .map(|(idx, &ax)| bounded(idx, shape[ax as usize], ushape[lead + ax as usize], &s))
                    .collect::<Result<Vec<_>>>()?;
                let v = VectorArray::from_arrays(&indices)?;
                array_op!($f(
                    a.as_raw(),
                    v.as_raw(),
                    updates.as_raw(),
                    axes.as_ptr(),
                    axes.len(),
                    s.as_raw()
                ))
            }
        }
    };
}

scatter_op! {
    /// A copy of `a` with blocks of `updates` written at the given positions
    /// (with repeated positions one of the writes wins).
    fn scatter => mlx_scatter
}
scatter_op! {
    /// A copy of `a` with blocks of `updates` added at the given positions
    /// (repeated positions accumulate).
    fn scatter_add => mlx_scatter_add
}
scatter_op! {
    /// A copy of `a` with elements multiplied by blocks of `updates` at the
    /// given positions (repeated positions accumulate).
    fn scatter_prod => mlx_scatter_prod
}
scatter_op! {
    /// A copy of `a` holding the maximum of each element and the blocks of
    /// `updates` at the given positions.
    fn scatter_max => mlx_scatter_max
}
scatter_op! {
    /// A copy of `a` holding the minimum of each element and the blocks of
    /// `updates` at the given positions.
    fn scatter_min => mlx_scatter_min
}

/// Defines a `slice_update` variant that combines instead of replacing.
macro_rules! slice_update_op {
    ($(#[$m:meta])* fn $name:ident => $f:ident) => {
        op! {
            $(#[$m])*
            fn $name(src: &Array, update: &Array, start: &[i32], stop: &[i32], strides: &[i32]) -> Array |s| {
                check_slice_args(src, start, stop, strides)?;
                array_op!($f(
                    src.as_raw(),
                    update.as_raw(),
                    start.as_ptr(),
                    start.len(),
                    stop.as_ptr(),
                    stop.len(),
                    strides.as_ptr(),
                    strides.len(),
                    s.as_raw()
                ))
            }
        }
    };
}

slice_update_op! {
    /// Like [`slice_update`], but adds `update` to the slice.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[1i32, 1, 1, 1], &[4])?;
    /// let b = ops::slice_update_add(&a, &Array::scalar(5i32)?, &[1], &[3], &[1])?;
    /// assert_eq!(b.to_vec::<i32>()?, [1, 6, 6, 1]);
    /// # Ok(()) }
    /// ```
    fn slice_update_add => mlx_slice_update_add
}
slice_update_op! {
    /// Like [`slice_update`], but multiplies the slice by `update`.
    fn slice_update_prod => mlx_slice_update_prod
}
slice_update_op! {
    /// Like [`slice_update`], but keeps the maximum of the slice and `update`.
    fn slice_update_max => mlx_slice_update_max
}
slice_update_op! {
    /// Like [`slice_update`], but keeps the minimum of the slice and `update`.
    fn slice_update_min => mlx_slice_update_min
}

/// Checks `axes` (negative count from the end) and makes the start positions
/// of a dynamic slice safe: MLX reads or writes outside the array for
/// out-of-range starts (and crashed on negative ones), so, lazily, negative
/// starts count from the end once and then starts are clamped so that a
/// block of `block[k]` elements from `start[k]` lies inside axis `axes[k]`.
#[track_caller]
fn dynamic_starts(
    a: &Array,
    start: &Array,
    axes: &[i32],
    block: impl Fn(usize) -> i32,
    s: &Stream,
) -> Result<(Array, Vec<i32>)> {
    if !start.dtype().is_integer() {
        return Err(Error::invalid(format!(
            "dynamic slice starts must be integers, got {}",
            start.dtype()
        )));
    }
    if start.size() != axes.len() || start.ndim() > 1 {
        return Err(Error::invalid(format!(
            "dynamic slice needs a vector of one start per axis ({} axes), got shape {:?}",
            axes.len(),
            start.shape()
        )));
    }
    let shape = a.shape();
    let n = shape.len() as i32;
    let mut dims = Vec::with_capacity(axes.len());
    let mut highest = Vec::with_capacity(axes.len());
    let mut resolved = Vec::with_capacity(axes.len());
    for &axis in axes {
        let ax = if axis < 0 { axis + n } else { axis };
        if !(0..n).contains(&ax) {
            return Err(Error::invalid(format!(
                "dynamic slice: axis {axis} is out of range for {n} dimensions"
            )));
        }
        let (dim, size) = (shape[ax as usize], block(ax as usize));
        if size > dim || size < 0 {
            return Err(Error::invalid(format!(
                "dynamic slice: a block of {size} does not fit axis {axis} of size {dim}"
            )));
        }
        dims.push(dim);
        highest.push(dim - size);
        resolved.push(ax);
    }
    let len = axes.len() as i32;
    let start = crate::ops::astype_on(start, crate::Dtype::Int64, s)?;
    let start = crate::ops::reshape_on(&start, &[len], s)?;
    let as_array = |v: &[i32]| {
        let v: Vec<i64> = v.iter().map(|&x| i64::from(x)).collect();
        Array::from_slice(&v, &[len])
    };
    let zero = Array::scalar(0i64)?;
    let neg = crate::ops::less_on(&start, &zero, s)?;
    let shifted = crate::ops::add_on(&start, &as_array(&dims)?, s)?;
    let wrapped = crate::ops::where_on(&neg, &shifted, &start, s)?;
    let clamped = crate::ops::clip_on(&wrapped, Some(&zero), Some(&as_array(&highest)?), s)?;
    Ok((clamped, resolved))
}

op! {
    /// A slice whose start positions are an array (so it need not be known
    /// when the graph is built, e.g. inside [`crate::transforms::compile`]):
    /// `start[k]` is the position along `axes[k]`, and `slice_size` gives the
    /// result's size on every axis of `a` (axes not in `axes` start at 0).
    /// Negative starts count from the end; starts are clamped so that the
    /// slice lies inside `a`.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[0i32, 1, 2, 3, 4, 5], &[2, 3])?;
    /// let at = Array::from_slice(&[1i32], &[1])?;
    /// let b = ops::slice_dynamic(&a, &at, &[1], &[2, 2])?;
    /// assert_eq!(b.to_vec::<i32>()?, [1, 2, 4, 5]);
    /// # Ok(()) }
    /// ```
    fn slice_dynamic(a: &Array, start: &Array, axes: &[i32], slice_size: &[i32]) -> Array |s| {
        if slice_size.len() != a.ndim() {
            return Err(Error::invalid(format!(
                "slice_dynamic needs one slice size per axis ({}), got {}",
                a.ndim(),
                slice_size.len()
            )));
        }
        let shape = a.shape();
        if let Some(ax) = (0..shape.len()).find(|&i| slice_size[i] < 0 || slice_size[i] > shape[i]) {
            return Err(Error::invalid(format!(
                "slice_dynamic: size {} does not fit axis {ax} of size {}",
                slice_size[ax], shape[ax]
            )));
        }
        let (start, axes) = dynamic_starts(a, start, axes, |ax| slice_size[ax], &s)?;
        array_op!(mlx_slice_dynamic(
            a.as_raw(),
            start.as_raw(),
            axes.as_ptr(),
            axes.len(),
            slice_size.as_ptr(),
            slice_size.len(),
            s.as_raw()
        ))
    }
}

op! {
    /// A copy of `src` with the block at array-valued start positions
    /// replaced by `update` (`start[k]` is the position along `axes[k]`; the
    /// block has `update`'s shape, which must have `src`'s rank). Negative
    /// starts count from the end; starts are clamped so that the block lies
    /// inside `src`.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[0i32; 5], &[5])?;
    /// let at = Array::from_slice(&[3i32], &[1])?;
    /// let u = Array::from_slice(&[7i32, 8], &[2])?;
    /// assert_eq!(ops::slice_update_dynamic(&a, &u, &at, &[0])?.to_vec::<i32>()?, [0, 0, 0, 7, 8]);
    /// # Ok(()) }
    /// ```
    fn slice_update_dynamic(src: &Array, update: &Array, start: &Array, axes: &[i32]) -> Array |s| {
        let ushape = update.shape();
        if ushape.len() != src.ndim() {
            return Err(Error::invalid(format!(
                "slice_update_dynamic: update of shape {ushape:?} must have the rank of src {:?}",
                src.shape()
            )));
        }
        let (start, axes) = dynamic_starts(src, start, axes, |ax| ushape[ax], &s)?;
        array_op!(mlx_slice_update_dynamic(
            src.as_raw(),
            update.as_raw(),
            start.as_raw(),
            axes.as_ptr(),
            axes.len(),
            s.as_raw()
        ))
    }
}

op! {
    /// A copy of `a` where the positions that are `true` in `mask` take the
    /// elements of `src` in order (row-major), like PyTorch's
    /// `masked_scatter`. `mask` has the shape of `a` or of its leading axes;
    /// a `true` then selects a whole block (the trailing axes), filled by
    /// the next block of `src`. A `src` with fewer elements than selected is
    /// an `Err` (at evaluation) on the CPU. MLX's GPU kernels do not check
    /// that and read past the end of `src` (seen on CUDA); there `src` is
    /// padded with zeros first, so missing elements come out as 0.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[0i32; 4], &[4])?;
    /// let mask = Array::from_slice(&[false, true, false, true], &[4])?;
    /// let src = Array::from_slice(&[5i32, 6], &[2])?;
    /// assert_eq!(ops::masked_scatter(&a, &mask, &src)?.to_vec::<i32>()?, [0, 5, 0, 6]);
    /// # Ok(()) }
    /// ```
    fn masked_scatter(a: &Array, mask: &Array, src: &Array) -> Array |s| {
        // At most `a.size()` elements are selected; padding `src` along its
        // first axis to that bound keeps the GPU's unchecked reads inside it.
        let shape = src.shape();
        let per_row = shape.iter().skip(1).map(|&d| d as usize).product::<usize>();
        let short = src.size() < a.size()
            && !shape.is_empty()
            && per_row > 0
            && s.device()?.device_type() == crate::DeviceType::Gpu;
        let padded;
        let src = if short {
            let missing = a.size().div_ceil(per_row) - shape[0] as usize;
            let mut zeros_shape = shape.clone();
            zeros_shape[0] = i32::try_from(missing)
                .map_err(|_| Error::invalid("masked_scatter: array too large"))?;
            let zeros = crate::ops::zeros_on(&zeros_shape, src.dtype(), &s)?;
            padded = crate::ops::concatenate_on(&[src, &zeros], 0, &s)?;
            &padded
        } else {
            src
        };
        array_op!(mlx_masked_scatter(a.as_raw(), mask.as_raw(), src.as_raw(), s.as_raw()))
    }
}
