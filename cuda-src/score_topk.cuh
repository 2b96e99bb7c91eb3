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

// This block's rows of the corpus: slice blockIdx.y of gridDim.y equal slices
// of N rows, [begin, end).
__device__ __forceinline__ void mlx_rs_topk_slice_rows(int N, int& begin, int& end) {
  const int rows = (N + int(gridDim.y) - 1) / int(gridDim.y);
  begin = min(N, int(blockIdx.y) * rows);
  end = min(N, begin + rows);
}

// How the CUDA-core kernels read a row of DIM values of T: G neighbouring
// lanes read it together, lane j taking its 16-byte vectors j, j + G, ...
template <typename T, int DIM>
struct mlx_rs_topk_row_loads {
  static constexpr int G = 8;                            // lanes per row
  static constexpr int RPW = 32 / G;                     // rows per warp load
  static constexpr int VEC = 16 / int(sizeof(T));        // values per vector
  static constexpr int NV = DIM / VEC;                   // whole vectors per row
  static constexpr int PER = NV > 0 ? (NV + G - 1) / G : 1;  // vectors per lane
  static constexpr int UNR = PER <= 6 ? 2 : 1;           // rows per lane in flight
};

// acc[qq] += vector v of a corpus row (16 bytes of T, loaded as w) times the
// same dimensions of query qq (f32 rows of DIM in shared memory).
template <typename T, int QB, int DIM>
__device__ __forceinline__ void mlx_rs_topk_dot_vector(
    const uint4& w, int v, const float (*qs)[DIM], float* acc) {
  constexpr int VEC = 16 / int(sizeof(T));
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

// acc[u] += this lane's vectors w[u] of UNR rows times the QB queries (lane
// `sub` of a row group holds vectors sub, sub + G, ...).
template <typename T, int QB, int DIM>
__device__ __forceinline__ void mlx_rs_topk_dot_rows(
    const uint4 (&w)[mlx_rs_topk_row_loads<T, DIM>::UNR][mlx_rs_topk_row_loads<T, DIM>::PER],
    int sub, const float (*qs)[DIM], float (&acc)[mlx_rs_topk_row_loads<T, DIM>::UNR][QB]) {
  using L = mlx_rs_topk_row_loads<T, DIM>;
#pragma unroll
  for (int u = 0; u < L::UNR; ++u) {
#pragma unroll
    for (int i = 0; i < L::PER; ++i) {
      const int v = sub + L::G * i;
      if (v < L::NV) {
        mlx_rs_topk_dot_vector<T, QB, DIM>(w[u][i], v, qs, acc[u]);
      }
    }
  }
}

// acc[u] += row r0 + u * RPW (if before row_end) times the QB queries, one
// value at a time: the path for rows that are not 16-byte aligned or whole
// vectors wide.
template <typename T, int QB, int DIM>
__device__ __forceinline__ void mlx_rs_topk_dot_rows_scalar(
    const T* c, int r0, int row_end, int sub, const float (*qs)[DIM],
    float (&acc)[mlx_rs_topk_row_loads<T, DIM>::UNR][QB]) {
  using L = mlx_rs_topk_row_loads<T, DIM>;
#pragma unroll
  for (int u = 0; u < L::UNR; ++u) {
    const int r = r0 + u * L::RPW;
    if (r < row_end) {
      const T* row = c + size_t(r) * DIM;
      for (int d = sub; d < DIM; d += L::G) {
        const float x = static_cast<float>(row[d]);
#pragma unroll
        for (int qq = 0; qq < QB; ++qq) {
          acc[u][qq] += x * qs[qq][d];
        }
      }
    }
  }
}

// 8 values of T at p as one uint4: a 16-byte load when `aligned`, else 8
// element loads (16-bit T).
template <typename T>
__device__ __forceinline__ uint4 mlx_rs_topk_load8(const T* p, bool aligned) {
  if (aligned) {
    return mlx_rs_topk_load16(p);
  }
  unsigned short h[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    h[e] = reinterpret_cast<const unsigned short*>(p)[e];
  }
  return make_uint4(
      unsigned(h[0]) | (unsigned(h[1]) << 16), unsigned(h[2]) | (unsigned(h[3]) << 16),
      unsigned(h[4]) | (unsigned(h[5]) << 16), unsigned(h[6]) | (unsigned(h[7]) << 16));
}

// The tensor-core kernels' B fragments: for NT tiles of 8 queries from q0, per
// k pair s and lane l = (g, t), dims [32 s + 8 t, 32 s + 8 t + 8) of query
// q0 + 8 nt + g (zeros past the last query). Every thread of the block calls
// it; the caller synchronizes before use.
template <typename T, int DIM, int NT>
__device__ void mlx_rs_topk_query_fragments(
    const T* q, int B, int q0, bool aligned, uint4 (*qf)[DIM / 32][32]) {
  constexpr int PAIRS = DIM / 32;
  for (int e = int(threadIdx.x); e < NT * PAIRS * 32; e += int(blockDim.x)) {
    const int nt = e / (PAIRS * 32);
    const int sp = (e / 32) % PAIRS;
    const int l = e % 32;
    const int qq = q0 + nt * 8 + (l >> 2);
    qf[nt][sp][l] = qq < B ? mlx_rs_topk_load8(q + size_t(qq) * DIM + 32 * sp + 8 * (l & 3), aligned)
                           : make_uint4(0u, 0u, 0u, 0u);
  }
}

// Queries q0 .. q0 + QB - 1 of q [B, DIM] as f32 rows in shared memory (zeros
// past the last query). Every thread of the block calls it; the caller
// synchronizes before use.
template <typename T, int QB, int DIM>
__device__ void mlx_rs_topk_queries_to_shared(const T* q, int B, int q0, float (*qs)[DIM]) {
  for (int e = int(threadIdx.x); e < QB * DIM; e += int(blockDim.x)) {
    const int qq = e / DIM;
    const int d = e % DIM;
    qs[qq][d] = q0 + qq < B ? static_cast<float>(q[size_t(q0 + qq) * DIM + d]) : 0.0f;
  }
}

// Sums the G lanes of each row group with shuffles: every lane of a group
// ends with its rows' whole dot products. All lanes of the warp call it.
template <int G, int UNR, int QB>
__device__ __forceinline__ void mlx_rs_topk_group_sum(float (&acc)[UNR][QB]) {
#pragma unroll
  for (int off = G / 2; off > 0; off >>= 1) {
#pragma unroll
    for (int u = 0; u < UNR; ++u) {
#pragma unroll
      for (int qq = 0; qq < QB; ++qq) {
        acc[u][qq] += __shfl_xor_sync(0xffffffffu, acc[u][qq], off);
      }
    }
  }
}

// This lane's 16-byte vectors of the UNR rows r, r + RPW, ... of c [N, DIM]
// (rows past row_end read row row_begin, vectors past the row's end its first
// vector; neither is used). ASM: through mlx_rs_topk_load16, whose loads the
// compiler keeps in program order; else __ldg.
template <typename T, int DIM, bool ASM>
__device__ __forceinline__ void mlx_rs_topk_load_rows(
    uint4 (&w)[mlx_rs_topk_row_loads<T, DIM>::UNR][mlx_rs_topk_row_loads<T, DIM>::PER],
    const T* c, int r, int row_begin, int row_end, int sub) {
  using L = mlx_rs_topk_row_loads<T, DIM>;
#pragma unroll
  for (int u = 0; u < L::UNR; ++u) {
    const int row = r + u * L::RPW;
    const uint4* rv =
        reinterpret_cast<const uint4*>(c + size_t(row < row_end ? row : row_begin) * DIM);
#pragma unroll
    for (int i = 0; i < L::PER; ++i) {
      const int v = sub + L::G * i;
      const uint4* p = rv + (v < L::NV ? v : 0);
      w[u][i] = ASM ? mlx_rs_topk_load16(p) : __ldg(p);
    }
  }
}

// Sums the G lanes of each row group (mlx_rs_topk_group_sum) and hands the
// dot products of the UNR rows r, r + RPW, ... on: lane qq of the group
// calls put(qq, row, dot) for query qq, for rows before row_end and real
// queries (q0 + qq < B). Every lane of the warp calls it.
template <typename T, int DIM, int QB, typename Put>
__device__ __forceinline__ void mlx_rs_topk_sum_and_put(
    float (&acc)[mlx_rs_topk_row_loads<T, DIM>::UNR][QB], int r, int row_end, int sub, int q0,
    int B, Put put) {
  using L = mlx_rs_topk_row_loads<T, DIM>;
  mlx_rs_topk_group_sum<L::G, L::UNR, QB>(acc);
#pragma unroll
  for (int u = 0; u < L::UNR; ++u) {
    const int row = r + u * L::RPW;
#pragma unroll
    for (int qq = 0; qq < QB; ++qq) {
      if (sub == qq && row < row_end && q0 + qq < B) {
        put(qq, row, acc[u][qq]);
      }
    }
  }
}

// Streams rows [row_begin, row_end) of c [N, DIM] (row-contiguous), each row
// read once by the block, and hands every row's f32 dot product with each
// real query of qs (queries q0 .. q0 + QB - 1 of B) to put(qq, row, dot).
// G = 8 neighbouring lanes read one row together, so one warp load reads 4
// whole 128-byte pieces of 4 rows; nothing synchronizes the block, and each
// warp issues the loads of its next rows before it multiplies the current
// ones. Every thread of the block calls it.
template <typename T, int DIM, int QB, typename Put>
__device__ __forceinline__ void mlx_rs_topk_stream_dots(
    const T* c, int row_begin, int row_end, int q0, int B, const float (*qs)[DIM], Put put) {
  using L = mlx_rs_topk_row_loads<T, DIM>;
  constexpr int G = L::G, RPW = L::RPW, VEC = L::VEC, PER = L::PER, UNR = L::UNR;
  constexpr int WROWS = RPW * UNR;  // rows per warp and step
  const int tid = int(threadIdx.x);
  const int lane = tid & 31;
  const int sub = lane % G;
  const int grp = lane / G;
  const int warps = int(blockDim.x) >> 5;
  auto store = [&](float (&acc)[UNR][QB], int r) {
    mlx_rs_topk_sum_and_put<T, DIM, QB>(acc, r, row_end, sub, q0, B, put);
  };

  const bool vectors = (reinterpret_cast<size_t>(c) % 16) == 0 && DIM % VEC == 0;
  const int first = row_begin + (tid >> 5) * WROWS;
  const int stride = warps * WROWS;
  if (vectors) {
    auto load = [&](uint4 (&w)[UNR][PER], int r) {
      mlx_rs_topk_load_rows<T, DIM, false>(w, c, r, row_begin, row_end, sub);
    };
    uint4 w[UNR][PER];
    if (first < row_end) {
      load(w, first + grp);
    }
    // The loop bound is the warp's (not the group's), so every lane takes part
    // in the shuffles.
    for (int wb = first; wb < row_end; wb += stride) {
      uint4 next[UNR][PER];
      const bool more = wb + stride < row_end;
      if (more) {
        load(next, wb + stride + grp);
      }
      float acc[UNR][QB] = {};
      mlx_rs_topk_dot_rows<T, QB, DIM>(w, sub, qs, acc);
      store(acc, wb + grp);
      if (more) {
#pragma unroll
        for (int u = 0; u < UNR; ++u) {
#pragma unroll
          for (int i = 0; i < PER; ++i) {
            w[u][i] = next[u][i];
          }
        }
      }
    }
  } else {
    for (int wb = first; wb < row_end; wb += stride) {
      float acc[UNR][QB] = {};
      mlx_rs_topk_dot_rows_scalar<T, QB, DIM>(c, wb + grp, row_end, sub, qs, acc);
      store(acc, wb + grp);
    }
  }
}

// One 16-row corpus tile (this lane's rows g and g + 8 start at p_lo and
// p_hi, already offset by 8 t) times NT tiles of 8 queries: d[nt] gets
// (row g, query 8 nt + 2t), (row g, 2t + 1), (row g + 8, 2t),
// (row g + 8, 2t + 1). Loads go in chunks of up to 12 k pairs, all of a
// chunk before its first mma.
template <typename T, int DIM, int NT>
__device__ __forceinline__ void mlx_rs_topk_tile_dots(
    const T* p_lo, const T* p_hi, bool aligned, const uint4 (*qf)[DIM / 32][32],
    float (&d)[NT][4]) {
  constexpr int PAIRS = DIM / 32;
  constexpr int CHUNK = PAIRS < 12 ? PAIRS : 12;
  const int lane = int(threadIdx.x) & 31;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    d[nt][0] = d[nt][1] = d[nt][2] = d[nt][3] = 0.0f;
  }
#pragma unroll
  for (int s0 = 0; s0 < PAIRS; s0 += CHUNK) {
    uint4 lo[CHUNK], hi[CHUNK];
#pragma unroll
    for (int s = 0; s < CHUNK; ++s) {
      if (s0 + s < PAIRS) {
        lo[s] = mlx_rs_topk_load8(p_lo + 32 * (s0 + s), aligned);
        hi[s] = mlx_rs_topk_load8(p_hi + 32 * (s0 + s), aligned);
      }
    }
    // Keeps the chunk's loads ahead of its first mma (as the compiled code
    // for sm_90a shows; without it they were interleaved).
    __syncwarp();
#pragma unroll
    for (int s = 0; s < CHUNK; ++s) {
      if (s0 + s < PAIRS) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          mlx_rs_topk_mma<T>(lo[s], hi[s], qf[nt][s0 + s][lane], d[nt][0], d[nt][1], d[nt][2],
                             d[nt][3]);
        }
      }
    }
  }
}

// True when x is a NaN; a bit test, so that no compiler flag can fold it.
__device__ __forceinline__ bool mlx_rs_topk_isnan(float x) {
  return (__float_as_uint(x) & 0x7fffffffu) > 0x7f800000u;
}

// The score a candidate is ranked by: NaN counts as -inf.
__device__ __forceinline__ float mlx_rs_topk_score(float x) {
  return mlx_rs_topk_isnan(x) ? mlx_rs_topk_neg_inf() : x;
}

// Sorts the first m entries of a shared-memory buffer of CAP best first
// (bitonic), m the smallest power of two >= max(n, keep), after turning the
// entries from n to m into padding that ranks after every candidate. The
// first max(n, keep) entries are then the buffer's best, in order. Every
// thread of the block must call it with the same n and keep; it ends
// synchronized.
template <int CAP>
__device__ void mlx_rs_topk_sort(float* s, unsigned* idx, int n, int keep) {
  int m = 2;
  while (m < n || m < keep) {
    m <<= 1;
  }
  m = m < CAP ? m : CAP;
  for (int j = n + int(threadIdx.x); j < m; j += int(blockDim.x)) {
    s[j] = mlx_rs_topk_neg_inf();
    idx[j] = MLX_RS_TOPK_NONE;
  }
  __syncthreads();
  for (int size = 2; size <= m; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = int(threadIdx.x); t < m / 2; t += int(blockDim.x)) {
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

// End of a pass-1 round (every thread calls it): each of the QB buffers
// that could overflow in the next round (more than CAP - ROUND entries) is
// sorted and cut back to its best K, whose K-th becomes the threshold.
template <int QB, int CAP, int K, int ROUND>
__device__ void mlx_rs_topk_end_round(
    float (*cs)[CAP], unsigned (*ci)[CAP], int* count, float* ts,
    unsigned* ti) {
  __syncthreads();
  for (int qq = 0; qq < QB; ++qq) {
    const int n = count[qq];
    if (n > CAP - ROUND) {
      mlx_rs_topk_sort<CAP>(cs[qq], ci[qq], n, K);
      if (threadIdx.x == 0) {
        count[qq] = K;
        ts[qq] = cs[qq][K - 1];
        ti[qq] = ci[qq][K - 1];
      }
    }
  }
  __syncthreads();
}

// End of pass 1: each real query's buffer sorted, its best K written to
// slot `slice` of the [B, slices, K] outputs.
template <int QB, int CAP, int K>
__device__ void mlx_rs_topk_write_slice(
    float (*cs)[CAP], unsigned (*ci)[CAP], const int* count, int q0, int B,
    int slice, int slices, float* part_scores, unsigned* part_indices) {
  for (int qq = 0; qq < QB && q0 + qq < B; ++qq) {
    mlx_rs_topk_sort<CAP>(cs[qq], ci[qq], count[qq], K);
    const size_t out = (size_t(q0 + qq) * slices + slice) * K;
    for (int j = int(threadIdx.x); j < K; j += int(blockDim.x)) {
      part_scores[out + j] = cs[qq][j];
      part_indices[out + j] = ci[qq][j];
    }
  }
}

// True when candidate (s, i) is a real one (not padding) and ranks at or
// before the threshold (ts, ti).
__device__ __forceinline__ bool mlx_rs_topk_within(
    float s, unsigned i, float ts, unsigned ti) {
  return i != MLX_RS_TOPK_NONE && !mlx_rs_topk_before(ts, ti, s, i);
}

// The best K of `total` candidates, written best first to out_s / out_i
// (padding -inf / MLX_RS_TOPK_NONE past the last real one). Candidate j is
// score s[j] (NaN ranks as -inf) with index si[j] (HAS_IDX), or base + j
// (then only the scores sit in registers); indices MLX_RS_TOPK_NONE are
// padding and skipped. One block of 256
// threads; thread t holds candidates t, t + 256, ... (total <= 256 * V), so
// every load of the block is one contiguous 1 KiB.
// How: each thread's best candidate is a distinct candidate, so the K-th
// best of the 256 thread bests ranks at or after the K-th best of all, and
// every one of the best K ranks at or before it. Usually few candidates do,
// they all fit the buffer and one sort finishes. When more do (e.g. the
// best rows all held by few threads), the candidates go in by rounds of one
// per thread, and the buffer is cut back to its best K whenever the next
// round could overflow it, as in pass 1.
template <int V, int K, int CAP, bool HAS_IDX>
__device__ void mlx_rs_topk_select_block(
    const float* s, const uint32_t* si, int total, unsigned base, float* out_s,
    unsigned* out_i) {
  __shared__ float cs[CAP];
  __shared__ unsigned ci[CAP];
  __shared__ int count;
  __shared__ int within;
  __shared__ float ts;
  __shared__ unsigned ti;
  const int tid = int(threadIdx.x);
  float v[V];
  unsigned idv[HAS_IDX ? V : 1];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int e = j * 256 + tid;
    v[j] = e < total ? mlx_rs_topk_score(s[e]) : mlx_rs_topk_neg_inf();
    if constexpr (HAS_IDX) {
      idv[j] = e < total ? unsigned(si[e]) : MLX_RS_TOPK_NONE;
    }
  }
  // Candidate j's index.
  auto id = [&](int j) -> unsigned {
    if constexpr (HAS_IDX) {
      return idv[j];
    } else {
      const int e = j * 256 + tid;
      return e < total ? base + unsigned(e) : MLX_RS_TOPK_NONE;
    }
  };
  float best_s = mlx_rs_topk_neg_inf();
  unsigned best_i = MLX_RS_TOPK_NONE;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    if (id(j) != MLX_RS_TOPK_NONE && mlx_rs_topk_before(v[j], id(j), best_s, best_i)) {
      best_s = v[j];
      best_i = id(j);
    }
  }
  cs[tid] = best_s;
  ci[tid] = best_i;
  if (tid == 0) {
    count = 0;
    within = 0;
  }
  __syncthreads();
  mlx_rs_topk_sort<CAP>(cs, ci, 256, K);
  // The threshold: the K-th thread best (padding when fewer than K
  // candidates exist: then every real one is within).
  float t_s = cs[K - 1];
  unsigned t_i = ci[K - 1];
  int mine = 0;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    mine += mlx_rs_topk_within(v[j], id(j), t_s, t_i) ? 1 : 0;
  }
  if (mine > 0) {
    atomicAdd(&within, mine);
  }
  __syncthreads();
  if (within <= CAP) {
    // One slot range per thread, then one sort.
    int slot = mine > 0 ? atomicAdd(&count, mine) : 0;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (mlx_rs_topk_within(v[j], id(j), t_s, t_i)) {
        cs[slot] = v[j];
        ci[slot] = id(j);
        ++slot;
      }
    }
  } else {
    if (tid == 0) {
      ts = t_s;
      ti = t_i;
    }
    __syncthreads();
#pragma unroll 1
    for (int j = 0; j < V; ++j) {
      // Registers are indexed by a runtime j here: a local-memory copy on
      // this rare path is acceptable.
      if (mlx_rs_topk_within(v[j], id(j), ts, ti)) {
        const int slot = atomicAdd(&count, 1);
        cs[slot] = v[j];
        ci[slot] = id(j);
      }
      mlx_rs_topk_end_round<1, CAP, K, 256>(&cs, &ci, &count, &ts, &ti);
    }
  }
  __syncthreads();
  mlx_rs_topk_sort<CAP>(cs, ci, count, K);
  for (int j = tid; j < K; j += 256) {
    out_s[j] = cs[j];
    out_i[j] = ci[j];
  }
}
