// Fused score + top-k, pass 2: merges the per-slice candidates of pass 1
// into each query's best K, ordered best first (ties: lower index first).
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const float* ps, Shape ps_shape, const uint32_t* pi,
//    float* scores, uint32_t* indices)
// with ps, pi [B, slices, K] and outputs [B, K].
// Template: K (1..256), CAP (buffer entries, a power of two), ITEMS
// (candidates per thread per round; ITEMS * blockDim.x <= CAP - K).
// Launch: grid (B * 256), block 256: one block per query. Padding entries of
// pass 1 (index 0xFFFFFFFF) are skipped.
const int tid = int(threadIdx.x);
const int qi = int(blockIdx.x);
const int total = ps_shape[1] * K;
const float* s = ps + size_t(qi) * total;
const uint32_t* ix = pi + size_t(qi) * total;

__shared__ float cs[CAP];
__shared__ unsigned ci[CAP];
__shared__ int count;
__shared__ float ts;
__shared__ unsigned ti;
if (tid == 0) {
  count = 0;
  ts = mlx_rs_topk_neg_inf();
  ti = MLX_RS_TOPK_NONE;
}
__syncthreads();

const int round = ITEMS * int(blockDim.x);
for (int base = 0; base < total; base += round) {
  float v[ITEMS];
  unsigned id[ITEMS];
#pragma unroll
  for (int e = 0; e < ITEMS; ++e) {
    const int j = base + e * int(blockDim.x) + tid;
    v[e] = j < total ? s[j] : mlx_rs_topk_neg_inf();
    id[e] = j < total ? unsigned(ix[j]) : MLX_RS_TOPK_NONE;
  }
  const float t_s = ts;
  const unsigned t_i = ti;
#pragma unroll
  for (int e = 0; e < ITEMS; ++e) {
    if (id[e] != MLX_RS_TOPK_NONE && mlx_rs_topk_before(v[e], id[e], t_s, t_i)) {
      const int slot = atomicAdd(&count, 1);
      cs[slot] = v[e];
      ci[slot] = id[e];
    }
  }
  __syncthreads();
  const int n = count;
  if (n > CAP - round) {
    mlx_rs_topk_sort<CAP>(cs, ci, n, K);
    if (tid == 0) {
      count = K;
      ts = cs[K - 1];
      ti = ci[K - 1];
    }
  }
  __syncthreads();
}

mlx_rs_topk_sort<CAP>(cs, ci, count, K);
for (int j = tid; j < K; j += int(blockDim.x)) {
  scores[size_t(qi) * K + j] = cs[j];
  indices[size_t(qi) * K + j] = ci[j];
}
