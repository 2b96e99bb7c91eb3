// Fused score + top-k, pass 1: the best K corpus rows of one corpus slice for
// up to QB queries, by dot product, streaming each corpus row once per block.
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* q, Shape q_shape, const T* c, Shape c_shape,
//    float* part_scores, uint32_t* part_indices)
// with q [B, DIM], c [N, DIM] row-contiguous, outputs [B, slices, K].
// Template: T, DIM, K (1..256), QB (queries per block, 1..8).
// Launch: grid (ceil(B / QB) * 256, slices), block (256, 1). Block (x, y)
// takes queries [x * QB, x * QB + QB) and slice y of the corpus rows; blocks
// of the same slice are neighbours in x, so a slice read by several query
// groups is served from L2.
// Each thread scores one row per round against the queries held in shared
// memory (f32), and appends a row to a query's buffer only if it ranks before
// the query's current K-th candidate; a buffer that could overflow in the next
// round is sorted and cut back to K. NaN scores count as -inf.
constexpr int CAP = 512;  // >= K + 256: a round appends at most 256 per query
constexpr int VEC = 16 / sizeof(T);
const int B = q_shape[0];
const int N = c_shape[0];
const int slices = int(gridDim.y);
const int slice = int(blockIdx.y);
const int rows = (N + slices - 1) / slices;
const int row_begin = slice * rows;
const int row_end = min(N, row_begin + rows);
const int tid = int(threadIdx.x);
const int q0 = int(blockIdx.x) * QB;

__shared__ __align__(16) float qs[QB][DIM];
__shared__ float cs[QB][CAP];
__shared__ unsigned ci[QB][CAP];
__shared__ int count[QB];
__shared__ float ts[QB];
__shared__ unsigned ti[QB];

for (int e = tid; e < QB * DIM; e += int(blockDim.x)) {
  const int qq = e / DIM;
  const int d = e % DIM;
  qs[qq][d] = q0 + qq < B ? static_cast<float>(q[size_t(q0 + qq) * DIM + d]) : 0.0f;
}
if (tid < QB) {
  count[tid] = 0;
  ts[tid] = mlx_rs_topk_neg_inf();
  ti[tid] = MLX_RS_TOPK_NONE;
}
__syncthreads();

// 16-byte loads when the corpus starts aligned and rows hold whole vectors.
const bool vectors = (reinterpret_cast<size_t>(c) % 16) == 0 && DIM % VEC == 0;
for (int base = row_begin; base < row_end; base += int(blockDim.x)) {
  const int r = base + tid;
  if (r < row_end) {
    float acc[QB];
#pragma unroll
    for (int qq = 0; qq < QB; ++qq) {
      acc[qq] = 0.0f;
    }
    const T* row = c + size_t(r) * DIM;
    if (vectors) {
      const uint4* rv = reinterpret_cast<const uint4*>(row);
#pragma unroll 4
      for (int v = 0; v < DIM / VEC; ++v) {
        const uint4 w = rv[v];
        const T* t = reinterpret_cast<const T*>(&w);
#pragma unroll
        for (int g = 0; g < VEC / 4; ++g) {
          const float x0 = static_cast<float>(t[4 * g]);
          const float x1 = static_cast<float>(t[4 * g + 1]);
          const float x2 = static_cast<float>(t[4 * g + 2]);
          const float x3 = static_cast<float>(t[4 * g + 3]);
#pragma unroll
          for (int qq = 0; qq < QB; ++qq) {
            const float4 y = *reinterpret_cast<const float4*>(&qs[qq][v * VEC + 4 * g]);
            acc[qq] += x0 * y.x + x1 * y.y + x2 * y.z + x3 * y.w;
          }
        }
      }
    } else {
      for (int d = 0; d < DIM; ++d) {
        const float x = static_cast<float>(row[d]);
#pragma unroll
        for (int qq = 0; qq < QB; ++qq) {
          acc[qq] += x * qs[qq][d];
        }
      }
    }
#pragma unroll
    for (int qq = 0; qq < QB; ++qq) {
      // (x != x) is the NaN test that survives every compiler flag here.
      const float s = acc[qq] != acc[qq] ? mlx_rs_topk_neg_inf() : acc[qq];
      if (q0 + qq < B && mlx_rs_topk_before(s, unsigned(r), ts[qq], ti[qq])) {
        const int slot = atomicAdd(&count[qq], 1);
        cs[qq][slot] = s;
        ci[qq][slot] = unsigned(r);
      }
    }
  }
  __syncthreads();
  for (int qq = 0; qq < QB; ++qq) {
    const int n = count[qq];
    if (n > CAP - int(blockDim.x)) {
      mlx_rs_topk_sort<CAP>(cs[qq], ci[qq], n);
      if (tid == 0) {
        count[qq] = K;
        ts[qq] = cs[qq][K - 1];
        ti[qq] = ci[qq][K - 1];
      }
    }
  }
  __syncthreads();
}

for (int qq = 0; qq < QB && q0 + qq < B; ++qq) {
  mlx_rs_topk_sort<CAP>(cs[qq], ci[qq], count[qq]);
  const size_t out = (size_t(q0 + qq) * slices + slice) * K;
  for (int j = tid; j < K; j += int(blockDim.x)) {
    part_scores[out + j] = cs[qq][j];
    part_indices[out + j] = ci[qq][j];
  }
}
