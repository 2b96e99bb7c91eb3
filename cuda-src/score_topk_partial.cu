// Fused score + top-k, pass 1 on CUDA cores: the best K corpus rows of one
// corpus slice for up to QB queries, by dot product, streaming each corpus
// row once per block.
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* q, Shape q_shape, const T* c, Shape c_shape,
//    float* part_scores, uint32_t* part_indices)
// with q [B, DIM], c [N, DIM] row-contiguous, outputs [B, slices, K].
// Template: T, DIM, K (1..256), QB (queries per block, 1..8).
// Launch: grid (ceil(B / QB) * 256, slices), block (256, 1). Block (x, y)
// takes queries [x * QB, x * QB + QB) and slice y of the corpus rows; blocks
// of the same slice are neighbours in x, so a slice read by several query
// groups is served from L2.
// Loads are coalesced: G = 8 neighbouring lanes read one row together (lane
// j of the group takes the row's 16-byte vectors j, j + G, ...), so one warp
// load instruction reads 4 whole 128-byte pieces of 4 rows, and each lane
// issues all its loads for UNR rows before using them. The G partial dot
// products are summed with shuffles. A round is 256 rows (8 warps x 32); a
// row is appended to a query's buffer only if it ranks before the query's
// current K-th candidate (most rows fail that one compare), and a buffer
// that could overflow in the next round is sorted and cut back to K.
constexpr int CAP = 512;  // >= K + ROUND: a round appends at most 256 per query
constexpr int ROUND = 256;
using L = mlx_rs_topk_row_loads<T, DIM>;
constexpr int G = L::G, RPW = L::RPW, VEC = L::VEC, PER = L::PER, UNR = L::UNR;
constexpr int STEPS = 32 / (RPW * UNR);       // per warp and round
const int B = q_shape[0];
const int N = c_shape[0];
const int slices = int(gridDim.y);
const int slice = int(blockIdx.y);
int row_begin, row_end;
mlx_rs_topk_slice_rows(N, row_begin, row_end);
const int tid = int(threadIdx.x);
const int lane = tid & 31;
const int sub = lane % G;
const int grp = lane / G;
const int warp_row = (tid >> 5) * 32;
const int q0 = int(blockIdx.x) * QB;

__shared__ __align__(16) float qs[QB][DIM];
__shared__ float cs[QB][CAP];
__shared__ unsigned ci[QB][CAP];
__shared__ int count[QB];
__shared__ float ts[QB];
__shared__ unsigned ti[QB];

mlx_rs_topk_queries_to_shared<T, QB, DIM>(q, B, q0, qs);
if (tid < QB) {
  count[tid] = 0;
  ts[tid] = mlx_rs_topk_neg_inf();
  ti[tid] = MLX_RS_TOPK_NONE;
}
__syncthreads();

// 16-byte loads when the corpus starts aligned and rows hold whole vectors.
const bool vectors = (reinterpret_cast<size_t>(c) % 16) == 0 && DIM % VEC == 0;
for (int base = row_begin; base < row_end; base += ROUND) {
#pragma unroll 1
  for (int step = 0; step < STEPS; ++step) {
    // Row of unrolled copy u: consecutive groups take consecutive rows.
    const int r0 = base + warp_row + step * RPW * UNR + grp;
    float acc[UNR][QB] = {};
    if (vectors) {
      // The compiler keeps only about two of the loads below in flight per
      // thread (it places each load next to its use), so one lane per warp
      // asks L2 for the warp's next rows (contiguous) one step ahead.
      if (lane == 0) {
        const int next = step + 1 < STEPS ? base + warp_row + (step + 1) * RPW * UNR
                                          : base + ROUND + warp_row;
        const int n_next = min(RPW * UNR, row_end - next);
        if (n_next > 0) {
          mlx_rs_topk_prefetch_l2(c + size_t(next) * DIM, unsigned(n_next * DIM * sizeof(T)));
        }
      }
      // All loads first.
      uint4 w[UNR][PER];
      mlx_rs_topk_load_rows<T, DIM, true>(w, c, r0, row_begin, row_end, sub);
      mlx_rs_topk_dot_rows<T, QB, DIM>(w, sub, qs, acc);
    } else {
      mlx_rs_topk_dot_rows_scalar<T, QB, DIM>(c, r0, row_end, sub, qs, acc);
    }
    // Lane qq of the group offers the row to query qq (QB <= G).
    auto offer = [&](int qq, int r, float dot) {
      mlx_rs_topk_offer(
          mlx_rs_topk_score(dot), unsigned(r), ts[qq], ti[qq], &count[qq], cs[qq], ci[qq]);
    };
    mlx_rs_topk_sum_and_put<T, DIM, QB>(acc, r0, row_end, sub, q0, B, offer);
  }
  mlx_rs_topk_end_round<QB, CAP, K, ROUND>(cs, ci, count, ts, ti);
}

mlx_rs_topk_write_slice<QB, CAP, K>(
    cs, ci, count, q0, B, slice, slices, part_scores, part_indices);
