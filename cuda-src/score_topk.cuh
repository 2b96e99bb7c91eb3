// Shared by the score + top-k kernels (placed before the generated kernels).
// Candidates are (score, index) pairs, ranked by higher score first and, on
// equal scores, lower index first: a total order, so the k kept are the same
// whatever order threads insert them in.
#define MLX_RS_TOPK_NONE 0xFFFFFFFFu

__device__ __forceinline__ float mlx_rs_topk_neg_inf() {
  return __int_as_float(0xff800000);
}

// True when candidate a ranks before candidate b.
__device__ __forceinline__ bool mlx_rs_topk_before(
    float as, unsigned ai, float bs, unsigned bi) {
  return as > bs || (as == bs && ai < bi);
}

// Sorts the CAP entries of a shared-memory buffer best first (bitonic), after
// turning the entries from n on into padding that ranks after every
// candidate. Every thread of the block must call it; it ends synchronized.
template <int CAP>
__device__ void mlx_rs_topk_sort(float* s, unsigned* idx, int n) {
  for (int j = n + int(threadIdx.x); j < CAP; j += int(blockDim.x)) {
    s[j] = mlx_rs_topk_neg_inf();
    idx[j] = MLX_RS_TOPK_NONE;
  }
  __syncthreads();
  for (int size = 2; size <= CAP; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = int(threadIdx.x); t < CAP / 2; t += int(blockDim.x)) {
        const int lo = 2 * t - (t & (stride - 1));
        const int hi = lo + stride;
        // Runs of `size` alternate direction; the last pass is best first.
        const bool best_first = (lo & size) == 0;
        const bool swap = best_first
            ? mlx_rs_topk_before(s[hi], idx[hi], s[lo], idx[lo])
            : mlx_rs_topk_before(s[lo], idx[lo], s[hi], idx[hi]);
        if (swap) {
          const float ts = s[lo];
          s[lo] = s[hi];
          s[hi] = ts;
          const unsigned ti = idx[lo];
          idx[lo] = idx[hi];
          idx[hi] = ti;
        }
      }
      __syncthreads();
    }
  }
}
