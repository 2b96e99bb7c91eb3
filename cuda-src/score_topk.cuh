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

// True for __half (the f16 tensor-core instruction), false for other T.
template <typename T>
struct mlx_rs_topk_is_half {
  static constexpr bool value = false;
};
template <>
struct mlx_rs_topk_is_half<__half> {
  static constexpr bool value = true;
};

// A 16-byte load through the read-only path.
__device__ __forceinline__ uint4 mlx_rs_topk_load16(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Two k-steps of D += A B with mma.m16n8k16 (f32 accumulators): lo and hi
// hold 8 values of this lane's A rows (g and g + 8), b 8 values of its
// query; the first 4 of each feed the first step, the last 4 the second.
template <typename T>
__device__ __forceinline__ void mlx_rs_topk_mma(
    const uint4& lo, const uint4& hi, const uint4& b, float& d0, float& d1,
    float& d2, float& d3) {
  if constexpr (mlx_rs_topk_is_half<T>::value) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
        : "r"(lo.x), "r"(hi.x), "r"(lo.y), "r"(hi.y), "r"(b.x), "r"(b.y));
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
        : "r"(lo.z), "r"(hi.z), "r"(lo.w), "r"(hi.w), "r"(b.z), "r"(b.w));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
        : "r"(lo.x), "r"(hi.x), "r"(lo.y), "r"(hi.y), "r"(b.x), "r"(b.y));
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
        : "r"(lo.z), "r"(hi.z), "r"(lo.w), "r"(hi.w), "r"(b.z), "r"(b.w));
  }
}

// Asks L2 to fetch `bytes` (a multiple of 16) from the 16-byte aligned p on,
// without waiting (sm_90 bulk prefetch).
__device__ __forceinline__ void mlx_rs_topk_prefetch_l2(const void* p, unsigned bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
}

// True when x is a NaN; a bit test, so that no compiler flag can fold it.
__device__ __forceinline__ bool mlx_rs_topk_isnan(float x) {
  return (__float_as_uint(x) & 0x7fffffffu) > 0x7f800000u;
}

// The score a candidate is ranked by: NaN counts as -inf.
__device__ __forceinline__ float mlx_rs_topk_score(float x) {
  return mlx_rs_topk_isnan(x) ? mlx_rs_topk_neg_inf() : x;
}

// Compare-exchange t of one bitonic stage (runs of `size`, partners
// `stride` apart) over a buffer.
__device__ __forceinline__ void mlx_rs_topk_exchange(
    float* s, unsigned* idx, int t, int size, int stride) {
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

// The smallest power of two >= max(n, keep, 2), at most CAP.
template <int CAP>
__device__ __forceinline__ int mlx_rs_topk_sort_size(int n, int keep) {
  int m = 2;
  while (m < n || m < keep) {
    m <<= 1;
  }
  return m < CAP ? m : CAP;
}

// Sorts the first m entries of a shared-memory buffer of CAP best first
// (bitonic), m the smallest power of two >= max(n, keep), after turning the
// entries from n to m into padding that ranks after every candidate. The
// first max(n, keep) entries are then the buffer's best, in order. Every
// thread of the block must call it with the same n and keep; it ends
// synchronized.
template <int CAP>
__device__ void mlx_rs_topk_sort(float* s, unsigned* idx, int n, int keep) {
  const int m = mlx_rs_topk_sort_size<CAP>(n, keep);
  for (int j = n + int(threadIdx.x); j < m; j += int(blockDim.x)) {
    s[j] = mlx_rs_topk_neg_inf();
    idx[j] = MLX_RS_TOPK_NONE;
  }
  __syncthreads();
  for (int size = 2; size <= m; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = int(threadIdx.x); t < m / 2; t += int(blockDim.x)) {
        mlx_rs_topk_exchange(s, idx, t, size, stride);
      }
      __syncthreads();
    }
  }
}

// Appends candidate (s, r) to a query's buffer if it ranks before the
// query's current K-th (ts, ti); the caller keeps the buffer from
// overflowing (at most one round of candidates between cuts).
__device__ __forceinline__ void mlx_rs_topk_offer(
    float s, unsigned r, float ts, unsigned ti, int* count, float* cs,
    unsigned* ci) {
  if (mlx_rs_topk_before(s, r, ts, ti)) {
    const int slot = atomicAdd(count, 1);
    cs[slot] = s;
    ci[slot] = r;
  }
}

// Sorts the QB buffers of pass 1 together, each best first (as
// mlx_rs_topk_sort, one network for all of them, so that the block waits at
// one barrier per stage rather than one per stage and query), and cuts each
// back to its best `keep` (padding where a buffer held fewer), whose last
// becomes the query's threshold. Every thread calls it after a barrier; it
// ends synchronized.
template <int QB, int CAP>
__device__ void mlx_rs_topk_sort_all(
    float (*cs)[CAP], unsigned (*ci)[CAP], int* count, float* ts, unsigned* ti,
    int keep) {
  int most = 0;
  for (int qq = 0; qq < QB; ++qq) {
    most = max(most, count[qq]);
  }
  const int m = mlx_rs_topk_sort_size<CAP>(most, keep);
  for (int e = int(threadIdx.x); e < QB * m; e += int(blockDim.x)) {
    const int qq = e / m;
    const int j = e % m;
    if (j >= count[qq]) {
      cs[qq][j] = mlx_rs_topk_neg_inf();
      ci[qq][j] = MLX_RS_TOPK_NONE;
    }
  }
  __syncthreads();
  const int half = m / 2;
  for (int size = 2; size <= m; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int e = int(threadIdx.x); e < QB * half; e += int(blockDim.x)) {
        const int qq = e / half;
        mlx_rs_topk_exchange(cs[qq], ci[qq], e % half, size, stride);
      }
      __syncthreads();
    }
  }
  if (int(threadIdx.x) < QB) {
    const int qq = int(threadIdx.x);
    count[qq] = keep;
    ts[qq] = cs[qq][keep - 1];
    ti[qq] = ci[qq][keep - 1];
  }
  __syncthreads();
}

// End of a pass-1 round (every thread calls it): when any of the QB buffers
// could overflow in the next round (more than CAP - ROUND entries), all are
// sorted and cut back to their best K, whose K-th becomes the threshold.
template <int QB, int CAP, int K, int ROUND>
__device__ void mlx_rs_topk_end_round(
    float (*cs)[CAP], unsigned (*ci)[CAP], int* count, float* ts,
    unsigned* ti) {
  __syncthreads();
  bool full = false;
  for (int qq = 0; qq < QB; ++qq) {
    full = full || count[qq] > CAP - ROUND;
  }
  if (full) {
    mlx_rs_topk_sort_all<QB, CAP>(cs, ci, count, ts, ti, K);
  }
}

// End of pass 1: the buffers sorted, each real query's best K written to
// slot `slice` of the [B, slices, K] outputs. Every thread calls it.
template <int QB, int CAP, int K>
__device__ void mlx_rs_topk_write_slice(
    float (*cs)[CAP], unsigned (*ci)[CAP], int* count, float* ts,
    unsigned* ti, int q0, int B, int slice, int slices, float* part_scores,
    unsigned* part_indices) {
  __syncthreads();
  mlx_rs_topk_sort_all<QB, CAP>(cs, ci, count, ts, ti, K);
  for (int e = int(threadIdx.x); e < QB * K; e += int(blockDim.x)) {
    const int qq = e / K;
    const int j = e % K;
    if (q0 + qq < B) {
      const size_t out = (size_t(q0 + qq) * slices + slice) * K;
      part_scores[out + j] = cs[qq][j];
      part_indices[out + j] = ci[qq][j];
    }
  }
}
