//! Methods on [`Array`] for the common ops, with Python MLX's defaults.
//!
//! Each method is the op of the same (or the MLX) name in [`crate::ops`] on
//! the current default stream; the free functions stay for the full set of
//! flags and for `_on` streams. Shapes and axes take any integer type
//! ([`IntoShape`], [`IntoAxes`]); binary ops take arrays or plain numbers
//! ([`ArrayArg`]).
//!
//! Reductions follow one pattern: `x.sum()` reduces everything,
//! `x.sum_axis(-1)` (or `x.sum_axis([0, 1])`) the given axes, and
//! `x.sum_keepdims(-1)` keeps them as size 1, like Python's
//! `x.sum()`, `x.sum(-1)` and `x.sum(-1, keepdims=True)`.
//!
//! ```
//! use mlx_rs_core::Array;
//! # fn main() -> mlx_rs_core::Result<()> {
//! let x = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
//! let y = x.reshape([3, 2])?.transpose()?.matmul(&x.t()?)?; // [2, 2]
//! assert_eq!(y.shape(), [2, 2]);
//! assert_eq!(x.sum_axis(-1)?.to_vec::<f32>()?, [6.0, 15.0]);
//! assert_eq!(x.argmax_axis(1usize)?.to_vec::<u32>()?, [2, 2]);
//! assert_eq!(x.mean()?.item::<f32>()?, 3.5);
//! # Ok(()) }
//! ```

use crate::args::{DimInt, IntoAxes, IntoShape};
use crate::operators::{operands, ArrayArg, ScalarArg};
use crate::ops::{self, Index};
use crate::{Array, Dtype, Element, Result};

/// Defines `name()`, `name_axis(axes)` and `name_keepdims(axes)` reductions.
macro_rules! reductions {
    ($($(#[$m:meta])* $name:ident => $all:path, $axes:path;)*) => {paste::paste! {$(
        $(#[$m])*
        #[doc = concat!("Over all elements ([`", stringify!($all), "`]).")]
        #[track_caller]
        pub fn $name(&self) -> Result<Array> {
            $all(self, false)
        }

        #[doc = concat!("Over `axes` (one axis or several), dropping them ([`", stringify!($axes), "`]).")]
        #[track_caller]
        pub fn [<$name _axis>](&self, axes: impl IntoAxes) -> Result<Array> {
            $axes(self, &axes.to_axes()?, false)
        }

        #[doc = concat!("Over `axes`, keeping them as size 1 ([`", stringify!($axes), "`]).")]
        #[track_caller]
        pub fn [<$name _keepdims>](&self, axes: impl IntoAxes) -> Result<Array> {
            $axes(self, &axes.to_axes()?, true)
        }
    )*}};
}

/// Defines unary methods that forward to the op of the same name.
macro_rules! unary {
    ($($name:ident => $op:path),* $(,)?) => {$(
        #[doc = concat!("[`", stringify!($op), "`].")]
        #[track_caller]
        pub fn $name(&self) -> Result<Array> {
            $op(self)
        }
    )*};
}

/// Defines binary methods taking an array or a number.
macro_rules! binary {
    ($($name:ident => $op:path),* $(,)?) => {$(
        #[doc = concat!("[`", stringify!($op), "`] with an array or a number (weak scalar).")]
        #[track_caller]
        pub fn $name(&self, other: impl ArrayArg) -> Result<Array> {
            let (a, b) = operands(self, other)?;
            $op(&a, &b)
        }
    )*};
}

impl Array {
    /// An array of zeros of element type `T`.
    ///
    /// ```
    /// # use mlx_rs_core::Array;
    /// let z = Array::zeros::<f32>(&[2, 3usize]).unwrap();
    /// assert_eq!(z.shape(), [2, 3]);
    /// ```
    #[track_caller]
    pub fn zeros<T: Element>(shape: impl IntoShape) -> Result<Array> {
        ops::zeros(&shape.to_shape()?, T::DTYPE)
    }

    /// An array of ones of element type `T`.
    #[track_caller]
    pub fn ones<T: Element>(shape: impl IntoShape) -> Result<Array> {
        ops::ones(&shape.to_shape()?, T::DTYPE)
    }

    /// An array of `shape` filled with `value`.
    #[track_caller]
    pub fn full<T: Element>(shape: impl IntoShape, value: T) -> Result<Array> {
        ops::full(&shape.to_shape()?, &Array::scalar(value)?, T::DTYPE)
    }

    /// `0, 1, …, n - 1` of element type `T`.
    #[track_caller]
    pub fn arange<T: Element>(n: impl DimInt) -> Result<Array> {
        ops::arange(0.0, f64::from(n.to_i32()?), 1.0, T::DTYPE)
    }

    /// Zeros with this array's shape and dtype.
    #[track_caller]
    pub fn zeros_like(&self) -> Result<Array> {
        ops::zeros_like(self)
    }

    /// Standard normal samples (float32) in `shape`, from the global
    /// generator (Python's `mx.random.normal(shape)`; see
    /// [`ops::random::normal`] for the other parameters).
    #[track_caller]
    pub fn normal(shape: impl IntoShape) -> Result<Array> {
        ops::random::normal(&shape.to_shape()?, Dtype::Float32, 0.0, 1.0, None)
    }

    /// Uniform samples in `[0, 1)` (float32) in `shape`, from the global
    /// generator.
    #[track_caller]
    pub fn uniform(shape: impl IntoShape) -> Result<Array> {
        ops::random::uniform(0.0, 1.0, &shape.to_shape()?, Dtype::Float32, None)
    }

    /// Uniform integers in `[low, high)` (int32) in `shape`, from the global
    /// generator (Python's `mx.random.randint(low, high, shape)`).
    #[track_caller]
    pub fn randint(low: impl DimInt, high: impl DimInt, shape: impl IntoShape) -> Result<Array> {
        ops::random::randint(
            low.to_i32()?,
            high.to_i32()?,
            &shape.to_shape()?,
            Dtype::Int32,
            None,
        )
    }

    // ----- shape -----

    /// The same elements in a new shape (one dimension may be `-1`).
    #[track_caller]
    pub fn reshape(&self, shape: impl IntoShape) -> Result<Array> {
        ops::reshape(self, &shape.to_shape()?)
    }

    /// Reverses the axes (Python's `x.T`, `x.transpose()`).
    #[track_caller]
    pub fn transpose(&self) -> Result<Array> {
        ops::transpose(self)
    }

    /// Permutes the axes: output axis `i` is input axis `axes[i]` (Python's
    /// `x.transpose(0, 2, 1, 3)`).
    #[track_caller]
    pub fn permute(&self, axes: impl IntoAxes) -> Result<Array> {
        ops::transpose_axes(self, &axes.to_axes()?)
    }

    /// Swaps the last two axes (a matrix transpose of each matrix in a batch).
    #[track_caller]
    pub fn t(&self) -> Result<Array> {
        ops::swapaxes(self, -1, -2)
    }

    /// Swaps two axes.
    #[track_caller]
    pub fn swapaxes(&self, axis1: impl DimInt, axis2: impl DimInt) -> Result<Array> {
        ops::swapaxes(self, axis1.to_i32()?, axis2.to_i32()?)
    }

    /// Moves axis `source` to `destination`.
    #[track_caller]
    pub fn moveaxis(&self, source: impl DimInt, destination: impl DimInt) -> Result<Array> {
        ops::moveaxis(self, source.to_i32()?, destination.to_i32()?)
    }

    /// All axes merged into one (Python's `x.flatten()`).
    #[track_caller]
    pub fn flatten(&self) -> Result<Array> {
        ops::flatten(self, 0, -1)
    }

    /// Axes `start..=end` merged into one.
    #[track_caller]
    pub fn flatten_range(&self, start: impl DimInt, end: impl DimInt) -> Result<Array> {
        ops::flatten(self, start.to_i32()?, end.to_i32()?)
    }

    /// Every size-1 axis removed.
    #[track_caller]
    pub fn squeeze(&self) -> Result<Array> {
        ops::squeeze(self)
    }

    /// The given size-1 axes removed.
    #[track_caller]
    pub fn squeeze_axes(&self, axes: impl IntoAxes) -> Result<Array> {
        ops::squeeze_axes(self, &axes.to_axes()?)
    }

    /// Size-1 axes inserted at `axes` (one or several).
    #[track_caller]
    pub fn expand_dims(&self, axes: impl IntoAxes) -> Result<Array> {
        ops::expand_dims_axes(self, &axes.to_axes()?)
    }

    /// Broadcast to `shape`.
    #[track_caller]
    pub fn broadcast_to(&self, shape: impl IntoShape) -> Result<Array> {
        ops::broadcast_to(self, &shape.to_shape()?)
    }

    /// NumPy-style indexing `x[..]`: one entry (`0`, `1..3`, `..`, `&idx`)
    /// or a tuple of them (see [`Index`]).
    ///
    /// ```
    /// # use mlx_rs_core::Array;
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let x = Array::arange::<f32>(6)?.reshape([2, 3])?;
    /// assert_eq!(x.index((1, 1..))?.to_vec::<f32>()?, [4.0, 5.0]);
    /// assert_eq!(x.index((.., -1))?.to_vec::<f32>()?, [2.0, 5.0]);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn index<'a>(&self, indices: impl IntoIndices<'a>) -> Result<Array> {
        ops::index(self, &indices.into_indices())
    }

    /// Elements at integer `indices` along `axis` (Python's
    /// `mx.take(x, indices, axis)`).
    #[track_caller]
    pub fn take(&self, indices: &Array, axis: impl DimInt) -> Result<Array> {
        ops::take_axis(self, indices, axis.to_i32()?)
    }

    /// `out[.., i, ..] = x[.., indices[.., i, ..], ..]` along `axis`.
    #[track_caller]
    pub fn take_along_axis(&self, indices: &Array, axis: impl DimInt) -> Result<Array> {
        ops::take_along_axis(self, indices, axis.to_i32()?)
    }

    // ----- products and reductions -----

    /// Matrix product (batch dimensions broadcast).
    #[track_caller]
    pub fn matmul(&self, other: &Array) -> Result<Array> {
        ops::matmul(self, other)
    }

    reductions! {
        sum => ops::sum, ops::sum_axes;
        mean => ops::mean, ops::mean_axes;
        max => ops::max, ops::max_axes;
        min => ops::min, ops::min_axes;
        prod => ops::prod, ops::prod_axes;
        logsumexp => ops::logsumexp, ops::logsumexp_axes;
        all => ops::all, ops::all_axes;
        any => ops::any, ops::any_axes;
    }

    /// Variance of all elements (`ddof` 0, as in Python).
    #[track_caller]
    pub fn var(&self) -> Result<Array> {
        ops::var(self, false, 0)
    }

    /// Variance over `axes` (`ddof` 0).
    #[track_caller]
    pub fn var_axis(&self, axes: impl IntoAxes) -> Result<Array> {
        ops::var_axes(self, &axes.to_axes()?, false, 0)
    }

    /// Variance over `axes` (`ddof` 0), keeping them as size 1.
    #[track_caller]
    pub fn var_keepdims(&self, axes: impl IntoAxes) -> Result<Array> {
        ops::var_axes(self, &axes.to_axes()?, true, 0)
    }

    /// Standard deviation of all elements (`ddof` 0).
    #[track_caller]
    pub fn std(&self) -> Result<Array> {
        ops::std(self, false, 0)
    }

    /// Standard deviation over `axes` (`ddof` 0).
    #[track_caller]
    pub fn std_axis(&self, axes: impl IntoAxes) -> Result<Array> {
        ops::std_axes(self, &axes.to_axes()?, false, 0)
    }

    /// Index of the maximum of the flattened array.
    #[track_caller]
    pub fn argmax(&self) -> Result<Array> {
        ops::argmax(self, false)
    }

    /// Indices of the maxima along `axis`.
    #[track_caller]
    pub fn argmax_axis(&self, axis: impl DimInt) -> Result<Array> {
        ops::argmax_axis(self, axis.to_i32()?, false)
    }

    /// Index of the minimum of the flattened array.
    #[track_caller]
    pub fn argmin(&self) -> Result<Array> {
        ops::argmin(self, false)
    }

    /// Indices of the minima along `axis`.
    #[track_caller]
    pub fn argmin_axis(&self, axis: impl DimInt) -> Result<Array> {
        ops::argmin_axis(self, axis.to_i32()?, false)
    }

    /// Softmax over `axes` (usually `-1`).
    #[track_caller]
    pub fn softmax(&self, axes: impl IntoAxes) -> Result<Array> {
        ops::softmax_axes(self, &axes.to_axes()?, false)
    }

    /// Log-softmax over `axis` ([`ops::nn::log_softmax`]).
    #[track_caller]
    pub fn log_softmax(&self, axis: impl DimInt) -> Result<Array> {
        ops::nn::log_softmax(self, axis.to_i32()?)
    }

    /// Cumulative sum along `axis`.
    #[track_caller]
    pub fn cumsum(&self, axis: impl DimInt) -> Result<Array> {
        ops::cumsum_axis(self, axis.to_i32()?, false, true)
    }

    // ----- sorting -----

    /// Sorted along the last axis (Python's default).
    #[track_caller]
    pub fn sort(&self) -> Result<Array> {
        ops::sort(self)
    }

    /// Sorted along `axis`.
    #[track_caller]
    pub fn sort_axis(&self, axis: impl DimInt) -> Result<Array> {
        ops::sort_axis(self, axis.to_i32()?)
    }

    /// Indices that sort the last axis.
    #[track_caller]
    pub fn argsort(&self) -> Result<Array> {
        ops::argsort(self)
    }

    /// The `k` largest values along the last axis (in no particular order).
    #[track_caller]
    pub fn topk(&self, k: impl DimInt) -> Result<Array> {
        ops::topk(self, k.to_i32()?)
    }

    // ----- element-wise -----

    unary! {
        abs => ops::abs, exp => ops::exp, log => ops::log, log1p => ops::log1p,
        sqrt => ops::sqrt, rsqrt => ops::rsqrt, square => ops::square,
        reciprocal => ops::reciprocal, sin => ops::sin, cos => ops::cos,
        tanh => ops::tanh, sigmoid => ops::sigmoid, erf => ops::erf,
        floor => ops::floor, ceil => ops::ceil, sign => ops::sign,
        isnan => ops::isnan, logical_not => ops::logical_not,
        stop_gradient => ops::stop_gradient,
        relu => ops::nn::relu, gelu => ops::nn::gelu, silu => ops::nn::silu,
    }

    /// Rounded to the nearest integer (ties to even), as `mx.round(x)`.
    #[track_caller]
    pub fn round(&self) -> Result<Array> {
        ops::round(self, 0)
    }

    binary! {
        pow => ops::power,
        maximum => ops::maximum,
        minimum => ops::minimum,
        equal => ops::equal,
        not_equal => ops::not_equal,
        less => ops::less,
        less_equal => ops::less_equal,
        greater => ops::greater,
        greater_equal => ops::greater_equal,
        logical_and => ops::logical_and,
        logical_or => ops::logical_or,
    }

    /// Limited to `[min, max]` (numbers; see [`ops::clip`] for array or
    /// one-sided bounds).
    #[track_caller]
    pub fn clip(&self, min: impl ScalarArg, max: impl ScalarArg) -> Result<Array> {
        let lo = crate::operators::weak_scalar(min.scalar(), self.dtype())?;
        let hi = crate::operators::weak_scalar(max.scalar(), self.dtype())?;
        ops::clip(self, Some(&lo), Some(&hi))
    }

    /// Whether every element is close to `other`'s (`rtol` 1e-5, `atol`
    /// 1e-8, as in Python), as a Rust `bool`.
    #[track_caller]
    pub fn allclose(&self, other: &Array) -> Result<bool> {
        ops::allclose(self, other, 1e-5, 1e-8, false)?.item::<bool>()
    }

    /// Whether `other` has the same shape and values, as a Rust `bool`.
    #[track_caller]
    pub fn array_equal(&self, other: &Array) -> Result<bool> {
        ops::array_equal(self, other, false)?.item::<bool>()
    }

    /// Converted to `dtype` (alias of [`Array::astype`] named like candle).
    #[track_caller]
    pub fn to_dtype(&self, dtype: Dtype) -> Result<Array> {
        ops::astype(self, dtype)
    }
}

/// Index entries for [`Array::index`]: one entry, or a tuple of up to six.
pub trait IntoIndices<'a> {
    /// The entries.
    fn into_indices(self) -> Vec<Index<'a>>;
}

impl<'a, I: Into<Index<'a>>> IntoIndices<'a> for I {
    fn into_indices(self) -> Vec<Index<'a>> {
        vec![self.into()]
    }
}

macro_rules! tuple_indices {
    ($(($($T:ident $v:ident),+)),*) => {$(
        impl<'a, $($T: Into<Index<'a>>),+> IntoIndices<'a> for ($($T,)+) {
            fn into_indices(self) -> Vec<Index<'a>> {
                let ($($v,)+) = self;
                vec![$($v.into()),+]
            }
        }
    )*};
}

tuple_indices! {
    (A a, B b), (A a, B b, C c), (A a, B b, C c, D d),
    (A a, B b, C c, D d, E e), (A a, B b, C c, D d, E e, F f)
}
