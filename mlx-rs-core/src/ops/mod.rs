//! Array operations. Every function takes `&Array` arguments and returns
//! `Result<Array>` lazily (nothing runs until evaluation).
//!
//! Each op `foo(..)` runs on the current default stream and has a twin
//! `foo_on(.., on)` that takes a [`crate::Stream`] or [`crate::Device`]:
//!
//! ```
//! # use mlx_rs_core::{ops, Array, Device};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let a = Array::from_slice(&[1.0f32, 2.0], &[2])?;
//! let on_cpu = ops::exp_on(&a, &Device::cpu())?;
//! # Ok(()) }
//! ```
//!
//! Naming follows mlx-c: `sum` reduces everything, `sum_axis` one axis,
//! `sum_axes` several. Negative axes count from the end.

#[allow(unused_imports)]
use crate::{Array, Result, StreamOrDevice};

/// Defines an op and its `_on` twin.
///
/// Short form: `fn name(args) => mlx_fn(c_args);` calls `mlx_fn(res, c_args..,
/// stream)`. Long form: `fn name(args) -> Ret |s| { body }` with the resolved
/// stream bound to `s`.
macro_rules! op {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $f:ident($($e:expr),* $(,)?);) => {
        $crate::ops::op! {
            $(#[$m])* fn $name($($arg: $ty),*) -> $crate::Array |s| {
                $crate::ffi::array_op!($f($($e,)* s.as_raw()))
            }
        }
    };
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty |$s:ident| $body:block) => {
        paste::paste! {
            $(#[$m])*
            #[track_caller]
            #[allow(clippy::too_many_arguments)] // mirrors MLX's signatures
            pub fn $name($($arg: $ty),*) -> $crate::Result<$ret> {
                [<$name _on>]($($arg,)* $crate::StreamOrDevice::Default)
            }

            #[doc = concat!("`", stringify!($name), "` on a chosen stream or device.")]
            #[track_caller]
            #[allow(clippy::too_many_arguments)]
            pub fn [<$name _on>]<'s>(
                $($arg: $ty,)*
                on: impl Into<$crate::StreamOrDevice<'s>>,
            ) -> $crate::Result<$ret> {
                let $s = on.into().resolve()?;
                $body
            }
        }
    };
}

/// Defines several ops with [`op!`]'s short form.
macro_rules! ops {
    ($($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $f:ident($($e:expr),* $(,)?);)*) => {
        $($crate::ops::op! { $(#[$m])* fn $name($($arg: $ty),*) => $f($($e),*); })*
    };
}

pub(crate) use op;

mod arith;
mod conv;
mod creation;
mod diagonal;
mod index;
mod products;
mod quantized;
mod rearrange;
mod reduce;
mod shape;
mod sort;
mod window;

pub mod fast;
pub mod fft;
pub mod linalg;
pub mod random;

pub use arith::*;
pub use conv::*;
pub use creation::*;
pub use diagonal::*;
pub use index::*;
pub use products::*;
pub use quantized::*;
pub use rearrange::*;
pub use reduce::*;
pub use shape::*;
pub use sort::*;
pub use window::*;
