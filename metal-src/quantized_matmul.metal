// Affine-quantized matmul for a few rows (decode):
//   out[m, n] = sum_k x[m, k] * (scale[n, g] * q[n, k] + bias[n, g]),  g = k / GS,
// x [M, K] (T), w [N, K * BITS / 32] uint32 (values along K, low bits first),
// scales and biases [N, K / GS] (T), out [M, N] (T).
// Body of an MLX custom Metal kernel; MLX generates the signature from the
// names (x, w, scales, biases -> out), x_shape / w_shape / scales_shape, the
// thread attributes used below and the template arguments T, BITS (4 or 8),
// GS (32, 64 or 128), M (rows, 1..8) and NR (rows of w per SIMD group).
// NOT RUN: no Apple hardware is available to this project's tests; it is the
// CUDA kernel's algorithm (cuda-src/quantized_matmul.cu) in Metal.
//
// Each SIMD group streams NR rows of w, lanes on adjacent 4-word chunks (32
// or 16 values, all of one group); per chunk a lane accumulates
// dot = sum x_k q_k and xs = sum x_k in f32 and adds scale * dot + bias * xs.
// simd_sum gives the totals; lane m * NR + r stores output (m, n0 + r).
// Launch: 128 threads (4 SIMD groups) per threadgroup, 4 * NR rows of w each.
constexpr int WARPS = 4;
constexpr int VPW = 32 / BITS;
constexpr int VPC = 4 * VPW;
constexpr uint MASK = (1u << BITS) - 1u;

const int K = x_shape[1];
const int N = w_shape[0];
const int WPR = w_shape[1];
const int CPR = WPR / 4;
const int G = scales_shape[1];
const int lane = int(thread_index_in_simdgroup);
const int sg = int(simdgroup_index_in_threadgroup);
const int n0 = (int(threadgroup_position_in_grid.x) * WARPS + sg) * NR;
if (n0 >= N) {
  return;
}

int rows[NR];
for (int r = 0; r < NR; ++r) {
  rows[r] = min(n0 + r, N - 1);  // past N: a valid row, result unused
}
float acc[M][NR];
for (int m = 0; m < M; ++m) {
  for (int r = 0; r < NR; ++r) {
    acc[m][r] = 0.0f;
  }
}

for (int c = lane; c < CPR; c += 32) {
  const int g = c * VPC / GS;
  uint wq[NR][4];
  float sc[NR];
  float bi[NR];
  for (int r = 0; r < NR; ++r) {
    const size_t base = size_t(rows[r]) * WPR + 4 * c;
    for (int i = 0; i < 4; ++i) {
      wq[r][i] = w[base + i];
    }
    sc[r] = float(scales[size_t(rows[r]) * G + g]);
    bi[r] = float(biases[size_t(rows[r]) * G + g]);
  }
  float dot[M][NR];
  float xs[M];
  for (int m = 0; m < M; ++m) {
    xs[m] = 0.0f;
    for (int r = 0; r < NR; ++r) {
      dot[m][r] = 0.0f;
    }
  }
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < VPW; ++j) {
      const int k = c * VPC + i * VPW + j;
      float xv[M];
      for (int m = 0; m < M; ++m) {
        xv[m] = float(x[size_t(m) * K + k]);
        xs[m] += xv[m];
      }
      for (int r = 0; r < NR; ++r) {
        const float q = float((wq[r][i] >> (BITS * j)) & MASK);
        for (int m = 0; m < M; ++m) {
          dot[m][r] = fma(xv[m], q, dot[m][r]);
        }
      }
    }
  }
  for (int m = 0; m < M; ++m) {
    for (int r = 0; r < NR; ++r) {
      acc[m][r] = fma(sc[r], dot[m][r], fma(bi[r], xs[m], acc[m][r]));
    }
  }
}

for (int m = 0; m < M; ++m) {
  for (int r = 0; r < NR; ++r) {
    const float v = simd_sum(acc[m][r]);
    if (lane == m * NR + r && n0 + r < N) {
      out[size_t(m) * N + n0 + r] = T(v);
    }
  }
}
