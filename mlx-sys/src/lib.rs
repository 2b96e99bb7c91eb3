//! Raw FFI bindings to [mlx-c](https://github.com/ml-explore/mlx-c) 0.7.0, the C API
//! of Apple's MLX 0.32.2.
//!
//! Everything here is `unsafe` and mirrors the C headers one to one; use the
//! safe `mlx-rs-core` crate instead. The build script obtains MLX (see the
//! crate README), compiles mlx-c into a static library and links libmlx
//! dynamically.
//!
//! Dependents that build binaries should add an rpath to `DEP_MLX_LIB` (and
//! `-Wl,--allow-shlib-undefined` when `DEP_MLX_ALLOW_SHLIB_UNDEFINED` is `1`)
//! so their binaries run outside cargo.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
#![allow(clippy::all)]
#![allow(rustdoc::all, missing_docs)]

#[cfg(not(feature = "bindgen"))]
include!("bindings.rs");
#[cfg(feature = "bindgen")]
include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// The MLX release the bindings are written for.
pub const MLX_VERSION: &str = "0.32.2";
/// The mlx-c release compiled into this crate.
pub const MLX_C_VERSION: &str = "0.7.0";
/// The folder holding the libmlx this crate was linked against.
pub const BUILD_LIB_DIR: &str = env!("MLX_SYS_LIB_DIR");
/// The backend of the libmlx linked at build time: `cpu`, `cuda` or `metal`.
pub const BUILD_BACKEND: &str = env!("MLX_SYS_BACKEND");
/// How the build found MLX: `MLX_DIR`, `python` or `wheel`.
pub const BUILD_SOURCE: &str = env!("MLX_SYS_SOURCE");
