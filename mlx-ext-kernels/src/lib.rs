//! Fused MLX ops: each is a reference composed of `mlx-rs-core` ops, plus a
//! Metal kernel and a CUDA kernel registered through MLX's custom-kernel API.
//!
//! Every op `foo` comes as:
//! - `foo(..)` / `foo_on(.., on)`: dispatches by the stream's device: the CUDA
//!   kernel on a CUDA GPU, the Metal kernel on Apple silicon, the reference
//!   everywhere else (CPU, unsupported dtypes);
//! - `foo_reference(..)` / `foo_reference_on(..)`: always the reference.
//!
//! [`path_for`] tells which implementation a call would use. Kernels take
//! `f32`, `f16` and `bf16` and compute internally in f32.
//!
//! The Metal kernels (`metal-src/`) are compiled into this crate as text and
//! dispatched on Apple GPUs; they have not been run by this project's test
//! suite, which runs on Linux (CPU, and CUDA on an NVIDIA GPU). The CUDA
//! kernels (`cuda-src/`) are tested against f64 references on an NVIDIA H200, except
//! [`quantized_matmul`]'s tensor-core kernel, which is compiled but not yet run.
//!
//! [`fused_linear`] (`act(x @ wᵀ + b)`) is the template for fused ops with
//! training in mind: inside functions MLX transforms
//! ([`in_mlx_function`](mlx_rs_core::closure::in_mlx_function)) its kernels
//! are wrapped in a custom function whose VJP is the reference's (outside,
//! where nothing can differentiate them, they run bare), and its reference
//! lives in [`reference`](mod@reference). The
//! element-wise ops (SwiGLU, L2-normalize) have no gradient of their own:
//! differentiate their reference. [`set_force_reference`] (or the environment
//! variable [`FORCE_REFERENCE_ENV`]) makes every op run its reference, for
//! A/B comparisons. `docs/kernels.md` describes how an op is built.
//!
//! Ops: [`fused_linear`], [`quantized_matmul`] (4- and 8-bit weights, a few rows),
//! [`swiglu`] (gated activation), [`l2_normalize`] (row normalization),
//! [`score_topk`] (similarity scores and the best `k` rows per query, the
//! retrieval step of a RAG query, without materializing the score matrix).
#![warn(missing_docs)]

mod dispatch;
mod l2_normalize;
mod linear;
mod quantized;
mod score_topk;
mod swiglu;

pub use dispatch::{
    force_reference, path_for, set_force_reference, set_poison_outputs, KernelPath,
    FORCE_REFERENCE_ENV,
};
pub use l2_normalize::{
    l2_normalize, l2_normalize_on, l2_normalize_reference, l2_normalize_reference_on,
};
pub use linear::{
    fused_linear, fused_linear_bias_gelu, fused_linear_cuda, fused_linear_on, fused_linear_path,
    reference, set_fused_linear_cuda, Activation, LinearPath, FUSED_LINEAR_CUDA_ENV,
};
pub use quantized::{
    quantized_matmul, quantized_matmul_cuda, quantized_matmul_on, quantized_matmul_path,
    quantized_matmul_reference, quantized_matmul_reference_on, set_quantized_matmul_cuda,
    QuantizedCuda, QUANTIZED_MATMUL_CUDA_ENV, QUANTIZED_MATMUL_MAX_ROWS,
};
pub use score_topk::{
    score_topk, score_topk_cuda, score_topk_on, score_topk_path, score_topk_reference,
    score_topk_reference_on, set_score_topk_cuda, ScoreTopkCuda, SCORE_TOPK_CUDA_ENV,
    SCORE_TOPK_MAX_K, SCORE_TOPK_SLICE_ROWS_ENV,
};
pub use swiglu::{swiglu, swiglu_on, swiglu_reference, swiglu_reference_on};
