//! Operations this crate adds to MLX's CPU backend.
//!
//! MLX has a custom-kernel API for its GPU backends only. These ops are C++
//! primitives registered with MLX (built into this crate's mlx-c library):
//! lazy graph nodes like MLX's own ops, evaluated on the stream's worker
//! thread. They run on CPU streams only (a GPU stream is an `Err`), and they
//! define no gradient: callers that train wrap them in a
//! [`crate::transforms::CustomFunction`] with the reference's VJP.
//!
//! On x86-64 Linux their element-wise loops are built twice, for AVX2 + FMA
//! and for the baseline, and the copy the CPU supports is picked at load
//! time.
//!
//! ```
//! use mlx_rs_core::ops::cpu::{self, Epilogue};
//! use mlx_rs_core::Array;
//! # fn main() -> mlx_rs_core::Result<()> {
//! let x = Array::from_slice(&[1.0f32, 2.0], &[1, 2])?;
//! let w = Array::from_slice(&[0.5f32, -1.0, 3.0, 0.25], &[2, 2])?;
//! let b = Array::from_slice(&[0.0f32, 1.0], &[2])?;
//! // relu(x @ wᵀ + b) = relu([-1.5, 4.5])
//! let y = cpu::linear(&x, &w, Some(&b), Epilogue::Relu)?;
//! assert_eq!(y.to_vec::<f32>()?, [0.0, 4.5]);
//! # Ok(()) }
//! ```

use crate::array::ResultSlot;
use crate::ffi::{array_op, mlx_call};
use crate::ops::raw_or_null;
use crate::{Array, DeviceType, Error, Result, Stream};

/// What [`linear`] applies to `x @ wᵀ + b` before its single store.
///
/// The GELUs and SiLU are computed in f32 with rational approximations of
/// `tanh` and `erf` (within 4e-7 and 5e-7 of the exact functions): MLX's CPU
/// `tanh`, `erf` and `exp` are scalar loops several times slower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Epilogue {
    /// Nothing (the bias only).
    Identity,
    /// `max(v, 0)`.
    Relu,
    /// `0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³)))`.
    GeluTanh,
    /// `0.5·v·(1 + erf(v/√2))`.
    GeluErf,
    /// `v·sigmoid(v)`, computed as `0.5·v·(1 + tanh(v/2))`.
    Silu,
}

impl Epilogue {
    fn raw(self) -> mlx_sys::mlx_rs_epilogue {
        match self {
            Epilogue::Identity => mlx_sys::MLX_RS_EPILOGUE_IDENTITY,
            Epilogue::Relu => mlx_sys::MLX_RS_EPILOGUE_RELU,
            Epilogue::GeluTanh => mlx_sys::MLX_RS_EPILOGUE_GELU_TANH,
            Epilogue::GeluErf => mlx_sys::MLX_RS_EPILOGUE_GELU_ERF,
            Epilogue::Silu => mlx_sys::MLX_RS_EPILOGUE_SILU,
        }
    }
}

#[track_caller]
fn cpu_only(op: &str, s: &Stream) -> Result<()> {
    if s.device()?.device_type() == DeviceType::Cpu {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            message: format!("{op} runs on CPU streams only"),
            location: std::panic::Location::caller(),
        })
    }
}

op! {
    /// `epilogue(x @ wᵀ + b)` as one CPU primitive: one BLAS GEMM, then the
    /// bias and the activation in a single pass over the output. A few rows of
    /// `x` skip BLAS (which would first copy all of `w` into its panel layout)
    /// and are multiplied with a row-major `w` as it lies: up to 4 rows, and on
    /// x86-64 with AVX2 up to 16 rows of a weight of at most 2^20 elements
    /// while OpenBLAS runs on one thread.
    ///
    /// `x: [M, K]` and `w: [N, K]` (any view: a transposed `w` is handed to
    /// BLAS as it lies, other views are copied) and `b: [N]`, all float32;
    /// the result is `[M, N]` float32. See the [module docs](self) for an
    /// example.
    fn linear(x: &Array, w: &Array, b: Option<&Array>, epilogue: Epilogue) -> Array |s| {
        cpu_only("ops::cpu::linear", &s)?;
        array_op!(mlx_rs_cpu_linear(x.as_raw(), w.as_raw(), raw_or_null(b), epilogue.raw(), s.as_raw()))
    }
}

op! {
    /// The best `k` rows of `corpus: [N, D]` for each of `queries: [B, D]` by
    /// dot product, as one CPU primitive that reads the corpus once and keeps
    /// a running top-`k` per query, never materializing the `[B, N]` scores.
    ///
    /// Returns `(scores, indices)`, both `[B, k]`: float32 scores and uint32
    /// row indices, best first; on equal scores the lower index first; a NaN
    /// score ranks and is reported as `-inf`. Inputs are both float32 or both
    /// bfloat16 (a bfloat16 corpus is read as is, products accumulate in
    /// float32). One query is a matrix-vector pass over the rows; several
    /// queries multiply blocks of rows with BLAS.
    ///
    /// ```
    /// use mlx_rs_core::{ops::cpu, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let corpus = Array::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 0.6, 0.8], &[3, 2])?;
    /// let query = Array::from_slice(&[0.0f32, 1.0], &[1, 2])?;
    /// let (scores, indices) = cpu::score_topk(&query, &corpus, 2)?;
    /// assert_eq!(indices.to_vec::<u32>()?, [1, 2]);
    /// assert_eq!(scores.to_vec::<f32>()?, [1.0, 0.8]);
    /// # Ok(()) }
    /// ```
    fn score_topk(queries: &Array, corpus: &Array, k: i32) -> (Array, Array) |s| {
        cpu_only("ops::cpu::score_topk", &s)?;
        let mut scores = ResultSlot::new();
        let mut indices = ResultSlot::new();
        let (p1, p2) = (scores.as_mut_ptr(), indices.as_mut_ptr());
        mlx_call!(mlx_rs_cpu_score_topk(p1, p2, queries.as_raw(), corpus.as_raw(), k, s.as_raw()))?;
        Ok((scores.into_array()?, indices.into_array()?))
    }
}
