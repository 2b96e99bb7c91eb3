// Affine-quantized matmul for a few rows (decode):
//   out[m, n] = sum_k x[m, k] * (scale[n, g] * q[n, k] + bias[n, g]),  g = k / GS,
// x [M, K] (T), w [N, K * BITS / 32] uint32 (MLX's packing: values along K,
// low bits first), scales and biases [N, K / GS] (T), out [M, N] (T).
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* x, Shape x_shape, const uint32_t* w, Shape w_shape,
//    const T* scales, Shape scales_shape, const T* biases, T* out)
// and the constants T, BITS (4 or 8), GS (32, 64 or 128), M (rows, 1..8) and
// NR (rows of w per warp).
//
// The time goes to reading w once, so each warp streams NR rows of w with
// 16-byte loads (adjacent lanes on adjacent 16-byte chunks, U chunks per lane
// issued before any is used). A chunk holds 32 (4-bit) or 16 (8-bit) values,
// all of one group (GS >= 32), so per chunk each lane accumulates, in f32,
// dot = sum x_k f_k with f_k = 1 + q_k / 2^BITS (see unpack: 2 integer
// instructions, no conversion) and xs = sum x_k, and adds
//   scale * sum x q + bias * xs = (2^BITS scale) dot + (bias - 2^BITS scale) xs.
// x (a few KB) is read through L1; each x value loaded serves the NR rows.
// A butterfly of shuffles sums the lanes; one lane stores each output.
// Launch: 128 threads (4 warps) per block, 4 * NR rows of w per block.
constexpr int WARPS = 4;
constexpr int VPW = 32 / BITS;  // values per packed word
constexpr int VPC = 4 * VPW;    // values per 16-byte chunk
constexpr int U = M <= 2 ? 2 : 1;
static_assert(BITS == 4 || BITS == 8, "4 or 8 bits");
static_assert(GS % VPC == 0, "a chunk lies in one group");

const int K = x_shape[1];
const int N = w_shape[0];
const int WPR = w_shape[1];  // packed words per row of w
const int CPR = WPR / 4;     // 16-byte chunks per row (K * BITS / 128)
const int G = scales_shape[1];
const int warp = threadIdx.x / 32;
const int lane = threadIdx.x % 32;
const int n0 = (blockIdx.x * WARPS + warp) * NR;
if (n0 >= N) {
  return;
}
const bool x_vec = (reinterpret_cast<size_t>(x) % 16) == 0;
const bool w_vec = (reinterpret_cast<size_t>(w) % 16) == 0;

int rows[NR];
#pragma unroll
for (int r = 0; r < NR; ++r) {
  rows[r] = min(n0 + r, N - 1);  // past N: a valid row, result unused
}

float acc[M][NR];
#pragma unroll
for (int m = 0; m < M; ++m) {
#pragma unroll
  for (int r = 0; r < NR; ++r) {
    acc[m][r] = 0.0f;
  }
}

for (int c0 = lane; c0 < CPR; c0 += 32 * U) {
  unsigned wq[U][NR][4];
  float sc[U][NR];
  float bi[U][NR];
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int c = c0 + 32 * u;
    if (c < CPR) {
      const int g = c * VPC / GS;
#pragma unroll
      for (int r = 0; r < NR; ++r) {
        const unsigned* p = w + size_t(rows[r]) * WPR + 4 * c;
        if (w_vec) {
          const uint4 raw = __ldg(reinterpret_cast<const uint4*>(p));
          wq[u][r][0] = raw.x;
          wq[u][r][1] = raw.y;
          wq[u][r][2] = raw.z;
          wq[u][r][3] = raw.w;
        } else {
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            wq[u][r][i] = __ldg(p + i);
          }
        }
        // The coefficients of dot and xs (see the top of this file).
        sc[u][r] = static_cast<float>(scales[size_t(rows[r]) * G + g]) * float(1 << BITS);
        bi[u][r] = static_cast<float>(biases[size_t(rows[r]) * G + g]) - sc[u][r];
      }
    }
  }
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int c = c0 + 32 * u;
    if (c < CPR) {
      float dot[M][NR];
      float xs[M];
#pragma unroll
      for (int m = 0; m < M; ++m) {
        xs[m] = 0.0f;
#pragma unroll
        for (int r = 0; r < NR; ++r) {
          dot[m][r] = 0.0f;
        }
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float xv[M][VPW];
#pragma unroll
        for (int m = 0; m < M; ++m) {
          mlx_rs_quant::load_values<T, VPW>(x + size_t(m) * K + c * VPC + i * VPW, x_vec, xv[m]);
        }
#pragma unroll
        for (int j = 0; j < VPW; ++j) {
#pragma unroll
          for (int m = 0; m < M; ++m) {
            xs[m] += xv[m][j];
          }
#pragma unroll
          for (int r = 0; r < NR; ++r) {
            const float q = mlx_rs_quant::unpack<BITS>(wq[u][r][i], j);
#pragma unroll
            for (int m = 0; m < M; ++m) {
              dot[m][r] = fmaf(xv[m][j], q, dot[m][r]);
            }
          }
        }
      }
#pragma unroll
      for (int m = 0; m < M; ++m) {
#pragma unroll
        for (int r = 0; r < NR; ++r) {
          acc[m][r] = fmaf(sc[u][r], dot[m][r], fmaf(bi[u][r], xs[m], acc[m][r]));
        }
      }
    }
  }
}

#pragma unroll
for (int m = 0; m < M; ++m) {
#pragma unroll
  for (int r = 0; r < NR; ++r) {
    float v = acc[m][r];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
      v += __shfl_xor_sync(0xffffffffu, v, off);
    }
    acc[m][r] = v;
  }
}
// Output e = m * NR + r goes to lane e (M * NR <= 32).
#pragma unroll
for (int m = 0; m < M; ++m) {
#pragma unroll
  for (int r = 0; r < NR; ++r) {
    if (lane == m * NR + r && n0 + r < N) {
      out[size_t(m) * N + n0 + r] = static_cast<T>(acc[m][r]);
    }
  }
}
