//! Safe, fast Rust bindings over Apple's MLX through its official C API (mlx-c),
//! plus fused custom kernels with reference-op fallbacks.
//!
//! This umbrella crate re-exports:
//! - [`mlx_rs_core`]: arrays, dtypes, ops, lazy evaluation, devices, streams
//!   (everything at this crate's root);
//! - [`kernels`]: the fused ops of `mlx-ext-kernels`;
//! - [`sys`]: the raw mlx-c bindings, for what the safe API does not cover.
//!
//! ```
//! use mlx_rs::{ops, Array};
//! # fn main() -> mlx_rs::Result<()> {
//! let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
//! let y = ops::exp(&x)?;
//! println!("{y}");
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub use mlx_ext_kernels as kernels;
pub use mlx_nn as nn;
pub use mlx_rs_core::*;
pub use mlx_sys as sys;
