//! Errors: every fallible call returns [`Result`], carrying MLX's own message and
//! the Rust location that made the call.
//!
//! mlx-c reports failures through a process-wide handler whose default prints
//! and exits the process. This module installs, once, a handler that records
//! the message in a thread-local slot instead; the checked call path in
//! [`crate::ffi`] clears the slot before each C call and reads it after.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr};
use std::fmt;
use std::panic::Location;
use std::sync::Once;

use crate::Dtype;

/// The result type of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed.
#[non_exhaustive]
#[derive(Clone)]
pub enum Error {
    /// MLX rejected the call or failed while evaluating; `message` is MLX's own.
    Mlx {
        /// MLX's message.
        message: String,
        /// The Rust call site.
        location: &'static Location<'static>,
    },
    /// A Rust element type did not match the array's dtype.
    DtypeMismatch {
        /// The dtype the Rust type stands for.
        expected: Dtype,
        /// The array's dtype.
        found: Dtype,
        /// The Rust call site.
        location: &'static Location<'static>,
    },
    /// An argument was rejected before reaching MLX (e.g. data length vs shape).
    InvalidArgument {
        /// What was wrong.
        message: String,
        /// The Rust call site.
        location: &'static Location<'static>,
    },
    /// Rust code called back from MLX (a closure, a custom function) panicked;
    /// the panic was stopped at the C boundary.
    CallbackPanic {
        /// The panic's message, when it was a string.
        message: String,
    },
    /// mlx-c or libmlx could not be loaded (e.g. the MLX cache the program was
    /// built with has moved); the message says what was tried and what to set.
    Unavailable {
        /// What was tried and how to point the program at MLX.
        message: String,
    },
}

impl Error {
    /// The message alone, without the location.
    pub fn message(&self) -> String {
        match self {
            Error::Mlx { message, .. }
            | Error::InvalidArgument { message, .. }
            | Error::CallbackPanic { message }
            | Error::Unavailable { message } => message.clone(),
            Error::DtypeMismatch {
                expected, found, ..
            } => format!("expected an array of dtype {expected:?}, found {found:?}"),
        }
    }

    /// The Rust call site, where known.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        match self {
            Error::Mlx { location, .. }
            | Error::DtypeMismatch { location, .. }
            | Error::InvalidArgument { location, .. } => Some(location),
            Error::CallbackPanic { .. } | Error::Unavailable { .. } => None,
        }
    }

    #[track_caller]
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            message: message.into(),
            location: Location::caller(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(loc) => write!(f, "{} (at {loc})", self.message()),
            None => f.write_str(&self.message()),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the recording handler; runs once per process.
pub(crate) fn install_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: `record_error` matches `mlx_error_handler_func`, never unwinds,
        // and uses no data pointer, so a null one without destructor is valid.
        unsafe { mlx_sys::mlx_set_error_handler(Some(record_error), std::ptr::null_mut(), None) };
    });
}

/// mlx-c calls this on the thread whose call failed, from inside its `catch`.
extern "C" fn record_error(msg: *const c_char, _data: *mut c_void) {
    let text = if msg.is_null() {
        "MLX reported an error without a message".to_string()
    } else {
        // SAFETY: mlx-c passes a NUL-terminated buffer that lives for this call.
        let raw = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
        strip_mlx_c_location(&raw).to_string()
    };
    // `try_with`: during thread teardown the slot may be gone; never panic here.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            // Keep the first message: later ones are consequences of it.
            slot.get_or_insert(text);
        }
    });
}

/// mlx-c appends " at <its own source file>:<line>", which names the C wrapper,
/// not anything the user can act on.
fn strip_mlx_c_location(msg: &str) -> &str {
    match msg.rfind(" at ") {
        Some(pos) if msg[pos..].contains("mlx/c/") => &msg[..pos],
        _ => msg,
    }
}

/// Takes (and clears) this thread's recorded MLX error.
pub(crate) fn take_last_error() -> Option<String> {
    LAST_ERROR
        .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_mlx_c_locations() {
        assert_eq!(
            strip_mlx_c_location("[matmul] bad shapes at /x/src/mlx-c/mlx/c/ops.cpp:12"),
            "[matmul] bad shapes"
        );
        assert_eq!(strip_mlx_c_location("look at me"), "look at me");
    }
}
