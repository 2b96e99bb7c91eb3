//! Argument conversions: shapes and axes from the integer types users hold.
//!
//! MLX counts dimensions in `i32`. Methods on [`crate::Array`] take shapes as
//! [`IntoShape`] (`[2, 3]`, `&[b, l, h, d]` of `i32`, `i64` or `usize`, a
//! `Vec`) and axes as [`IntoAxes`] (one axis such as `-1` or `1usize`, or a
//! list of them); a value that does not fit `i32` is an `Err`.

use crate::{Error, Result};

/// An integer type usable as a dimension or axis (`i8`..`i64`, `u8`..`u64`,
/// `isize`, `usize`).
pub trait DimInt: Copy + std::fmt::Debug {
    /// The value as `i32`; `Err` if it does not fit.
    fn to_i32(self) -> Result<i32>;
}

macro_rules! dim_int {
    ($($T:ty),*) => {$(
        impl DimInt for $T {
            #[track_caller]
            fn to_i32(self) -> Result<i32> {
                i32::try_from(self)
                    .map_err(|_| Error::invalid(format!("{self} does not fit a dimension or axis (i32)")))
            }
        }
    )*};
}

dim_int!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

/// A shape: a list of dimensions of any [`DimInt`] type, or `()` for a scalar.
pub trait IntoShape {
    /// The dimensions as `i32`.
    fn to_shape(&self) -> Result<Vec<i32>>;
}

impl<T: DimInt> IntoShape for [T] {
    #[track_caller]
    fn to_shape(&self) -> Result<Vec<i32>> {
        self.iter().map(|d| d.to_i32()).collect()
    }
}

impl<T: DimInt, const N: usize> IntoShape for [T; N] {
    #[track_caller]
    fn to_shape(&self) -> Result<Vec<i32>> {
        self[..].to_shape()
    }
}

impl<T: DimInt> IntoShape for Vec<T> {
    #[track_caller]
    fn to_shape(&self) -> Result<Vec<i32>> {
        self[..].to_shape()
    }
}

impl IntoShape for () {
    fn to_shape(&self) -> Result<Vec<i32>> {
        Ok(Vec::new())
    }
}

impl<S: IntoShape + ?Sized> IntoShape for &S {
    #[track_caller]
    fn to_shape(&self) -> Result<Vec<i32>> {
        (**self).to_shape()
    }
}

/// One axis (`-1`, `2usize`) or several (`[0, 1]`, `&axes`).
pub trait IntoAxes {
    /// The axes as `i32`.
    fn to_axes(&self) -> Result<Vec<i32>>;
}

impl<T: DimInt> IntoAxes for T {
    #[track_caller]
    fn to_axes(&self) -> Result<Vec<i32>> {
        Ok(vec![self.to_i32()?])
    }
}

impl<T: DimInt> IntoAxes for [T] {
    #[track_caller]
    fn to_axes(&self) -> Result<Vec<i32>> {
        self.to_shape()
    }
}

impl<T: DimInt, const N: usize> IntoAxes for [T; N] {
    #[track_caller]
    fn to_axes(&self) -> Result<Vec<i32>> {
        self.to_shape()
    }
}

impl<T: DimInt> IntoAxes for Vec<T> {
    #[track_caller]
    fn to_axes(&self) -> Result<Vec<i32>> {
        self.to_shape()
    }
}

impl<T: DimInt> IntoAxes for &[T] {
    #[track_caller]
    fn to_axes(&self) -> Result<Vec<i32>> {
        self.to_shape()
    }
}

impl<T: DimInt, const N: usize> IntoAxes for &[T; N] {
    #[track_caller]
    fn to_axes(&self) -> Result<Vec<i32>> {
        self.to_shape()
    }
}

impl<T: DimInt> IntoAxes for &Vec<T> {
    #[track_caller]
    fn to_axes(&self) -> Result<Vec<i32>> {
        self.to_shape()
    }
}
