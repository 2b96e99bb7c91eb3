//! Safe Rust API over Apple's [MLX](https://github.com/ml-explore/mlx), through its
//! official C API (mlx-c).
//!
//! ```no_run
//! use mlx_rs_core::{ops, Array, Dtype};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
//! let b = ops::matmul(&a, &a)?;          // lazy: records the graph
//! let v: Vec<f32> = b.to_vec()?;         // evaluates, then copies out
//! assert_eq!(v, [7.0, 10.0, 15.0, 22.0]);
//! # Ok(()) }
//! ```
//!
//! # Laziness
//! Ops build a graph; work happens at [`eval`], [`Array::eval`],
//! [`Array::to_vec`], [`Array::item`] or when printing. Time an op including
//! one of those.
//!
//! # Errors
//! Every fallible call returns [`Result`]. MLX failures carry MLX's message
//! and the Rust call site; nothing prints to stderr or exits the process.
//!
//! # Threads
//! - [`Array`], [`Device`] and [`Stream`] are `Send`; [`Device`] is also `Sync`.
//!   Arrays are not `Sync`: clone them (cheap) to share.
//! - Every call into MLX (building graphs, evaluating, reading data, freeing
//!   handles) is serialized by one process-wide, re-entrant lock. MLX's CUDA
//!   backend aborts the process when another thread touches CUDA during its
//!   graph capture, and clones of an array share a graph node that evaluation
//!   mutates. Threads are safe to use; they do not run MLX calls in parallel
//!   (MLX parallelizes the work inside each op).
//! - Streams are bound to the thread that created them in MLX (CPU streams
//!   too, in MLX 0.32.2): create a [`Stream`] on the thread that evaluates
//!   its work. Evaluating a lazy array whose graph was built on another
//!   thread's stream returns `Err` ("There is no Stream(..) in current
//!   thread"); evaluate it on the thread that built it, after which clones
//!   can be read and used as op inputs on any thread.
//! - On CUDA, MLX 0.32.2 tears down a thread's stream state when the thread
//!   exits, outside this crate's lock; another thread recording GPU work at
//!   that moment makes MLX abort the process. Keep GPU threads alive (a pool),
//!   or let them exit only while no other thread evaluates on the GPU.
#![warn(missing_docs)]

mod array;
pub mod closure;
mod device;
pub mod distributed;
mod dtype;
mod error;
mod ffi;
mod handles;
pub mod io;
pub mod kernel;
pub mod memory;
pub mod operators;
pub mod ops;
pub mod transforms;

pub use array::{async_eval, eval, Array};
pub use device::{
    cuda_is_available, metal_is_available, synchronize, with_device, with_stream, Device,
    DeviceType, Stream, StreamOrDevice,
};
pub use dtype::{Dtype, Element};
pub use error::{Error, Result};
pub use half::{bf16, f16};
pub use num_complex::Complex32;

/// The version string of the libmlx this process runs (e.g. `0.32.2`).
#[track_caller]
pub fn version() -> Result<String> {
    handles::string_from(|s| ffi::mlx_call!(mlx_version(s)))
}
