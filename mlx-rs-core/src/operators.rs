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
//! `f32`, `f64`, [`crate::f16`], [`crate::bf16`] and the integer types (see
//! [`ScalarArg`]) can stand right of an array; `f32`, `i32`, `f16` and
//! `bf16` (so any literal: `2.0 * &a`, `1 - &a`) also left of one
//! (`x as f32 * &a` for an `f64` variable) of an `Array`/`&Array`. Like Python scalars
//! in MLX, they are *weak*: they take the array's dtype instead of promoting
//! it, so `bf16_array * 0.5` stays `bfloat16` and `u8_array + 1` stays
//! `uint8`. A float scalar with an integer or bool array gives `float32`; an
//! integer scalar with a bool array gives `int32`. An integer that does not
//! fit the array's integer dtype (`u8_array + 300`) is an `Err`, as Python
//! MLX raises `OverflowError`; floats are rounded to the array's float dtype.
//!
//! # What does not chain
//! Rust's orphan rule forbids operator impls between two `Result<Array>`s
//! and between a `Result<Array>` and a number (neither type is this
//! crate's). Apply `?` to one side there: `(&m * b1 + (g * (1.0 - b1))?)?`.

use std::borrow::Cow;
use std::ops::{Add, Div, Mul, Neg, Sub};

use half::{bf16, f16};
use num_complex::Complex32;

use crate::{ops, Array, Dtype, Result};

/// A scalar operand, before it meets the other operand's dtype.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Scalar {
    /// A float.
    Float(f64),
    /// An integer (or bool).
    Int(i128),
}

mod sealed {
    pub trait Sealed {}
}

/// A plain Rust number usable where Python MLX takes a scalar: in the
/// operators (`&a * 2.0`, `2 - &a`) and as an [`ArrayArg`] of ops such as
/// [`ops::power`] and [`Array::maximum`]. Implemented for `f32`, `f64`,
/// [`crate::f16`], [`crate::bf16`], every integer type up to 64 bits, and
/// `bool`; sealed.
pub trait ScalarArg: Copy + sealed::Sealed {
    #[doc(hidden)]
    fn scalar(self) -> Scalar;
}

macro_rules! scalar_arg {
    ($($S:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl sealed::Sealed for $S {}
        impl ScalarArg for $S {
            fn scalar(self) -> Scalar {
                let $v = self;
                $e
            }
        }
    )*};
}

scalar_arg! {
    f32 => |v| Scalar::Float(v.into()), f64 => |v| Scalar::Float(v),
    f16 => |v| Scalar::Float(v.into()), bf16 => |v| Scalar::Float(v.into()),
    i8 => |v| Scalar::Int(v.into()), i16 => |v| Scalar::Int(v.into()),
    i32 => |v| Scalar::Int(v.into()), i64 => |v| Scalar::Int(v.into()),
    u8 => |v| Scalar::Int(v.into()), u16 => |v| Scalar::Int(v.into()),
    u32 => |v| Scalar::Int(v.into()), u64 => |v| Scalar::Int(v.into()),
    usize => |v| Scalar::Int(v as i128), isize => |v| Scalar::Int(v as i128),
    bool => |v| Scalar::Int(v.into()),
}

/// The range of an integer dtype.
fn int_range(d: Dtype) -> Option<(i128, i128)> {
    Some(match d {
        Dtype::Bool => (0, 1),
        Dtype::Uint8 => (0, u8::MAX.into()),
        Dtype::Uint16 => (0, u16::MAX.into()),
        Dtype::Uint32 => (0, u32::MAX.into()),
        Dtype::Uint64 => (0, u64::MAX.into()),
        Dtype::Int8 => (i8::MIN.into(), i8::MAX.into()),
        Dtype::Int16 => (i16::MIN.into(), i16::MAX.into()),
        Dtype::Int32 => (i32::MIN.into(), i32::MAX.into()),
        Dtype::Int64 => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    })
}

/// `value` as a 0-d array of the dtype it takes next to an array of `other`
/// (see the module docs on weak scalars). An integer that does not fit an
/// integer `other` is an `Err`, as Python MLX raises `OverflowError`.
#[track_caller]
pub(crate) fn weak_scalar(value: Scalar, other: Dtype) -> Result<Array> {
    let target = match value {
        Scalar::Float(_) if other.is_float() || other == Dtype::Complex64 => other,
        Scalar::Float(_) => Dtype::Float32,
        Scalar::Int(_) if other == Dtype::Bool => Dtype::Int32,
        Scalar::Int(_) => other,
    };
    if let (Scalar::Int(i), Some((lo, hi))) = (value, int_range(target)) {
        if i < lo || i > hi {
            return Err(crate::Error::invalid(format!(
                "integer scalar {i} does not fit the array's dtype {target:?} \
                 (range {lo}..={hi}); convert the array with astype first"
            )));
        }
    }
    let (f, i) = match value {
        Scalar::Float(v) => (v, v as i128),
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
        Dtype::Int64 => Array::scalar(i as i64),
        Dtype::Float16 => Array::scalar(f16::from_f64(f)),
        Dtype::Bfloat16 => Array::scalar(bf16::from_f64(f)),
        Dtype::Float32 => Array::scalar(f as f32),
        Dtype::Float64 => Array::scalar(f),
        Dtype::Complex64 => Array::scalar(Complex32::new(f as f32, 0.0)),
    }
}

/// An operand of an op that takes an array or a plain number: `&Array`,
/// `Array`, or any [`ScalarArg`]. Numbers are weak scalars (they take the
/// other operand's dtype; see the module docs).
pub trait ArrayArg {
    /// The operand as an array, given the other operand's dtype.
    fn to_array(self, other: Dtype) -> Result<Array>;
    /// The operand's dtype, if it is an array.
    fn dtype(&self) -> Option<Dtype>;
}

impl ArrayArg for &Array {
    fn to_array(self, _: Dtype) -> Result<Array> {
        Ok(self.clone())
    }
    fn dtype(&self) -> Option<Dtype> {
        Some(Array::dtype(self))
    }
}

impl ArrayArg for Array {
    fn to_array(self, _: Dtype) -> Result<Array> {
        Ok(self)
    }
    fn dtype(&self) -> Option<Dtype> {
        Some(Array::dtype(self))
    }
}

impl<S: ScalarArg> ArrayArg for S {
    #[track_caller]
    fn to_array(self, other: Dtype) -> Result<Array> {
        weak_scalar(self.scalar(), other)
    }
    fn dtype(&self) -> Option<Dtype> {
        None
    }
}

/// Both operands as arrays: a number takes the other's dtype (two numbers:
/// the first is float32 or int32 by kind, and the second follows it).
#[track_caller]
pub(crate) fn operands(a: impl ArrayArg, b: impl ArrayArg) -> Result<(Array, Array)> {
    let (da, db) = (a.dtype(), b.dtype());
    let a = a.to_array(db.unwrap_or(Dtype::Float32))?;
    let b = b.to_array(da.unwrap_or(a.dtype()))?;
    Ok((a, b))
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

/// `array op scalar` (any [`ScalarArg`]) for one operator.
macro_rules! scalar_rhs {
    ($Trait:ident, $method:ident, $op:path, $sym:literal) => {
        #[doc = concat!("`a ", $sym, " scalar`: [`", stringify!($op), "`] with a weak scalar; finish with `?` (see the operators docs).")]
        impl<S: ScalarArg> $Trait<S> for Array {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: S) -> Result<Array> {
                let rhs = weak_scalar(rhs.scalar(), self.dtype())?;
                $op(&self, &rhs)
            }
        }
        #[doc = concat!("`a ", $sym, " scalar`: [`", stringify!($op), "`] with a weak scalar; finish with `?` (see the operators docs).")]
        impl<S: ScalarArg> $Trait<S> for &Array {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: S) -> Result<Array> {
                let rhs = weak_scalar(rhs.scalar(), self.dtype())?;
                $op(self, &rhs)
            }
        }
    };
}

scalar_rhs!(Add, add, ops::add, "+");
scalar_rhs!(Sub, sub, ops::subtract, "-");
scalar_rhs!(Mul, mul, ops::multiply, "*");
scalar_rhs!(Div, div, ops::divide, "/");

/// `scalar op array` for one operator and scalar type (Rust's orphan rule
/// asks for one impl per scalar type here).
macro_rules! scalar_lhs {
    ($Trait:ident, $method:ident, $op:path, $sym:literal, $S:ty) => {
        #[doc = concat!("`scalar ", $sym, " a`: [`", stringify!($op), "`] with a weak scalar; finish with `?` (see the operators docs).")]
        impl $Trait<Array> for $S {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: Array) -> Result<Array> {
                let lhs = weak_scalar(self.scalar(), rhs.dtype())?;
                $op(&lhs, &rhs)
            }
        }
        #[doc = concat!("`scalar ", $sym, " a`: [`", stringify!($op), "`] with a weak scalar; finish with `?` (see the operators docs).")]
        impl $Trait<&Array> for $S {
            type Output = Result<Array>;
            #[track_caller]
            fn $method(self, rhs: &Array) -> Result<Array> {
                let lhs = weak_scalar(self.scalar(), rhs.dtype())?;
                $op(&lhs, rhs)
            }
        }
    };
}

/// All four operators for each scalar type on the left.
macro_rules! scalar_lhs_all {
    ($($S:ty),* $(,)?) => {$(
        scalar_lhs!(Add, add, ops::add, "+", $S);
        scalar_lhs!(Sub, sub, ops::subtract, "-", $S);
        scalar_lhs!(Mul, mul, ops::multiply, "*", $S);
        scalar_lhs!(Div, div, ops::divide, "/", $S);
    )*};
}

// One float and one integer type only: with two candidates (f32 and f64)
// a literal such as `2.0 * &a` stays ambiguous until Rust's fallback, too
// late for a method call or `?` on the result (E0282). f32 is the type ML
// code holds its constants in.
scalar_lhs_all!(f32, i32, f16, bf16);

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
