//! The one path into mlx-c.
//!
//! Every C call goes through [`check`] (usually via the [`mlx_call!`],
//! [`array_op!`] and [`vector_op!`] macros): it makes sure mlx-c is loaded and
//! the error handler is installed, takes the graph lock, clears this thread's
//! error slot, makes the call, and turns a non-zero status, a recorded message,
//! or a panic caught in a Rust callback into an [`Error`]. Evaluations go
//! through [`evaluating`] and [`check_unlocked`] instead; handles are freed
//! only by [`crate::handles::Owned`], through [`release`].

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock};

use crate::error::{install_handler, take_last_error};
use crate::{Error, Result};

thread_local! {
    /// A panic caught in a Rust callback invoked by MLX on this thread.
    static CAUGHT_PANIC: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

/// Runs one mlx-c call under the graph lock and reports its failure as an
/// [`Error`] located at the caller. `f` must make exactly one C call and
/// return its status.
#[track_caller]
pub(crate) fn check(f: impl FnOnce() -> c_int) -> Result<()> {
    ensure_loaded()?;
    let status = {
        let _lock = lock();
        call(f)
    };
    status_to_result(status)
}

/// Like [`check`] without the graph lock, for the calls the crate docs
/// ("Threads") list as running outside it: evaluation, synchronization,
/// and calls that only touch the handle they are given.
#[track_caller]
pub(crate) fn check_unlocked(f: impl FnOnce() -> c_int) -> Result<()> {
    ensure_loaded()?;
    status_to_result(call(f))
}

/// mlx-c is loaded at run time; a missing library is an error, not a crash.
fn ensure_loaded() -> Result<()> {
    mlx_sys::load().map_err(|message| Error::Unavailable {
        message: message.to_string(),
    })
}

fn call(f: impl FnOnce() -> c_int) -> (c_int, Option<String>) {
    install_handler();
    let _ = take_last_error();
    let status = f();
    (status, take_last_error())
}

#[track_caller]
fn status_to_result((status, message): (c_int, Option<String>)) -> Result<()> {
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

// ---------------------------------------------------------------------------
// Locks. The crate docs ("Threads") give the argument; in short:
//
// - GRAPH, re-entrant per thread, is held by every call that records graph
//   nodes, creates or frees handles, or reads MLX's process-wide settings
//   (Python MLX's GIL plays this part). It is re-entrant because MLX calls
//   Rust closures (transforms, custom functions, compile) from inside a call
//   that holds it.
// - EVAL orders evaluations. A thread evaluating a graph that only it built
//   (or arrays already evaluated) takes it shared and does NOT hold GRAPH, so
//   evaluations on several threads, and graph building beside them, run in
//   parallel. An evaluation that may reach another thread's unevaluated nodes
//   (see `crate::array` tags) holds GRAPH and takes EVAL exclusively: MLX's
//   evaluation walks and mutates every unevaluated node it reaches (status,
//   inputs, events), so two of those walks over one node must not overlap.
// - On CUDA every evaluation holds GRAPH too (`serialized_backend`).
//
// Lock order is GRAPH, then EVAL. A thread holding EVAL without GRAPH never
// waits for GRAPH: handle frees use `release`, which never blocks.

pub(crate) struct MlxGuard {
    inner: Option<MutexGuard<'static, ()>>,
    tracked: bool,
}

static GRAPH: Mutex<()> = Mutex::new(());
static EVAL: RwLock<()> = RwLock::new(());

thread_local! {
    static LOCK_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// How deep this thread holds GRAPH; `None` while its thread-locals are
/// being destroyed (a handle dropped at thread exit).
fn depth() -> Option<usize> {
    LOCK_DEPTH.try_with(|d| d.get()).ok()
}

fn set_depth(value: usize) {
    let _ = LOCK_DEPTH.try_with(|d| d.set(value));
}

/// Takes the graph lock (see above); re-entrant. Hold it across any `unsafe`
/// call into mlx-c that does not go through [`check`].
pub(crate) fn lock() -> MlxGuard {
    match depth() {
        Some(0) => {
            // A poisoned lock only means another thread panicked while holding
            // it; MLX's state is not guarded by the mutex's data, so carry on.
            let inner = GRAPH.lock().unwrap_or_else(|e| e.into_inner());
            set_depth(1);
            MlxGuard {
                inner: Some(inner),
                tracked: true,
            }
        }
        Some(n) => {
            set_depth(n + 1);
            MlxGuard {
                inner: None,
                tracked: true,
            }
        }
        None => MlxGuard {
            inner: Some(GRAPH.lock().unwrap_or_else(|e| e.into_inner())),
            tracked: false,
        },
    }
}

/// The graph lock if this thread holds it or it is free right now.
fn try_lock() -> Option<MlxGuard> {
    let depth = depth();
    if let Some(n @ 1..) = depth {
        set_depth(n + 1);
        return Some(MlxGuard {
            inner: None,
            tracked: true,
        });
    }
    let inner = match GRAPH.try_lock() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return None,
    };
    if depth.is_some() {
        set_depth(1);
    }
    Some(MlxGuard {
        inner: Some(inner),
        tracked: depth.is_some(),
    })
}

/// Whether this thread holds the graph lock.
pub(crate) fn holds_lock() -> bool {
    depth().is_some_and(|d| d > 0)
}

impl Drop for MlxGuard {
    fn drop(&mut self) {
        if self.tracked {
            set_depth(depth().unwrap_or(1).saturating_sub(1));
        }
        if let Some(inner) = self.inner.take() {
            drop(inner);
            free_pending();
        }
    }
}

/// Frees deferred because another thread held GRAPH.
type Pending = Box<dyn FnOnce() + Send>;

static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());
static PENDING_ANY: AtomicBool = AtomicBool::new(false);

/// Frees a handle under the graph lock without ever waiting for it: if
/// another thread holds it (building a graph, or evaluating on CUDA), the
/// free is queued and run by the next thread that releases the lock.
/// `free` runs exactly once (only [`crate::handles::Owned`] calls this).
pub(crate) fn release(free: impl FnOnce() + Send + 'static) {
    if let Some(_guard) = try_lock() {
        free();
        return;
    }
    PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Box::new(free));
    PENDING_ANY.store(true, Ordering::SeqCst);
    // The holder may have released GRAPH before the push: try once more.
    free_pending();
}

/// Runs the queued frees if GRAPH is free (or held by this thread).
fn free_pending() {
    while PENDING_ANY.load(Ordering::SeqCst) {
        let Some(guard) = try_lock() else {
            // The holder frees them when it releases the lock.
            return;
        };
        loop {
            let batch = {
                let mut q = PENDING.lock().unwrap_or_else(|e| e.into_inner());
                PENDING_ANY.store(false, Ordering::SeqCst);
                std::mem::take(&mut *q)
            };
            if batch.is_empty() {
                break;
            }
            for free in batch {
                free();
            }
        }
        // Dropping the guard re-enters this function only if new frees
        // were queued meanwhile.
        drop(guard);
    }
}

/// Whether this process's MLX needs every evaluation serialized with all
/// other MLX calls: its CUDA backend. MLX records CUDA work into CUDA graphs
/// by stream capture; another thread allocating, freeing or launching CUDA
/// work meanwhile invalidates the capture, and MLX then aborts the process
/// (seen on an H200 with two test threads).
pub(crate) fn serialized_backend() -> bool {
    static SERIALIZED: OnceLock<bool> = OnceLock::new();
    *SERIALIZED.get_or_init(|| {
        let mut avail = false;
        check(|| {
            // SAFETY: writes one bool; no other precondition.
            unsafe { mlx_sys::mlx_cuda_is_available(&mut avail) }
        })
        .is_ok()
            && avail
    })
}

/// Runs an evaluation-like call `f` (eval, async eval, synchronize):
/// alone (GRAPH and exclusive EVAL) when `exclusive`, beside other
/// evaluations (shared EVAL, no GRAPH) otherwise, and under GRAPH on a
/// serialized backend or when this thread already holds it.
pub(crate) fn evaluating<T>(exclusive: bool, f: impl FnOnce() -> T) -> T {
    let graph = (exclusive || serialized_backend() || holds_lock()).then(lock);
    let result = if exclusive {
        let _eval = EVAL.write().unwrap_or_else(|e| e.into_inner());
        f()
    } else {
        let _eval = EVAL.read().unwrap_or_else(|e| e.into_inner());
        f()
    };
    drop(graph);
    result
}

/// Runs `f` (a call that changes process-wide MLX state, or evaluates
/// arrays of any thread inside one mlx-c call, such as saving) with no
/// evaluation in flight on any thread.
pub(crate) fn exclusive<T>(f: impl FnOnce() -> T) -> T {
    evaluating(true, f)
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
