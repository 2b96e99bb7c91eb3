//! End-to-end workloads on mlx-rs, as a library (models, pipelines) with
//! benchmark programs as binaries.
//!
//! - [`harness`]: flags, timing, statistics, profiling and the JSON record
//!   every benchmark program shares.
//! - [`rag`]: the RAG query path (corpus index, fused score + top-k, exact
//!   rerank); program `benchmark_rag_query`.
#![warn(missing_docs)]

pub mod harness;
pub mod rag;

/// An invalid-argument error with a message, located at the caller.
#[track_caller]
pub(crate) fn invalid(message: String) -> mlx_rs_core::Error {
    mlx_rs_core::Error::InvalidArgument {
        message,
        location: std::panic::Location::caller(),
    }
}
