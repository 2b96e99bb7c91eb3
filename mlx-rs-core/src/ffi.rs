//! The one path into mlx-c.
//!
//! Every C call goes through [`check`] (usually via the [`mlx_call!`],
//! [`array_op!`] and [`vector_op!`] macros): it makes sure mlx-c is loaded and
//! the error handler is installed, takes the process-wide MLX lock, clears this thread's error slot,
//! makes the call, and turns a non-zero status, a recorded message, or a panic
//! caught in a Rust callback into an [`Error`].

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::panic::Location;
use std::sync::{Mutex, MutexGuard};

use crate::error::{install_handler, take_last_error};
use crate::{Error, Result};

thread_local! {
    /// A panic caught in a Rust callback invoked by MLX on this thread.
    static CAUGHT_PANIC: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

/// Runs one mlx-c call and reports its failure as an [`Error`] located at the
/// caller. `f` must make exactly one C call and return its status.
#[track_caller]
pub(crate) fn check(f: impl FnOnce() -> c_int) -> Result<()> {
    // mlx-c is loaded at run time; a missing library is an error, not a crash.
    mlx_sys::load().map_err(|message| Error::Unavailable {
        message: message.to_string(),
    })?;
    install_handler();
    let status;
    let message;
    {
        let _lock = lock();
        let _ = take_last_error();
        status = f();
        message = take_last_error();
    }
    if let Some(payload) = take_caught_panic() {
        return Err(Error::CallbackPanic {
            message: panic_message(payload.as_ref()),
        });
    }
    match (status, message) {
        (0, None) => Ok(()),
        (_, Some(message)) => Err(Error::Mlx {
            message,
            location: Location::caller(),
        }),
        (code, None) => Err(Error::Mlx {
            message: format!("mlx-c call failed with status {code} and no message"),
            location: Location::caller(),
        }),
    }
}

/// Like [`check`] for the few C functions that signal failure only through the
/// error handler (they return a value, not a status).
#[track_caller]
pub(crate) fn check_value<T>(f: impl FnOnce() -> T) -> Result<T> {
    let mut out = None;
    check(|| {
        out = Some(f());
        0
    })?;
    Ok(out.expect("closure ran"))
}

/// Called by Rust callbacks that MLX invokes: runs `f`, catching a panic so it
/// never unwinds into C. The panic is parked and reported by the enclosing
/// [`check`] as [`Error::CallbackPanic`]; the callback returns `on_panic`.
pub(crate) fn catch_callback_panic<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let _ = CAUGHT_PANIC.try_with(|slot| {
                if let Ok(mut slot) = slot.try_borrow_mut() {
                    slot.get_or_insert(payload);
                }
            });
            on_panic
        }
    }
}

fn take_caught_panic() -> Option<Box<dyn Any + Send>> {
    CAUGHT_PANIC
        .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("callback panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("callback panicked: {s}")
    } else {
        "callback panicked".to_string()
    }
}

/// Every call into MLX is serialized by one process-wide lock.
///
/// MLX's CUDA backend records work into CUDA graphs; another thread touching
/// CUDA meanwhile (allocating an array, evaluating) invalidates the capture
/// and MLX then aborts the process (seen on an H200 with two test threads).
/// Cloned [`crate::Array`] handles also share one graph node that evaluation
/// mutates. One lock makes both safe. It is re-entrant on one thread, because
/// MLX calls Rust closures (transforms, custom functions) from inside a call.
/// MLX still parallelizes the work inside each op.
pub(crate) struct MlxGuard {
    _inner: Option<MutexGuard<'static, ()>>,
}

thread_local! {
    static LOCK_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Takes the MLX lock (see [`MlxGuard`]); hold it across any `unsafe` call
/// into mlx-c that does not go through [`check`].
pub(crate) fn lock() -> MlxGuard {
    static LOCK: Mutex<()> = Mutex::new(());
    let depth = LOCK_DEPTH.with(|d| d.get());
    let inner = if depth == 0 {
        // A poisoned lock only means another thread panicked while holding it;
        // MLX's state is not guarded by the mutex's data, so carry on.
        Some(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
    } else {
        None
    };
    LOCK_DEPTH.with(|d| d.set(depth + 1));
    MlxGuard { _inner: inner }
}

impl Drop for MlxGuard {
    fn drop(&mut self) {
        LOCK_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Bytes this machine could ever hand to one allocation: physical memory
/// plus swap (Linux, from `/proc/meminfo`); `None` where unknown.
fn allocation_ceiling() -> Option<u64> {
    static CEILING: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *CEILING.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let kib = |key: &str| -> Option<u64> {
            let line = info.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        };
        Some((kib("MemTotal:")? + kib("SwapTotal:").unwrap_or(0)) * 1024)
    })
}

/// Rejects an op result larger than the machine's memory (see
/// [`allocation_ceiling`]). MLX's CPU allocator does not check for failed
/// allocations: evaluating such an array wrote through a null buffer on
/// MLX's worker thread and killed the process with SIGSEGV. Checked when
/// the op is built, from the result's shape; a broadcast view that large is
/// rejected too, although it would not allocate.
#[track_caller]
pub(crate) fn check_allocatable(a: crate::Array) -> Result<crate::Array> {
    let bytes = (a.size() as u128) * (a.dtype().size_of() as u128);
    match allocation_ceiling() {
        Some(limit) if bytes > u128::from(limit) => Err(Error::invalid(format!(
            "an array of shape {:?} and dtype {} needs {bytes} bytes, more than this \
             machine's {limit} bytes of memory and swap",
            a.shape(),
            a.dtype()
        ))),
        _ => Ok(a),
    }
}

/// Calls an mlx-c function that returns a status; evaluates to `Result<()>`.
///
/// Arguments must be handles borrowed from live wrappers (`as_raw()`), plain
/// values, pointers into live Rust buffers with their lengths, or pointers to
/// local out-slots: that is what makes the `unsafe` call sound.
macro_rules! mlx_call {
    ($f:ident($($arg:expr),* $(,)?)) => {
        $crate::ffi::check(|| {
            // SAFETY: see the macro's contract: every argument is a live
            // handle, a plain value, or a pointer valid for the call.
            unsafe { mlx_sys::$f($($arg),*) }
        })
    };
}

/// Calls an mlx-c op whose first parameter is an `mlx_array*` result slot;
/// evaluates to `Result<Array>`. Same argument contract as [`mlx_call!`].
macro_rules! array_op {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        let mut slot = $crate::array::ResultSlot::new();
        let out = slot.as_mut_ptr();
        $crate::ffi::check(|| {
            // SAFETY: `out` points to a live, empty result slot; the other
            // arguments follow `mlx_call!`'s contract.
            unsafe { mlx_sys::$f(out, $($arg),*) }
        })
        .and_then(|()| slot.into_array())
        .and_then($crate::ffi::check_allocatable)
    }};
}

/// Calls an mlx-c op whose first parameter is an `mlx_vector_array*` result;
/// evaluates to `Result<Vec<Array>>`. Same argument contract as [`mlx_call!`].
macro_rules! vector_op {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        let mut slot = $crate::array::VectorArray::new();
        let out = slot.as_mut_ptr();
        $crate::ffi::check(|| {
            // SAFETY: `out` points to a live vector owned by `slot`; the other
            // arguments follow `mlx_call!`'s contract.
            unsafe { mlx_sys::$f(out, $($arg),*) }
        })
        .and_then(|()| slot.into_vec())
    }};
}

/// Calls an mlx-c function that returns a value rather than a status (a
/// constructor, a predicate); evaluates to `Result<T>`. Same argument contract
/// as [`mlx_call!`].
macro_rules! mlx_value {
    ($f:ident($($arg:expr),* $(,)?)) => {
        $crate::ffi::check_value(|| {
            // SAFETY: see `mlx_call!`'s contract.
            unsafe { mlx_sys::$f($($arg),*) }
        })
    };
}

pub(crate) use {array_op, mlx_call, mlx_value, vector_op};
