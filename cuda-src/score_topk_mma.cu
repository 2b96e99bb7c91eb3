// Fused score + top-k, pass 1 on tensor cores (bf16 / f16): the best K corpus
// rows of one corpus slice for 8 queries, by dot product (products exact,
// sums in f32), streaming each corpus row once per block.
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* q, Shape q_shape, const T* c, Shape c_shape,
//    float* part_scores, uint32_t* part_indices)
// with q [B, DIM], c [N, DIM] row-contiguous, outputs [B, slices, K].
// Template: T (__nv_bfloat16 or __half), DIM (a multiple of 32, at most
// 768), K (1..256).
// Launch: grid (ceil(B / 8) * 256, slices), block (256, 1), as the CUDA-core
// pass 1 with QB = 8.
// Each warp multiplies 16-row corpus tiles (the A operand of
// mma.m16n8k16, row-major) by the 8 queries (B operand, one query per
// column). A dot product may take its terms in any order, so the k axis is
// permuted to suit 16-byte loads: lane (g, t) = (lane / 4, lane % 4) loads
// dims [32 s + 8 t, 32 s + 8 t + 8) of rows g and g + 8 and of query g, and
// those 8 values feed the fragments of two consecutive k-steps (A: a0..a3
// = row g / g + 8 pairs; B: b0, b1), the same permutation on both operands.
// One warp load then reads 64 contiguous bytes of each of 8 rows. A round is
// 256 rows (8 warps x 2 tiles); candidates are filtered against the
// query's current K-th as in the CUDA-core kernel.
constexpr int QB = 8;
constexpr int CAP = 512;  // >= K + ROUND
constexpr int ROUND = 256;
constexpr int PAIRS = DIM / 32;  // 16-byte loads per row and lane
const int B = q_shape[0];
const int N = c_shape[0];
const int slices = int(gridDim.y);
const int slice = int(blockIdx.y);
int row_begin, row_end;
mlx_rs_topk_slice_rows(N, row_begin, row_end);
const int tid = int(threadIdx.x);
const int lane = tid & 31;
const int g = lane >> 2;
const int t = lane & 3;
const int warp_row = (tid >> 5) * 32;
const int q0 = int(blockIdx.x) * QB;

// The queries' fragments, per k pair and lane (zeros past the last query).
__shared__ uint4 qf[1][PAIRS][32];
__shared__ float cs[QB][CAP];
__shared__ unsigned ci[QB][CAP];
__shared__ int count[QB];
__shared__ float ts[QB];
__shared__ unsigned ti[QB];

const bool aligned = (reinterpret_cast<size_t>(c) % 16) == 0 &&
    (reinterpret_cast<size_t>(q) % 16) == 0;

mlx_rs_topk_query_fragments<T, DIM, 1>(q, B, q0, aligned, qf);
if (tid < QB) {
  count[tid] = 0;
  ts[tid] = mlx_rs_topk_neg_inf();
  ti[tid] = MLX_RS_TOPK_NONE;
}
__syncthreads();

for (int base = row_begin; base < row_end; base += ROUND) {
#pragma unroll 1
  for (int tile = 0; tile < 2; ++tile) {
    const int r_lo = base + warp_row + tile * 16 + g;
    const int r_hi = r_lo + 8;
    const T* p_lo = c + size_t(r_lo < row_end ? r_lo : row_begin) * DIM + 8 * t;
    const T* p_hi = c + size_t(r_hi < row_end ? r_hi : row_begin) * DIM + 8 * t;
    float d[1][4];
    mlx_rs_topk_tile_dots<T, DIM, 1>(p_lo, p_hi, aligned, qf, d);
    const float d0 = d[0][0], d1 = d[0][1], d2 = d[0][2], d3 = d[0][3];
    // d0, d1: row g, queries 2t, 2t + 1; d2, d3: row g + 8, same queries.
    const int qa = 2 * t;
    if (r_lo < row_end) {
      if (q0 + qa < B) {
        mlx_rs_topk_offer(mlx_rs_topk_score(d0), unsigned(r_lo), ts[qa], ti[qa],
                          &count[qa], cs[qa], ci[qa]);
      }
      if (q0 + qa + 1 < B) {
        mlx_rs_topk_offer(mlx_rs_topk_score(d1), unsigned(r_lo), ts[qa + 1],
                          ti[qa + 1], &count[qa + 1], cs[qa + 1], ci[qa + 1]);
      }
    }
    if (r_hi < row_end) {
      if (q0 + qa < B) {
        mlx_rs_topk_offer(mlx_rs_topk_score(d2), unsigned(r_hi), ts[qa], ti[qa],
                          &count[qa], cs[qa], ci[qa]);
      }
      if (q0 + qa + 1 < B) {
        mlx_rs_topk_offer(mlx_rs_topk_score(d3), unsigned(r_hi), ts[qa + 1],
                          ti[qa + 1], &count[qa + 1], cs[qa + 1], ci[qa + 1]);
      }
    }
  }
  mlx_rs_topk_end_round<QB, CAP, K, ROUND>(cs, ci, count, ts, ti);
}

mlx_rs_topk_write_slice<QB, CAP, K>(
    cs, ci, count, q0, B, slice, slices, part_scores, part_indices);
