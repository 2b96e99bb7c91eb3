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
constexpr int CHUNK = PAIRS < 12 ? PAIRS : 12;
constexpr int QB = 8 * NT;
const int B = q_shape[0];
const int N = c_shape[0];
const int slices = int(gridDim.y);
const int slice = int(blockIdx.y);
const int rows = (N + slices - 1) / slices;
const int row_begin = min(N, slice * rows);
const int row_end = min(N, row_begin + rows);
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
// 8 values of p as one uint4: a 16-byte load, or 8 element loads when the
// array does not start 16-byte aligned.
auto load8 = [aligned](const T* p) -> uint4 {
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
};

for (int e = tid; e < NT * PAIRS * 32; e += int(blockDim.x)) {
  const int nt = e / (PAIRS * 32);
  const int sp = (e / 32) % PAIRS;
  const int l = e % 32;
  const int qq = q0 + nt * 8 + (l >> 2);
  qf[nt][sp][l] = qq < B ? load8(q + size_t(qq) * DIM + 32 * sp + 8 * (l & 3))
                         : make_uint4(0u, 0u, 0u, 0u);
}
__syncthreads();

for (int tile = row_begin + (tid >> 5) * 16; tile < row_end; tile += warps * 16) {
  const int r_lo = tile + g;
  const int r_hi = r_lo + 8;
  const T* p_lo = c + size_t(r_lo < row_end ? r_lo : row_begin) * DIM + 8 * t;
  const T* p_hi = c + size_t(r_hi < row_end ? r_hi : row_begin) * DIM + 8 * t;
  float d[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    d[nt][0] = d[nt][1] = d[nt][2] = d[nt][3] = 0.0f;
  }
#pragma unroll
  for (int s0 = 0; s0 < PAIRS; s0 += CHUNK) {
    uint4 lo[CHUNK], hi[CHUNK];
#pragma unroll
    for (int sp = 0; sp < CHUNK; ++sp) {
      if (s0 + sp < PAIRS) {
        lo[sp] = load8(p_lo + 32 * (s0 + sp));
        hi[sp] = load8(p_hi + 32 * (s0 + sp));
      }
    }
    // Keeps the chunk's loads ahead of its first mma.
    __syncwarp();
#pragma unroll
    for (int sp = 0; sp < CHUNK; ++sp) {
      if (s0 + sp < PAIRS) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint4 b = qf[nt][s0 + sp][lane];
          mlx_rs_topk_mma<T>(lo[sp], hi[sp], b, d[nt][0], d[nt][1], d[nt][2], d[nt][3]);
        }
      }
    }
  }
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
