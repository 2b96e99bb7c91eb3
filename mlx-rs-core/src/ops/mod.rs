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
//! `sum_axes` several. Negative axes count from the end. Most of these are
//! also methods on [`Array`] with Python's defaults (`x.sum_axis(-1)`).
//!
//! Ops with a fixed number of outputs return a tuple (`linalg::qr` gives
//! `(q, r)`); ops with a variable number return a `Vec` (`split`).

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

/// The raw handle of an optional array; an empty handle (which mlx-c reads as
/// "not given") for `None`.
pub(crate) fn raw_or_null(a: Option<&Array>) -> mlx_sys::mlx_array {
    a.map_or(
        mlx_sys::mlx_array {
            ctx: std::ptr::null_mut(),
        },
        Array::as_raw,
    )
}

/// Runs `f` on `inputs`, through float32 when they all share one half
/// dtype (bfloat16, float16) and `s` is a CPU stream, and rounds the result
/// back to that dtype once.
///
/// MLX's CPU matmul and convolution kernels for half types are plain loops,
/// 12-17x slower than its float32 BLAS path; float32 also accumulates more
/// precisely. The casts are linear in the data, the product is not, so the
/// detour is cheap; gradients flow through the casts unchanged.
#[track_caller]
pub(crate) fn half_via_f32(
    inputs: &[&Array],
    s: &crate::Stream,
    f: impl FnOnce(&[Array]) -> Result<Array>,
) -> Result<Array> {
    // `f` is a closure, which `#[track_caller]` does not reach: errors are
    // re-located at the op's caller.
    let location = std::panic::Location::caller();
    let f = |x: &[Array]| f(x).map_err(|e| e.at(location));
    let half = match inputs.first().map(|a| a.dtype()) {
        Some(d @ (crate::Dtype::Bfloat16 | crate::Dtype::Float16))
            if inputs.iter().all(|a| a.dtype() == d)
                && s.device()?.device_type() == crate::DeviceType::Cpu =>
        {
            Some(d)
        }
        _ => None,
    };
    match half {
        Some(d) => {
            let wide = inputs
                .iter()
                .map(|a| astype_on(a, crate::Dtype::Float32, s))
                .collect::<Result<Vec<_>>>()?;
            astype_on(&f(&wide)?, d, s)
        }
        None => f(&inputs.iter().map(|&a| a.clone()).collect::<Vec<_>>()),
    }
}

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

pub mod cpu;
pub mod fast;
pub mod fft;
pub mod linalg;
pub mod nn;
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
