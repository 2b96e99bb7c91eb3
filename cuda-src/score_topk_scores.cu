// Score + top-k in two passes, pass 1 on CUDA cores: the f32 dot products of
// up to QB queries with one slice of corpus rows, written to s [B, N] (NaN
// written as -inf), streaming each corpus row once per block
// (mlx_rs_topk_stream_dots).
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* q, Shape q_shape, const T* c, Shape c_shape, float* s)
// with q [B, DIM], c [N, DIM] row-contiguous.
// Template: T, DIM, QB (queries per block, 1..8).
// Launch: grid (ceil(B / QB) * 256, slices), block (256, 1).
const int B = q_shape[0];
const int N = c_shape[0];
int row_begin, row_end;
mlx_rs_topk_slice_rows(N, row_begin, row_end);
const int q0 = int(blockIdx.x) * QB;

__shared__ __align__(16) float qs[QB][DIM];
mlx_rs_topk_queries_to_shared<T, QB, DIM>(q, B, q0, qs);
__syncthreads();
mlx_rs_topk_stream_dots<T, DIM, QB>(c, row_begin, row_end, q0, B, qs,
                                    [&](int qq, int row, float dot) {
                                      s[size_t(q0 + qq) * N + row] = mlx_rs_topk_score(dot);
                                    });
