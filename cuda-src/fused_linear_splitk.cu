// Fused linear layer for few rows (decode, small batches):
// out = act(x @ w^T + b), x [M, K], w [N, K], b [N].
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* x, Shape x_shape, const T* w, Shape w_shape, const T* b, T* out)
// and the constants T (f32, bf16 or f16), ACT, HAS_BIAS, MT (rows per block:
// 8, 16 or 32; more rows take several blocks) and PRECISE (f32 only: 3xTF32
// instead of one TF32 product).
//
// With few rows the time goes to reading w once, so the kernel is built to
// keep many loads of w in flight and to spend little else:
// - One block (8 warps) owns MT rows x 16 columns of out and splits K
//   across its warps: warp v takes the K chunks v, v + 8, v + 16, ... of
//   KI elements each (256 bytes of a row: 128 in bf16/f16, 64 in f32), so
//   the block streams whole rows of w, consecutive warps on consecutive bytes.
// - Per chunk every lane first issues all of its 8 16-byte loads of w, then
//   multiplies on tensor cores: mma.sync m16n8k16 (bf16/f16) or m16n8k8
//   (tf32) with x as the A operand (rows padded to 16 with zeros) and w's
//   rows as the col-major B operand, read straight from global memory into
//   fragment registers. No ldmatrix or shared-memory staging is needed
//   because the sum over k does not care about k's order: lane (g, t) loads
//   the 16 bytes at k = 8t.. (bf16/f16) or 4t.. (f32) of w row g, and reads x
//   at the same k, so both operands agree on one permutation of k.
//   x is small and read through L1/L2.
// - The warps' f32 partial sums are added in a tree through shared memory;
//   warp 0 adds the bias, applies the activation and stores each output once.
// K % (16 / sizeof(T)) != 0 or misaligned pointers take scalar loads into the
// same fragments. Launch: 256 threads per block, ceil(M / MT) * ceil(N / 16)
// blocks, row chunks fastest so blocks that share a slice of w run together
// and find it in L2. 96 registers under MLX's JIT at MT = 16 (ncu): two
// blocks per SM.
using namespace mlx_rs_linear;
constexpr int WARPS = 8;
constexpr int NT = 2;                    // 8-column tiles per block (SPLITK_COLUMNS / 8 in linear.rs)
constexpr int VEC = 16 / sizeof(T);      // elements per 16-byte load
constexpr int U = 8 / NT;                // 16-byte loads of w per lane per tile per chunk
constexpr int KI = U * 4 * VEC;          // k per chunk and warp
constexpr int RG = (MT + 15) / 16;       // 16-row groups of the A operand
constexpr bool UPPER = MT > 8;           // rows 8..15 of a group can be real
constexpr int VALS = RG * NT * 4;        // accumulators per lane

const int M = x_shape[0];
const int K = x_shape[1];
const int N = w_shape[0];
const int row_chunks = (M + MT - 1) / MT;
const int row0 = (blockIdx.x % row_chunks) * MT;
const int col0 = (blockIdx.x / row_chunks) * (8 * NT);
if (col0 >= N) {
  return;  // whole block: nothing to compute, no barrier reached
}
const int warp = threadIdx.x / 32;
const int lane = threadIdx.x % 32;
const int g = lane / 4;
const int t = lane % 4;
const bool vec_ok = (K % VEC) == 0 &&
    ((reinterpret_cast<size_t>(x) | reinterpret_cast<size_t>(w)) % 16) == 0;

float acc[RG][NT][4];
#pragma unroll
for (int r = 0; r < RG; ++r) {
#pragma unroll
  for (int j = 0; j < NT; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      acc[r][j][e] = 0.0f;
    }
  }
}

// The main loop, instantiated for vector and for element-wise loads.
auto main_loop = [&](auto vec_tag) {
  constexpr bool VL = decltype(vec_tag)::value;
  for (int kb = warp * KI; kb < K; kb += WARPS * KI) {
    uint4 wv[U][NT];
#pragma unroll
    for (int u = 0; u < U; ++u) {
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int n = col0 + j * 8 + g;
        const int k = kb + u * 4 * VEC + t * VEC;
        wv[u][j] = load_vec<true, VL>(w + size_t(n < N ? n : 0) * K, k, K, n < N);
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int k = kb + u * 4 * VEC + t * VEC;
#pragma unroll
      for (int r = 0; r < RG; ++r) {
        const int m_lo = row0 + r * 16 + g;
        const int m_hi = m_lo + 8;
        const uint4 xl = load_vec<false, VL>(x + size_t(m_lo < M ? m_lo : 0) * K, k, K, m_lo < M);
        uint4 xh = make_uint4(0, 0, 0, 0);
        if constexpr (UPPER) {
          xh = load_vec<false, VL>(x + size_t(m_hi < M ? m_hi : 0) * K, k, K, m_hi < M);
        }
        // Fragment registers: A {row g, row g + 8, row g, row g + 8} at two k
        // pairs; the 16 bytes of each lane hold two MMA steps.
        const unsigned a0[4] = {xl.x, xh.x, xl.y, xh.y};
        const unsigned a1[4] = {xl.z, xh.z, xl.w, xh.w};
        unsigned a0h[4], a0l[4], a1h[4], a1l[4];
        prepare_a<T>(a0, a0h, a0l);
        prepare_a<T>(a1, a1h, a1l);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          mma_step<T, PRECISE>(acc[r][j], a0h, a0l, wv[u][j].x, wv[u][j].y);
          mma_step<T, PRECISE>(acc[r][j], a1h, a1l, wv[u][j].z, wv[u][j].w);
        }
      }
    }
  }
};
if (vec_ok) {
  main_loop(BoolTag<true>{});
} else {
  main_loop(BoolTag<false>{});
}

// Tree reduction of the 8 warps' partial sums: 4 + 4, 2 + 2, 1 + 1.
__shared__ float red[WARPS / 2][VALS][32];
#pragma unroll
for (int half = WARPS / 2; half >= 1; half /= 2) {
  if (warp >= half && warp < 2 * half) {
#pragma unroll
    for (int r = 0; r < RG; ++r) {
#pragma unroll
      for (int j = 0; j < NT; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          red[warp - half][(r * NT + j) * 4 + e][lane] = acc[r][j][e];
        }
      }
    }
  }
  __syncthreads();
  if (warp < half) {
#pragma unroll
    for (int r = 0; r < RG; ++r) {
#pragma unroll
      for (int j = 0; j < NT; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          acc[r][j][e] += red[warp][(r * NT + j) * 4 + e][lane];
        }
      }
    }
  }
  __syncthreads();
}
if (warp != 0) {
  return;
}

// Epilogue: accumulator (r, j, e) is row g (+8 for e >= 2) of group r,
// columns 2t, 2t + 1 of tile j.
const bool pairs = (N % 2) == 0;
#pragma unroll
for (int j = 0; j < NT; ++j) {
  const int col = col0 + j * 8 + 2 * t;
  if (col >= N) {
    continue;
  }
  float b0 = 0.0f, b1 = 0.0f;
  if constexpr (HAS_BIAS) {
    b0 = static_cast<float>(b[col]);
    if (col + 1 < N) {
      b1 = static_cast<float>(b[col + 1]);
    }
  }
#pragma unroll
  for (int r = 0; r < RG; ++r) {
#pragma unroll
    for (int h = 0; h < (UPPER ? 2 : 1); ++h) {
      const int row = row0 + r * 16 + g + h * 8;
      if (row >= M) {
        continue;
      }
      const float v0 = activate<ACT>(acc[r][j][2 * h] + b0);
      const float v1 = activate<ACT>(acc[r][j][2 * h + 1] + b1);
      T* dst = out + size_t(row) * N + col;
      if (pairs) {
        store2(dst, v0, v1);
      } else {
        dst[0] = static_cast<T>(v0);
        if (col + 1 < N) {
          dst[1] = static_cast<T>(v1);
        }
      }
    }
  }
}
