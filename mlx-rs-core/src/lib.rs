//! Safe Rust API over Apple's [MLX](https://github.com/ml-explore/mlx), through its
//! official C API (mlx-c).
//!
//! ```
//! use mlx_rs_core::{ops, Array, Dtype};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
//! let b = ops::matmul(&a, &a)?;          // lazy: records the graph
//! let v: Vec<f32> = b.to_vec()?;         // evaluates, then copies out
//! assert_eq!(v, [7.0, 10.0, 15.0, 22.0]);
//! # Ok(()) }
//! ```
//!
//! # Python-like use
//! Most ops are also [`Array`] methods with Python's defaults
//! (`x.reshape([b, l, h, d])?.permute([0, 2, 1, 3])?`, `x.mean_keepdims(-1)?`),
//! numbers mix with arrays (`&x * 2.0`, `1.0 - &x`, `ops::power(&x, 2)`), and
//! [`value_and_grad`], [`grad`], [`compile`] and [`compile_with_state`] take
//! structured parameters: any [`Tree`] (see [`tree`]).
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
//! # Loading MLX
//! mlx-c and libmlx are loaded at the first call, not linked into binaries,
//! so programs start without an rpath or `LD_LIBRARY_PATH`. If they cannot be
//! found (the MLX cache moved after the build), fallible calls return
//! [`Error::Unavailable`], whose message names `MLX_RS_CACHE_DIR` and
//! `MLX_DIR` (see the README's "Programs start anywhere").
//!
//! # Threads
//! Threads evaluate in parallel; what runs concurrently follows from what
//! MLX 0.32.2 itself synchronizes (sources: `mlx/transforms.cpp`
//! `eval_impl`, `mlx/array.cpp`, `mlx/stream.cpp`, `mlx/scheduler.cpp`,
//! `mlx/backend/cpu/{eval,encoder}.cpp`, `mlx/backend/cuda/device.cpp`).
//!
//! **Types.** [`Array`] is `Send`, not `Sync`; [`Device`] is `Send + Sync`;
//! [`Stream`] is neither. MLX keeps each thread's stream encoders in
//! thread-local tables (`cpu::get_command_encoders`), so a stream works
//! only on the thread that made it: a `Stream` cannot leave its thread
//! (compile error), and each thread uses its own streams or its default
//! one (cached per thread; ops do not ask MLX for it each time). `&Array`
//! is not shared across threads because reading or evaluating a node
//! mutates it inside MLX without synchronization (`array::wait` and
//! `is_available` set its status and event; `eval_impl` detaches evaluated
//! nodes); each thread holds its own clone instead (cheap), which lets the
//! crate know which thread built a node's unevaluated graph.
//!
//! **Graph building** (ops, creating arrays, transforms, compile, custom
//! functions, loading) holds one process-wide, re-entrant lock, as Python
//! MLX builds graphs under its GIL. MLX's graph code reads and writes
//! process-wide state (the default device, compile caches, stream tables);
//! the lock is re-entrant because MLX calls Rust closures from inside such
//! a call.
//!
//! **Evaluation** ([`eval`], [`Array::eval`], [`async_eval`],
//! [`synchronize`], reading data with [`Array::to_vec`] and
//! [`Array::item`]) runs *outside* that lock, as Python MLX releases the
//! GIL in `mx.eval`: other threads build graphs, evaluate on their own
//! streams, and query or drop arrays meanwhile. MLX supports this: streams,
//! the scheduler and the allocator have their own mutexes, tracing state is
//! thread-local, and each CPU stream runs on its own worker thread. What
//! MLX does not synchronize is a graph node: `eval_impl` walks and mutates
//! every unevaluated node it reaches. So each array handle carries which
//! thread built its unevaluated part; an evaluation that may reach another
//! thread's unevaluated nodes (an array sent or built from one sent before
//! it was evaluated) runs alone, holding the graph lock with no other
//! evaluation in flight. MLX then returns `Err` ("There is no Stream(..)
//! in current thread") for nodes of another thread's stream. Evaluate an
//! array, then clone it, to share it: evaluated arrays are read and used
//! as op inputs by any thread in parallel. Saving and
//! [`Device::set_default`] also run alone.
//!
//! **Queries and drops never wait for an evaluation.** [`Array::shape`],
//! [`Array::dtype`] and the like read fields that evaluation does not
//! change, without a lock. Every mlx-c handle is freed by one owner type
//! whose drop frees under the graph lock if it is free, and otherwise hands
//! the free to the thread holding it.
//!
//! **CUDA.** MLX's CUDA backend records work into CUDA graphs by stream
//! capture; another thread allocating, freeing or launching CUDA work
//! meanwhile invalidates the capture and MLX aborts the process (seen on an
//! H200 with two threads). Where CUDA is usable, every evaluation and data
//! read therefore holds the graph lock, so MLX calls do not overlap (drops
//! and shape/dtype queries still never wait). Also on CUDA, MLX 0.32.2
//! tears down a thread's stream state when the thread exits, without
//! synchronization; another thread recording GPU work at that moment makes
//! MLX abort the process. Keep GPU threads alive (a pool), or let them exit
//! only while no other thread evaluates on the GPU.
//! Waiting for a CUDA result polls for up to [`gpu_wait_spin`] (2 ms by
//! default) before sleeping: MLX's own wait sleeps in the driver, and its
//! wake-up comes tens of microseconds after the GPU finished.
//!
//! ```
//! use mlx_rs_core::{ops, Array, Device, Stream};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let w = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
//! let w = ops::multiply(&w, &w)?;
//! w.eval()?; // evaluated before it is shared: threads run in parallel
//! let workers: Vec<_> = (0..2)
//!     .map(|i| {
//!         let w = w.clone();
//!         std::thread::spawn(move || -> mlx_rs_core::Result<f32> {
//!             let s = Stream::new(&Device::cpu())?; // this thread's stream
//!             let x = Array::scalar(i as f32)?;
//!             ops::sum_on(&ops::add_on(&w, &x, &s)?, false, &s)?.item::<f32>()
//!         })
//!     })
//!     .collect();
//! let sums: Vec<f32> = workers.into_iter().map(|h| h.join().unwrap()).collect::<Result<_, _>>()?;
//! assert_eq!(sums, [14.0, 17.0]);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod args;
mod array;
pub mod closure;
mod device;
mod device_info;
pub mod distributed;
mod dtype;
mod error;
pub mod export;
mod ffi;
mod gpu_wait;
pub mod graph;
mod handles;
pub mod io;
pub mod kernel;
pub mod memory;
mod methods;
pub mod operators;
pub mod ops;
pub mod transforms;
pub mod tree;

pub use array::{async_eval, eval, Array};
pub use device::{
    cuda_is_available, metal_is_available, synchronize, with_device, with_stream, Device,
    DeviceType, Stream, StreamOrDevice,
};
pub use device_info::{DeviceInfo, DeviceInfoValue};
pub use dtype::{Dtype, Element};
pub use error::{Error, Result};
pub use gpu_wait::{gpu_wait_spin, set_gpu_wait_spin, GPU_WAIT_SPIN_ENV};
pub use half::{bf16, f16};
pub use methods::IntoIndices;
pub use num_complex::Complex32;
pub use tree::{compile, compile_with_state, grad, value_and_grad, Tree};

/// The version string of the libmlx this process runs (e.g. `0.32.2`).
#[track_caller]
pub fn version() -> Result<String> {
    handles::string_from(|s| ffi::mlx_call!(mlx_version(s)))
}
