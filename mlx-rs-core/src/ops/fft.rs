//! Discrete Fourier transforms.
//!
//! Complex transforms return `complex64`; real input is promoted. `n`
//! arguments give the transformed length along each axis (the input is
//! truncated or zero-padded to it); `None` keeps the input's length (for the
//! inverse real transforms, `2 * (m - 1)` along the last transformed axis,
//! where `m` is the input's length there). [`FftNorm`] picks the scaling.
//!
//! ```
//! # use mlx_rs_core::{ops::fft::{self, FftNorm}, Array};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let x = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[4])?;
//! let spectrum = fft::rfft(&x, None, -1, FftNorm::Backward)?; // 3 complex bins
//! let back = fft::irfft(&spectrum, Some(4), -1, FftNorm::Backward)?;
//! # Ok(()) }
//! ```

use crate::ffi::array_op;
use crate::{Array, Error, Result};

/// The scaling of a transform pair (NumPy's `norm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FftNorm {
    /// No scaling forward, `1/n` on the inverse (the usual convention).
    #[default]
    Backward,
    /// `1/sqrt(n)` both ways (unitary).
    Ortho,
    /// `1/n` forward, none on the inverse.
    Forward,
}

impl FftNorm {
    fn to_raw(self) -> mlx_sys::mlx_fft_norm {
        match self {
            FftNorm::Backward => mlx_sys::MLX_FFT_NORM_BACKWARD,
            FftNorm::Ortho => mlx_sys::MLX_FFT_NORM_ORTHO,
            FftNorm::Forward => mlx_sys::MLX_FFT_NORM_FORWARD,
        }
    }
}

/// Which transform the default lengths are for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Output length = input length.
    Same,
    /// Inverse real: the last axis goes from `m` bins to `2 * (m - 1)` samples.
    InverseReal,
}

/// The axes to transform: `axes`, or all of `a`'s axes.
fn all_axes(a: &Array, axes: Option<&[i32]>) -> Vec<i32> {
    match axes {
        Some(axes) => axes.to_vec(),
        None => (0..a.ndim() as i32).collect(),
    }
}

/// The transformed lengths: `n` if given (its length must match `axes`), else
/// the defaults described in the module docs.
#[track_caller]
fn lengths(a: &Array, n: Option<&[i32]>, axes: &[i32], kind: Kind) -> Result<Vec<i32>> {
    if let Some(n) = n {
        if n.len() != axes.len() {
            return Err(Error::invalid(format!(
                "{} lengths given for {} axes",
                n.len(),
                axes.len()
            )));
        }
        return Ok(n.to_vec());
    }
    let mut out = axes
        .iter()
        .map(|&ax| a.dim(ax))
        .collect::<Result<Vec<i32>>>()?;
    if kind == Kind::InverseReal {
        if let Some(last) = out.last_mut() {
            *last = 2 * (*last - 1);
        }
    }
    Ok(out)
}

/// Defines a 1-D transform over an n-D mlx-c function.
macro_rules! fft_1d {
    ($(#[$m:meta])* fn $name:ident => $f:ident, $kind:expr;) => {
        op! {
            $(#[$m])*
            fn $name(a: &Array, n: Option<i32>, axis: i32, norm: FftNorm) -> Array |s| {
                let axes = [axis];
                let n = lengths(a, n.as_ref().map(std::slice::from_ref), &axes, $kind)?;
                array_op!($f(a.as_raw(), n.as_ptr(), n.len(), axes.as_ptr(), axes.len(), norm.to_raw(), s.as_raw()))
            }
        }
    };
}

/// Defines a 2-D transform over an n-D mlx-c function.
macro_rules! fft_2d {
    ($(#[$m:meta])* fn $name:ident => $f:ident, $kind:expr;) => {
        op! {
            $(#[$m])*
            fn $name(a: &Array, n: Option<[i32; 2]>, axes: [i32; 2], norm: FftNorm) -> Array |s| {
                let n = lengths(a, n.as_ref().map(|n| &n[..]), &axes, $kind)?;
                array_op!($f(a.as_raw(), n.as_ptr(), n.len(), axes.as_ptr(), axes.len(), norm.to_raw(), s.as_raw()))
            }
        }
    };
}

/// Defines an n-D transform.
macro_rules! fft_nd {
    ($(#[$m:meta])* fn $name:ident => $f:ident, $kind:expr;) => {
        op! {
            $(#[$m])*
            fn $name(a: &Array, n: Option<&[i32]>, axes: Option<&[i32]>, norm: FftNorm) -> Array |s| {
                let axes = all_axes(a, axes);
                let n = lengths(a, n, &axes, $kind)?;
                array_op!($f(a.as_raw(), n.as_ptr(), n.len(), axes.as_ptr(), axes.len(), norm.to_raw(), s.as_raw()))
            }
        }
    };
}

fft_1d! {
    /// The 1-D discrete Fourier transform along `axis`:
    /// `X[k] = Σ_j x[j] e^{-2πi jk/n}`.
    fn fft => mlx_fft_fftn, Kind::Same;
}
fft_1d! {
    /// The 1-D inverse transform along `axis`:
    /// `x[j] = (1/n) Σ_k X[k] e^{2πi jk/n}` (with [`FftNorm::Backward`]).
    fn ifft => mlx_fft_ifftn, Kind::Same;
}
fft_1d! {
    /// The 1-D transform of real input along `axis`, keeping the `n / 2 + 1`
    /// non-negative frequency bins.
    fn rfft => mlx_fft_rfftn, Kind::Same;
}
fft_1d! {
    /// The inverse of [`rfft`]: `n` real samples (default `2 * (m - 1)`) from
    /// `m` frequency bins along `axis`.
    fn irfft => mlx_fft_irfftn, Kind::InverseReal;
}
fft_2d! {
    /// The 2-D transform over `axes` (usually `[-2, -1]`).
    fn fft2 => mlx_fft_fftn, Kind::Same;
}
fft_2d! {
    /// The 2-D inverse transform over `axes`.
    fn ifft2 => mlx_fft_ifftn, Kind::Same;
}
fft_2d! {
    /// The 2-D transform of real input over `axes` (the last one halved as in
    /// [`rfft`]).
    fn rfft2 => mlx_fft_rfftn, Kind::Same;
}
fft_2d! {
    /// The inverse of [`rfft2`].
    fn irfft2 => mlx_fft_irfftn, Kind::InverseReal;
}
fft_nd! {
    /// The n-D transform over `axes` (all axes when `None`).
    fn fftn => mlx_fft_fftn, Kind::Same;
}
fft_nd! {
    /// The n-D inverse transform over `axes` (all axes when `None`).
    fn ifftn => mlx_fft_ifftn, Kind::Same;
}
fft_nd! {
    /// The n-D transform of real input over `axes` (all axes when `None`), the
    /// last one halved as in [`rfft`].
    fn rfftn => mlx_fft_rfftn, Kind::Same;
}
fft_nd! {
    /// The inverse of [`rfftn`].
    fn irfftn => mlx_fft_irfftn, Kind::InverseReal;
}

op! {
    /// Moves the zero-frequency bin to the centre along `axes` (all axes when
    /// `None`).
    fn fftshift(a: &Array, axes: Option<&[i32]>) -> Array |s| {
        let axes = all_axes(a, axes);
        array_op!(mlx_fft_fftshift(a.as_raw(), axes.as_ptr(), axes.len(), s.as_raw()))
    }
}

op! {
    /// The inverse of [`fftshift`].
    fn ifftshift(a: &Array, axes: Option<&[i32]>) -> Array |s| {
        let axes = all_axes(a, axes);
        array_op!(mlx_fft_ifftshift(a.as_raw(), axes.as_ptr(), axes.len(), s.as_raw()))
    }
}

ops! {
    /// The sample frequencies of an `n`-point transform with sample spacing `d`:
    /// `[0, 1, …, n/2 - 1, -n/2, …, -1] / (d n)` (rounded as NumPy does).
    fn fftfreq(n: i32, d: f64) => mlx_fft_fftfreq(n, d);
    /// The non-negative sample frequencies of an `n`-point [`rfft`]:
    /// `[0, 1, …, n/2] / (d n)`.
    fn rfftfreq(n: i32, d: f64) => mlx_fft_rfftfreq(n, d);
}
