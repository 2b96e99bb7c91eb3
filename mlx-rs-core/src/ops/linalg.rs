//! Linear algebra: norms, factorizations, inverses and solvers.
//!
//! All ops work on the last two axes (matrices) or the given axes, batching
//! over any leading axes. Inputs must be floating point (`float32`, or
//! `float64` on the CPU).
//!
//! # Devices
//! MLX implements the factorizations and solvers (everything here except
//! [`norm`] with numeric orders and [`cross`]) on the CPU only, and rejects
//! them on a GPU stream. So the plain form of those ops (`inv(a)`,
//! `qr(a)`, …) runs on the current default stream when that is a CPU stream,
//! and otherwise on the CPU's default stream: it works whatever the default
//! device is. The `_on` twin runs exactly where it is told, and returns
//! MLX's error if that is a GPU.
//!
//! ```
//! # use mlx_rs_core::{ops::linalg, Array, Device};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let a = Array::from_slice(&[4.0f32, 1.0, 1.0, 3.0], &[2, 2])?;
//! let a_inv = linalg::inv(&a)?;                     // CPU, whatever the default
//! let (q, r) = linalg::qr_on(&a, &Device::cpu())?;  // explicitly on the CPU
//! let n = linalg::norm(&a, Some(linalg::NormOrd::Fro), None, false)?;
//! # Ok(()) }
//! ```

use std::ffi::CStr;

use crate::array::ResultSlot;
use crate::ffi::{array_op, mlx_call, vector_op};
use crate::{Array, Device, DeviceType, Error, Result, Stream};

/// The stream the plain form of a CPU-only op runs on: the current default
/// stream if it is on the CPU, else the CPU's default stream.
#[track_caller]
fn cpu_stream() -> Result<Stream> {
    let current = Stream::current()?;
    if current.device()?.device_type() == DeviceType::Cpu {
        Ok(current)
    } else {
        Device::cpu().default_stream()
    }
}

/// Like `op!`'s long form, for ops MLX runs on the CPU only: the plain form
/// uses [`cpu_stream`].
macro_rules! cpu_op {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty |$s:ident| $body:block) => {
        paste::paste! {
            $(#[$m])*
            ///
            /// Runs on the current default stream if it is a CPU stream, else on
            /// the CPU (see the module docs).
            #[track_caller]
            pub fn $name($($arg: $ty),*) -> Result<$ret> {
                let stream = cpu_stream()?;
                [<$name _on>]($($arg,)* &stream)
            }

            #[doc = concat!("[`", stringify!($name), "`] on a chosen stream or device (which must be the CPU).")]
            #[track_caller]
            pub fn [<$name _on>]<'s>(
                $($arg: $ty,)*
                on: impl Into<$crate::StreamOrDevice<'s>>,
            ) -> Result<$ret> {
                let $s = on.into().resolve()?;
                $body
            }
        }
    };
}

/// Calls an mlx-c function with two `mlx_array*` result slots first; evaluates
/// to `Result<(Array, Array)>`.
macro_rules! pair_op {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        let mut first = ResultSlot::new();
        let mut second = ResultSlot::new();
        let (p1, p2) = (first.as_mut_ptr(), second.as_mut_ptr());
        mlx_call!($f(p1, p2, $($arg),*))?;
        Ok((first.into_array()?, second.into_array()?))
    }};
}

/// The order of a [`norm`].
///
/// For vectors (one axis): `P(p)` is `(Σ|x|^p)^(1/p)`, with `P(f64::INFINITY)`
/// the largest `|x|`, `P(f64::NEG_INFINITY)` the smallest and `P(0.0)` the
/// count of non-zeros. For matrices (two axes): `P(1.0)` / `P(-1.0)` is the
/// largest / smallest absolute column sum, `P(±inf)` the same for rows,
/// `P(±2.0)` the largest / smallest singular value, [`NormOrd::Fro`] the
/// Frobenius norm and [`NormOrd::Nuc`] the sum of singular values. Orders
/// computed from singular values (`P(±2.0)` for matrices, `Nuc`) run an SVD, so
/// they need the CPU like the other factorizations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormOrd {
    /// A numeric order (see the type docs).
    P(f64),
    /// The Frobenius norm of a matrix: `sqrt(Σ|a_ij|²)`.
    Fro,
    /// The nuclear norm of a matrix: the sum of its singular values.
    Nuc,
}

op! {
    /// A vector or matrix norm.
    ///
    /// - `ord == None`: the 2-norm of the elements along `axes` (all of them
    ///   when `axes` is `None`, i.e. the Frobenius norm for a matrix).
    /// - `ord == Some(_)`: `axes` names one axis (vector norm) or two (matrix
    ///   norm); with `axes == None`, `a` must be 1-D or 2-D.
    ///
    /// See [`NormOrd`] for the orders. Reduced axes are dropped unless
    /// `keepdims`.
    fn norm(a: &Array, ord: Option<NormOrd>, axes: Option<&[i32]>, keepdims: bool) -> Array |s| {
        let (axis_ptr, axis_num) = match axes {
            Some(axes) => (axes.as_ptr(), axes.len()),
            None => (std::ptr::null(), 0),
        };
        match ord {
            None => array_op!(mlx_linalg_norm_l2(a.as_raw(), axis_ptr, axis_num, keepdims, s.as_raw())),
            Some(NormOrd::P(p)) => {
                array_op!(mlx_linalg_norm(a.as_raw(), p, axis_ptr, axis_num, keepdims, s.as_raw()))
            }
            Some(NormOrd::Fro | NormOrd::Nuc) => {
                let name: &CStr = if ord == Some(NormOrd::Fro) { c"fro" } else { c"nuc" };
                array_op!(mlx_linalg_norm_matrix(
                    a.as_raw(),
                    name.as_ptr(),
                    axis_ptr,
                    axis_num,
                    keepdims,
                    s.as_raw()
                ))
            }
        }
    }
}

op! {
    /// The cross product of 3-vectors along `axis` (both inputs broadcast).
    fn cross(a: &Array, b: &Array, axis: i32) -> Array |s| {
        array_op!(mlx_linalg_cross(a.as_raw(), b.as_raw(), axis, s.as_raw()))
    }
}

cpu_op! {
    /// The inverse of each square matrix in `a` (`[.., n, n]`).
    fn inv(a: &Array) -> Array |s| { array_op!(mlx_linalg_inv(a.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// The inverse of each triangular matrix in `a` (lower, or upper if
    /// `upper`); the other triangle of `a` is ignored.
    fn tri_inv(a: &Array, upper: bool) -> Array |s| { array_op!(mlx_linalg_tri_inv(a.as_raw(), upper, s.as_raw())) }
}

cpu_op! {
    /// The Moore–Penrose pseudo-inverse of each matrix in `a` (`[.., m, n]`
    /// gives `[.., n, m]`).
    fn pinv(a: &Array) -> Array |s| { array_op!(mlx_linalg_pinv(a.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// The Cholesky factor of each symmetric positive-definite matrix in `a`:
    /// lower `L` with `a = L Lᵀ`, or upper `U` with `a = Uᵀ U` if `upper`.
    /// Only the lower triangle of `a` is read. Positive definiteness is not
    /// checked: an indefinite input gives meaningless (possibly NaN) values.
    fn cholesky(a: &Array, upper: bool) -> Array |s| { array_op!(mlx_linalg_cholesky(a.as_raw(), upper, s.as_raw())) }
}

cpu_op! {
    /// The inverse of the matrix whose Cholesky factor is `l` (lower, or upper
    /// if `upper`), i.e. `(L Lᵀ)⁻¹`.
    fn cholesky_inv(l: &Array, upper: bool) -> Array |s| { array_op!(mlx_linalg_cholesky_inv(l.as_raw(), upper, s.as_raw())) }
}

cpu_op! {
    /// The QR factorization `a = Q R` of each matrix in `a` (`[.., m, n]`):
    /// returns `(Q, R)` with `Q` (`[.., m, k]`, orthonormal columns) and upper
    /// triangular `R` (`[.., k, n]`), `k = min(m, n)`.
    fn qr(a: &Array) -> (Array, Array) |s| { pair_op!(mlx_linalg_qr(a.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// The singular value decomposition `a = U diag(S) Vᵀ` of each matrix in
    /// `a` (`[.., m, n]`): returns `(U, S, Vᵀ)` with `U` `[.., m, m]`, `S`
    /// `[.., min(m, n)]` in descending order and `Vᵀ` `[.., n, n]`.
    fn svd(a: &Array) -> (Array, Array, Array) |s| {
        let parts = vector_op!(mlx_linalg_svd(a.as_raw(), true, s.as_raw()))?;
        match <[Array; 3]>::try_from(parts) {
            Ok([u, s, vt]) => Ok((u, s, vt)),
            Err(parts) => Err(Error::invalid(format!("svd returned {} arrays, expected 3", parts.len()))),
        }
    }
}

cpu_op! {
    /// The singular values of each matrix in `a`, in descending order.
    fn svdvals(a: &Array) -> Array |s| {
        let parts = vector_op!(mlx_linalg_svd(a.as_raw(), false, s.as_raw()))?;
        parts.into_iter().next().ok_or_else(|| Error::invalid("svd returned no arrays"))
    }
}

cpu_op! {
    /// Solves `a x = b` for `x`, with `a` square (`[.., n, n]`) and `b` a
    /// vector `[.., n]` or matrix `[.., n, k]`.
    fn solve(a: &Array, b: &Array) -> Array |s| { array_op!(mlx_linalg_solve(a.as_raw(), b.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// Solves `a x = b` for triangular `a` (lower, or upper if `upper`).
    fn solve_triangular(a: &Array, b: &Array, upper: bool) -> Array |s| {
        array_op!(mlx_linalg_solve_triangular(a.as_raw(), b.as_raw(), upper, s.as_raw()))
    }
}

cpu_op! {
    /// Eigenvalues (ascending) and eigenvectors (columns) of each symmetric
    /// (Hermitian) matrix in `a`, reading its lower triangle, or its upper if
    /// `upper`: returns `(w, V)` with `a V = V diag(w)`.
    fn eigh(a: &Array, upper: bool) -> (Array, Array) |s| {
        let uplo: &CStr = if upper { c"U" } else { c"L" };
        pair_op!(mlx_linalg_eigh(a.as_raw(), uplo.as_ptr(), s.as_raw()))
    }
}

cpu_op! {
    /// Eigenvalues (ascending) of each symmetric matrix in `a` (see [`eigh`]).
    fn eigvalsh(a: &Array, upper: bool) -> Array |s| {
        let uplo: &CStr = if upper { c"U" } else { c"L" };
        array_op!(mlx_linalg_eigvalsh(a.as_raw(), uplo.as_ptr(), s.as_raw()))
    }
}

cpu_op! {
    /// Eigenvalues and eigenvectors of each general square matrix in `a`:
    /// returns `(w, V)` as `complex64` with `a V = V diag(w)`.
    fn eig(a: &Array) -> (Array, Array) |s| { pair_op!(mlx_linalg_eig(a.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// Eigenvalues (`complex64`) of each general square matrix in `a`.
    fn eigvals(a: &Array) -> Array |s| { array_op!(mlx_linalg_eigvals(a.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// The determinant of each square matrix in `a`.
    fn det(a: &Array) -> Array |s| { array_op!(mlx_linalg_det(a.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// The sign and the natural log of the absolute value of the determinant
    /// of each square matrix in `a`: returns `(sign, logabsdet)`.
    fn slogdet(a: &Array) -> (Array, Array) |s| { pair_op!(mlx_linalg_slogdet(a.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// The LU factorization with partial pivoting of each square matrix in
    /// `a`: returns `[p, L, U]` with `p` a `uint32` row permutation (a vector
    /// of indices), `L` unit lower and `U` upper triangular, such that row `i`
    /// of `a` is row `p[i]` of `L U` (NumPy: `a = L[p, :] @ U`).
    fn lu(a: &Array) -> Vec<Array> |s| { vector_op!(mlx_linalg_lu(a.as_raw(), s.as_raw())) }
}

cpu_op! {
    /// The compact LU factorization of each matrix in `a`: returns `(LU,
    /// pivots)`, `L` (unit diagonal, implied) and `U` packed in one matrix and
    /// the LAPACK-style pivot indices (`uint32`).
    fn lu_factor(a: &Array) -> (Array, Array) |s| { pair_op!(mlx_linalg_lu_factor(a.as_raw(), s.as_raw())) }
}
