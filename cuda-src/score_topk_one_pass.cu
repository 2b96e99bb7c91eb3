// Score + top-k in one kernel, for a few queries: each block streams one
// slice of corpus rows as the scores kernel does (mlx_rs_topk_stream_dots),
// keeps the slice's f32 scores in shared memory, and writes the slice's best
// K per query to part_scores / part_indices [B, slices, K]; the last block of
// each query group to finish merges the slices' candidates into scores /
// indices [B, K], best first.
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* q, Shape q_shape, const T* c, Shape c_shape,
//    const uint32_t* tickets, float* part_scores, uint32_t* part_indices,
//    float* scores, uint32_t* indices)
// with q [B, DIM], c [N, DIM] row-contiguous, tickets [groups * 32] zeros:
// each block counts itself done in word 32 * group (one 128-byte line per
// group), and the last one resets it to 0 (a graph that hands the same
// buffer to a later launch still works).
// Template: T, DIM, QB (queries per block), ROWS (the most rows a slice has, a
// multiple of 256), MV (merge candidates per thread, 256 * MV >= slices * K),
// K (1..256).
// Launch: grid (groups * 256, slices), block (256, 1).
const int B = q_shape[0];
const int N = c_shape[0];
const int slices = int(gridDim.y);
int row_begin, row_end;
mlx_rs_topk_slice_rows(N, row_begin, row_end);
const int q0 = int(blockIdx.x) * QB;

__shared__ __align__(16) float qs[QB][DIM];
__shared__ float ss[QB][ROWS];
__shared__ bool last;
mlx_rs_topk_queries_to_shared<T, QB, DIM>(q, B, q0, qs);
__syncthreads();
mlx_rs_topk_stream_dots<T, DIM, QB>(c, row_begin, row_end, q0, B, qs,
                                    [&](int qq, int row, float dot) {
                                      ss[qq][row - row_begin] = dot;
                                    });
__syncthreads();
for (int qq = 0; qq < QB && q0 + qq < B; ++qq) {
  const size_t out = (size_t(q0 + qq) * slices + blockIdx.y) * K;
  mlx_rs_topk_select_block<ROWS / 256, K, 512, false>(
      ss[qq], nullptr, row_end - row_begin, unsigned(row_begin), part_scores + out,
      part_indices + out);
}

// Publish this block's candidates before counting it done; the block that
// counts last sees every other block's.
__threadfence();
__syncthreads();
if (threadIdx.x == 0) {
  unsigned* ticket = const_cast<unsigned*>(tickets) + 32 * blockIdx.x;
  last = atomicAdd(ticket, 1u) == unsigned(slices - 1);
  if (last) {
    *ticket = 0u;
  }
}
__syncthreads();
if (!last) {
  return;
}
__threadfence();
for (int qq = 0; qq < QB && q0 + qq < B; ++qq) {
  const size_t in = size_t(q0 + qq) * slices * K;
  mlx_rs_topk_select_block<MV, K, 512, true>(
      part_scores + in, part_indices + in, slices * K, 0u, scores + size_t(q0 + qq) * K,
      indices + size_t(q0 + qq) * K);
}
