//! Raw FFI bindings to [mlx-c](https://github.com/ml-explore/mlx-c) 0.7.0, the C API
//! of Apple's MLX 0.32.2.
//!
//! Everything here is `unsafe` and mirrors the C headers one to one; use the
//! safe `mlx-rs-core` crate instead. The build script obtains MLX (see the
//! crate README) and compiles mlx-c into a shared library in the MLX cache.
//!
//! Nothing is linked at build time: [`load`] opens mlx-c (which opens libmlx)
//! at run time, so binaries start without an rpath, `LD_LIBRARY_PATH` or a
//! build script of their own, and a missing library is an `Err` with a
//! message instead of a loader failure before `main`. Call [`load`] before any
//! other function; the functions keep mlx-c's names and signatures (mlx-c's
//! one global, `mlx_array_empty`, is a function returning its address).
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
#![allow(clippy::all)]
#![allow(rustdoc::all, missing_docs)]

mod loader;

pub use loader::{load, MLXC_FILE_NAME};

include!(concat!(env!("OUT_DIR"), "/mlx_c.rs"));

/// The MLX release the bindings are written for.
pub const MLX_VERSION: &str = "0.32.2";
/// The mlx-c release this crate builds.
pub const MLX_C_VERSION: &str = "0.7.0";
/// The folder holding the libmlx mlx-c was built against.
pub const BUILD_LIB_DIR: &str = env!("MLX_SYS_LIB_DIR");
/// Where the build put mlx-c (`libmlxc.so` / `libmlxc.dylib`).
pub const BUILD_MLXC_PATH: &str = env!("MLX_SYS_MLXC_PATH");
/// [`BUILD_MLXC_PATH`] relative to the MLX cache folder; empty when outside it.
pub const BUILD_MLXC_CACHE_PATH: &str = env!("MLX_SYS_MLXC_CACHE_PATH");
/// The backend of the libmlx found at build time: `cpu`, `cuda` or `metal`.
pub const BUILD_BACKEND: &str = env!("MLX_SYS_BACKEND");
/// How the build found MLX: `MLX_DIR`, `python` or `wheel`.
pub const BUILD_SOURCE: &str = env!("MLX_SYS_SOURCE");
