// Shared by the score + top-k Metal kernels (the same scheme as cuda-src/):
// candidates (score, index) rank by higher score, then lower index.
constant uint MLX_RS_TOPK_NONE = 0xFFFFFFFFu;

inline bool mlx_rs_topk_before(float as, uint ai, float bs, uint bi) {
  return as > bs || (as == bs && ai < bi);
}

// Sorts CAP threadgroup entries best first (bitonic) after padding those from
// n on. Every thread of the threadgroup must call it; it ends synchronized.
template <int CAP>
inline void mlx_rs_topk_sort(
    threadgroup float* s, threadgroup uint* idx, int n, uint tid, uint block) {
  for (int j = n + int(tid); j < CAP; j += int(block)) {
    s[j] = -INFINITY;
    idx[j] = MLX_RS_TOPK_NONE;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (int size = 2; size <= CAP; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = int(tid); t < CAP / 2; t += int(block)) {
        int lo = 2 * t - (t & (stride - 1));
        int hi = lo + stride;
        bool best_first = (lo & size) == 0;
        bool swap = best_first ? mlx_rs_topk_before(s[hi], idx[hi], s[lo], idx[lo])
                               : mlx_rs_topk_before(s[lo], idx[lo], s[hi], idx[hi]);
        if (swap) {
          float ts = s[lo];
          s[lo] = s[hi];
          s[hi] = ts;
          uint ti = idx[lo];
          idx[lo] = idx[hi];
          idx[hi] = ti;
        }
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);
    }
  }
}
