/* What this project adds to mlx-c: operations on MLX's CPU backend as
 * registered primitives (MLX's C++ extension mechanism), and a polling wait
 * for GPU results. Exposed in mlx-c's style:
 * status 0 on success, the result written to `res`, errors reported through
 * mlx-c's error handler. They are built into the mlx-c library beside
 * mlx-c's own functions. */
#ifndef MLX_RS_SHIM_H
#define MLX_RS_SHIM_H

#include "mlx/c/array.h"
#include "mlx/c/stream.h"
#include "mlx/c/vector.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Epilogues of mlx_rs_cpu_linear. */
typedef enum mlx_rs_epilogue_ {
  MLX_RS_EPILOGUE_IDENTITY = 0,
  MLX_RS_EPILOGUE_RELU = 1,
  MLX_RS_EPILOGUE_GELU_TANH = 2,
  MLX_RS_EPILOGUE_GELU_ERF = 3,
  MLX_RS_EPILOGUE_SILU = 4,
} mlx_rs_epilogue;

/**
 * `epilogue(x @ w^T + b)` for float32 `x: [M, K]`, `w: [N, K]` (row- or
 * column-major), `b: [N]` (an empty handle for none), as one CPU primitive:
 * one BLAS GEMM (for a few rows: a kernel that reads a row-major `w` as it
 * lies), then the bias and activation in a single pass over the output. `s`
 * must be a CPU stream.
 */
int mlx_rs_cpu_linear(
    mlx_array* res,
    const mlx_array x,
    const mlx_array w,
    const mlx_array b,
    mlx_rs_epilogue epilogue,
    const mlx_stream s);

/**
 * The best `k` rows of `corpus: [N, D]` for each of `queries: [B, D]` by dot
 * product, as one CPU primitive that streams the corpus once: `scores`
 * (float32) and `indices` (uint32), both `[B, k]`, best first, ties to the
 * lower index, NaN scores ranked and reported as -inf. Both inputs float32,
 * or both bfloat16 (products accumulated in float32). `s` must be a CPU
 * stream.
 */
int mlx_rs_cpu_score_topk(
    mlx_array* scores,
    mlx_array* indices,
    const mlx_array queries,
    const mlx_array corpus,
    int k,
    const mlx_stream s);

/**
 * Polls the arrays of `arrays` that an asynchronous evaluation scheduled on
 * GPU streams until all are available or `spin_us` microseconds have passed,
 * without sleeping; `ready` says which. Arrays of CPU streams, and arrays not
 * scheduled asynchronously, are not waited for. Afterwards an evaluation of
 * the same arrays finishes the wait (at once when `ready`).
 */
int mlx_rs_poll_gpu_ready(
    bool* ready,
    const mlx_vector_array arrays,
    int spin_us);

#ifdef __cplusplus
}
#endif

#endif
