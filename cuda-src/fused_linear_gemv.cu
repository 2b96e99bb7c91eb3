// Fused linear layer for a few rows (decode, retrieval queries):
// out = act(x @ w^T + b), x [M, K] with M <= MT, w [N, K], b [N].
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* x, Shape x_shape, const T* w, Shape w_shape, const T* b, T* out)
// and the constants T (f32, bf16 or f16), ACT, HAS_BIAS and MT (rows per
// block, a power of two >= M).
//
// With few rows the time goes to reading w once, so each warp streams NW rows
// of w (16-byte loads, adjacent lanes on adjacent chunks), multiplies every
// chunk with the matching chunk of each of the M rows of x (small: served
// from L1/L2) and keeps MT x NW f32 sums. A butterfly of shuffles then gives
// every lane the totals; lane e finishes output e (bias, activation, the single
// store). Launch: 256 threads per block, each block covers 8 * NW columns
// of out. K % (16 / sizeof(T)) != 0 or misaligned pointers take a scalar loop.
using namespace mlx_rs_linear;
constexpr int NW = 4;
constexpr int WARPS = 8;
constexpr int VEC = 16 / sizeof(T);
const int M = x_shape[0];
const int K = x_shape[1];
const int N = w_shape[0];
const int warp = threadIdx.x / 32;
const int lane = threadIdx.x % 32;
const int n0 = (blockIdx.x * WARPS + warp) * NW;
if (n0 >= N) {
  return;
}

float acc[MT][NW];
#pragma unroll
for (int m = 0; m < MT; ++m) {
#pragma unroll
  for (int c = 0; c < NW; ++c) {
    acc[m][c] = 0.0f;
  }
}

const bool vec_ok = (K % VEC) == 0 &&
    ((reinterpret_cast<size_t>(x) | reinterpret_cast<size_t>(w)) % 16) == 0;
if (vec_ok) {
  for (int k = lane * VEC; k < K; k += 32 * VEC) {
    float wv[NW][VEC];
#pragma unroll
    for (int c = 0; c < NW; ++c) {
      const int n = min(n0 + c, N - 1);  // past N: a valid row, result unused
      const uint4 raw = *reinterpret_cast<const uint4*>(w + size_t(n) * K + k);
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int v = 0; v < VEC; ++v) {
        wv[c][v] = static_cast<float>(e[v]);
      }
    }
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      if (m < M) {
        const uint4 raw = *reinterpret_cast<const uint4*>(x + size_t(m) * K + k);
        const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int v = 0; v < VEC; ++v) {
          const float xv = static_cast<float>(e[v]);
#pragma unroll
          for (int c = 0; c < NW; ++c) {
            acc[m][c] = fmaf(xv, wv[c][v], acc[m][c]);
          }
        }
      }
    }
  }
} else {
  for (int k = lane; k < K; k += 32) {
    float wv[NW];
#pragma unroll
    for (int c = 0; c < NW; ++c) {
      wv[c] = static_cast<float>(w[size_t(min(n0 + c, N - 1)) * K + k]);
    }
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      if (m < M) {
        const float xv = static_cast<float>(x[size_t(m) * K + k]);
#pragma unroll
        for (int c = 0; c < NW; ++c) {
          acc[m][c] = fmaf(xv, wv[c], acc[m][c]);
        }
      }
    }
  }
}

#pragma unroll
for (int m = 0; m < MT; ++m) {
#pragma unroll
  for (int c = 0; c < NW; ++c) {
    float v = acc[m][c];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
      v += __shfl_xor_sync(0xffffffffu, v, off);
    }
    acc[m][c] = v;
  }
}
// Output e = m * NW + c goes to lane e % 32 (MT * NW may exceed 32).
#pragma unroll
for (int m = 0; m < MT; ++m) {
#pragma unroll
  for (int c = 0; c < NW; ++c) {
    const int e = m * NW + c;
    const int n = n0 + c;
    if (e % 32 == lane && m < M && n < N) {
      float v = acc[m][c];
      if constexpr (HAS_BIAS) {
        v += static_cast<float>(b[n]);
      }
      out[size_t(m) * N + n] = static_cast<T>(activate<ACT>(v));
    }
  }
}
