// Score + top-k in two passes, pass 1 on tensor cores (bf16 / f16): the dot
// products (products exact, sums in f32) of 8 * NT queries with one slice of
// corpus rows, written to s [B, N] (NaN written as -inf), streaming each
// corpus row once per block.
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* q, Shape q_shape, const T* c, Shape c_shape, float* s)
// with q [B, DIM], c [N, DIM] row-contiguous.
// Template: T (__nv_bfloat16 or __half), DIM (a multiple of 32, at most
// 768), NT (query tiles of 8 per block, 1..4).
// Launch: grid (ceil(B / (8 * NT)) * 256, slices), block (256, 1).
// Fragments and the k-axis permutation as in the fused tensor-core pass 1:
// each warp multiplies 16-row corpus tiles (A of mma.m16n8k16) by NT tiles
// of 8 queries (B), reusing each A fragment NT times, so the corpus is read
// once per 8 * NT queries instead of once per 8.
constexpr int PAIRS = DIM / 32;  // 16-byte loads per row and lane
constexpr int QB = 8 * NT;
const int B = q_shape[0];
const int N = c_shape[0];
int row_begin, row_end;
mlx_rs_topk_slice_rows(N, row_begin, row_end);
const int tid = int(threadIdx.x);
const int lane = tid & 31;
const int g = lane >> 2;
const int t = lane & 3;
const int warps = int(blockDim.x) >> 5;
const int q0 = int(blockIdx.x) * QB;

// The queries' fragments, per query tile, k pair and lane (zeros past the
// last query).
__shared__ uint4 qf[NT][PAIRS][32];

const bool aligned = (reinterpret_cast<size_t>(c) % 16) == 0 &&
    (reinterpret_cast<size_t>(q) % 16) == 0;

mlx_rs_topk_query_fragments<T, DIM, NT>(q, B, q0, aligned, qf);
__syncthreads();

for (int tile = row_begin + (tid >> 5) * 16; tile < row_end; tile += warps * 16) {
  const int r_lo = tile + g;
  const int r_hi = r_lo + 8;
  const T* p_lo = c + size_t(r_lo < row_end ? r_lo : row_begin) * DIM + 8 * t;
  const T* p_hi = c + size_t(r_hi < row_end ? r_hi : row_begin) * DIM + 8 * t;
  float d[NT][4];
  mlx_rs_topk_tile_dots<T, DIM, NT>(p_lo, p_hi, aligned, qf, d);
  // d[nt][0], d[nt][1]: row g, queries 8 nt + 2t, 8 nt + 2t + 1;
  // d[nt][2], d[nt][3]: row g + 8, the same queries.
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int qa = q0 + nt * 8 + 2 * t;
    if (r_lo < row_end) {
      if (qa < B) {
        s[size_t(qa) * N + r_lo] = mlx_rs_topk_score(d[nt][0]);
      }
      if (qa + 1 < B) {
        s[size_t(qa + 1) * N + r_lo] = mlx_rs_topk_score(d[nt][1]);
      }
    }
    if (r_hi < row_end) {
      if (qa < B) {
        s[size_t(qa) * N + r_hi] = mlx_rs_topk_score(d[nt][2]);
      }
      if (qa + 1 < B) {
        s[size_t(qa + 1) * N + r_hi] = mlx_rs_topk_score(d[nt][3]);
      }
    }
  }
}
