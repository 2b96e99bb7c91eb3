//! Building [`mlx_rs_core::Error`] values for this crate's checks.

use std::panic::Location;

use mlx_rs_core::Error;

/// An invalid-argument error at the caller's location.
#[track_caller]
pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        message: message.into(),
        location: Location::caller(),
    }
}

/// `e` with `what: ` in front of its message (its location is kept).
pub(crate) fn context(what: &str, e: Error) -> Error {
    let location = e.location().unwrap_or(Location::caller());
    let message = format!("{what}: {}", e.message());
    match e {
        Error::Mlx { .. } => Error::Mlx { message, location },
        _ => Error::InvalidArgument { message, location },
    }
}
