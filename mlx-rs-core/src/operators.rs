//! Arithmetic operators for [`Array`]: `+`, `-`, `*`, `/` and unary `-`.
//!
//! # They return `Result<Array>`
//! An operator cannot return a plain `Array` without panicking on failure
//! (mismatched shapes, an unsupported dtype), and nothing in this crate panics
//! on an MLX error. So every operator's `Output` is [`Result<Array>`]: finish
//! an expression with `?`.
//!
//! ```
//! # use mlx_rs_core::Array;
//! # fn main() -> mlx_rs_core::Result<()> {
//! let a = Array::from_slice(&[1.0f32, 2.0], &[2])?;
//! let b = Array::from_slice(&[3.0f32, 4.0], &[2])?;
//! let c = (&a + &b)?;               // borrow to keep using a and b
//! let d = (&a * 2.0 - &b)?;         // a `Result<Array>` can be the left operand
//! let e = (-(&c / &d)?)?;
//! # Ok(()) }
//! ```
//!
//! - Operands may be `Array` (consumed) or `&Array`, in any combination.
//! - A `Result<Array>` may be the **left** operand of an array or `&Array`,
//!   and either operand of an `Array`/`&Array`, so `&a * 2.0 - &b` chains;
//!   an `Err` operand is passed through unchanged. Rust's coherence rules
//!   forbid `scalar op Result<Array>`, `Result<Array> op scalar`,
//!   `Result op Result` and `-Result`: apply `?` first there.
//! - Each operator is the op of the same name in [`crate::ops`] ([`ops::add`],
//!   [`ops::subtract`], [`ops::multiply`], [`ops::divide`],
//!   [`ops::negative`]) on the current default stream, with broadcasting and
//!   MLX's type promotion; `/` is true division (integers give floats).
//!
//! # Scalars
//! `f32`, `f64`, [`crate::f16`], [`crate::bf16`], `i32`, `i64`, `u8`, `u16` and
//! `u32` can stand on either side of an `Array`/`&Array`. Like Python scalars
//! in MLX, they are *weak*: they take the array's dtype instead of promoting
//! it, so `bf16_array * 0.5` stays `bfloat16` and `u8_array + 1` stays
//! `uint8`. A float scalar with an integer or bool array gives `float32`; an
//! integer scalar with a bool array gives `int32`. The value is converted with
//! Rust's `as` rules (integers wrap to the array's integer type).

use std::borrow::Cow;
use std::ops::{Add, Div, Mul, Neg, Sub};

use half::{bf16, f16};
use num_complex::Complex32;

use crate::{ops, Array, Dtype, Result};

/// A scalar operand, before it meets the other operand's dtype.
#[derive(Clone, Copy)]
enum Scalar {
    Float(f64),
    Int(i64),
}

/// `value` as a 0-d array of the dtype it takes next to an array of `other`
/// (see the module docs on weak scalars).
#[track_caller]
fn weak_scalar(value: Scalar, other: Dtype) -> Result<Array> {
    let target = match value {
        Scalar::Float(_) if other.is_float() || other == Dtype::Complex64 => other,
        Scalar::Float(_) => Dtype::Float32,
        Scalar::Int(_) if other == Dtype::Bool => Dtype::Int32,
        Scalar::Int(_) => other,
    };
    let (f, i) = match value {
        Scalar::Float(v) => (v, v as i64),
        Scalar::Int(v) => (v as f64, v),
    };
    match target {
        Dtype::Bool => Array::scalar(i != 0),
        Dtype::Uint8 => Array::scalar(i as u8),
        Dtype::Uint16 => Array::scalar(i as u16),
        Dtype::Uint32 => Array::scalar(i as u32),
        Dtype::Uint64 => Array::scalar(i as u64),
        Dtype::Int8 => Array::scalar(i as i8),
        Dtype::Int16 => Array::scalar(i as i16),
        Dtype::Int32 => Array::scalar(i as i32),
        Dtype::Int64 => Array::scalar(i),
        Dtype::Float16 => Array::scalar(f16::from_f64(f)),
        Dtype::Bfloat16 => Array::scalar(bf16::from_f64(f)),
        Dtype::Float32 => Array::scalar(f as f32),
        Dtype::Float64 => Array::scalar(f),
        Dtype::Complex64 => Array::scalar(Complex32::new(f as f32, 0.0)),
    }
}

/// An array operand: owned, borrowed, or the result of an earlier operator.
trait Operand<'a> {
    fn operand(self) -> Result<Cow<'a, Array>>;
}

impl<'a> Operand<'a> for Array {
    fn operand(self) -> Result<Cow<'a, Array>> {
        Ok(Cow::Owned(self))
    }
}

impl<'a> Operand<'a> for &'a Array {
    fn operand(self) -> Result<Cow<'a, Array>> {
        Ok(Cow::Borrowed(self))
    }
}

impl<'a> Operand<'a> for Result<Array> {
    fn operand(self) -> Result<Cow<'a, Array>> {
        self.map(Cow::Owned)
    }
}

/// `impl Trait<R> for L` between array operands, through `op`.
macro_rules! array_binop {
    ($Trait:ident, $method:ident, $op:path, $sym:literal; $(($L:ty, $R:ty)),* $(,)?) => {$(
        #[doc = concat!("`a ", $sym, " b`: [`", stringify!($op), "`]; finish with `?` (see the operators docs).")]
        impl $Trait<$R> for $L {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: $R) -> Result<Array> {
                let lhs = self.operand()?;
                let rhs = rhs.operand()?;
                $op(&lhs, &rhs)
            }
        }
    )*};
}

/// All operand pairs for one operator.
macro_rules! array_binops {
    ($Trait:ident, $method:ident, $op:path, $sym:literal) => {
        array_binop! { $Trait, $method, $op, $sym;
            (Array, Array), (Array, &Array), (&Array, Array), (&Array, &Array),
            (Result<Array>, Array), (Result<Array>, &Array),
            (Array, Result<Array>), (&Array, Result<Array>),
        }
    };
}

array_binops!(Add, add, ops::add, "+");
array_binops!(Sub, sub, ops::subtract, "-");
array_binops!(Mul, mul, ops::multiply, "*");
array_binops!(Div, div, ops::divide, "/");

/// `array op scalar` and `scalar op array` for one operator and scalar type.
macro_rules! scalar_binop {
    ($Trait:ident, $method:ident, $op:path, $sym:literal, $S:ty, $kind:ident) => {
        #[doc = concat!("`a ", $sym, " scalar`: [`", stringify!($op), "`] with a weak scalar; finish with `?` (see the operators docs).")]
        impl $Trait<$S> for Array {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: $S) -> Result<Array> {
                let rhs = weak_scalar(Scalar::$kind(rhs.into()), self.dtype())?;
                $op(&self, &rhs)
            }
        }
        #[doc = concat!("`a ", $sym, " scalar`: [`", stringify!($op), "`] with a weak scalar; finish with `?` (see the operators docs).")]
        impl $Trait<$S> for &Array {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: $S) -> Result<Array> {
                let rhs = weak_scalar(Scalar::$kind(rhs.into()), self.dtype())?;
                $op(self, &rhs)
            }
        }
        #[doc = concat!("`scalar ", $sym, " a`: [`", stringify!($op), "`] with a weak scalar; finish with `?` (see the operators docs).")]
        impl $Trait<Array> for $S {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: Array) -> Result<Array> {
                let lhs = weak_scalar(Scalar::$kind(self.into()), rhs.dtype())?;
                $op(&lhs, &rhs)
            }
        }
        #[doc = concat!("`scalar ", $sym, " a`: [`", stringify!($op), "`] with a weak scalar; finish with `?` (see the operators docs).")]
        impl $Trait<&Array> for $S {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: &Array) -> Result<Array> {
                let lhs = weak_scalar(Scalar::$kind(self.into()), rhs.dtype())?;
                $op(&lhs, rhs)
            }
        }
    };
}

/// All four operators for each scalar type.
macro_rules! scalar_binops {
    ($($S:ty => $kind:ident),* $(,)?) => {$(
        scalar_binop!(Add, add, ops::add, "+", $S, $kind);
        scalar_binop!(Sub, sub, ops::subtract, "-", $S, $kind);
        scalar_binop!(Mul, mul, ops::multiply, "*", $S, $kind);
        scalar_binop!(Div, div, ops::divide, "/", $S, $kind);
    )*};
}

scalar_binops! {
    f32 => Float, f64 => Float, f16 => Float, bf16 => Float,
    i32 => Int, i64 => Int, u8 => Int, u16 => Int, u32 => Int,
}

/// `-a`: [`ops::negative`]; finish with `?` (see the operators docs).
impl Neg for Array {
    type Output = Result<Array>;
    #[track_caller]
    fn neg(self) -> Result<Array> {
        ops::negative(&self)
    }
}

/// `-a`: [`ops::negative`]; finish with `?` (see the operators docs).
impl Neg for &Array {
    type Output = Result<Array>;
    #[track_caller]
    fn neg(self) -> Result<Array> {
        ops::negative(self)
    }
}
