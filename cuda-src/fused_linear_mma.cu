// Fused linear layer on tensor cores: out = act(x @ w^T + b), x [M, K],
// w [N, K] (nn.Linear's layout: both operands K-contiguous), b [N].
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* x, Shape x_shape, const T* w, Shape w_shape, const T* b, T* out)
// and the compile-time constants T (bf16 or f16), ACT (activation code,
// fused_linear_common.cuh) and HAS_BIAS.
//
// One block computes a BM x BN tile of `out`: 8 warps in a 2 x 4 grid, each a
// 64 x 32 warp tile of m16n8k16 MMAs with f32 accumulators. K advances BK at a
// time through a STAGES-deep ring of shared-memory tiles filled by cp.async,
// so loads of later K-steps overlap the MMAs of the current one. Rows are
// padded to BK + 8 elements (80 bytes), which keeps both the 16-byte cp.async
// writes and the ldmatrix reads free of bank conflicts. The epilogue adds the
// bias and applies the activation to the accumulators in registers and stores
// each output once. Launch: 256 threads per block, one block per tile (1-D
// grid, tiles visited in groups of GROUP_M tile rows so that a wave of blocks
// reuses the same rows of x and w from L2). Dynamic shared memory:
// STAGES * (BM + BN) * (BK + 8) * sizeof(T) bytes.
// When K % 8 != 0 or a pointer is not 16-byte aligned, tiles are filled with
// scalar loads instead (same tiles, same MMAs), so every shape is handled.
using namespace mlx_rs_linear;
constexpr int BM = 128, BN = 128, BK = 32, STAGES = 4, LDS = BK + 8;
constexpr int WM = 64, WN = 32, WARPS_N = BN / WN;
constexpr int MI = WM / 16, NI = WN / 8;
constexpr int THREADS = 256, GROUP_M = 8;
extern __shared__ __align__(16) unsigned char linear_smem[];
T* s_a = reinterpret_cast<T*>(linear_smem);
T* s_b = s_a + STAGES * BM * LDS;

const int M = x_shape[0];
const int K = x_shape[1];
const int N = w_shape[0];
const int tiles_m = (M + BM - 1) / BM;
const int tiles_n = (N + BN - 1) / BN;
const int tile = blockIdx.x;
if (tile >= tiles_m * tiles_n) {
  return;
}
const int in_group = GROUP_M * tiles_n;
const int first_m = (tile / in_group) * GROUP_M;
const int group_rows = min(tiles_m - first_m, GROUP_M);
const int row0 = (first_m + (tile % in_group) % group_rows) * BM;
const int col0 = ((tile % in_group) / group_rows) * BN;

const bool vec_ok = (K % 8) == 0 &&
    ((reinterpret_cast<size_t>(x) | reinterpret_cast<size_t>(w)) % 16) == 0;

auto load_stage = [&](int stage, int kb) {
  const int k0 = kb * BK;
  T* ta = s_a + stage * BM * LDS;
  T* tb = s_b + stage * BN * LDS;
  if (vec_ok) {
    // Each operand tile is 128 rows x 4 chunks of 8 elements: 2 chunks per thread.
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int c = threadIdx.x + i * THREADS;
      const int r = c >> 2;
      const int kc = (c & 3) * 8;
      const int gk = k0 + kc;
      const bool ka = gk < K;
      const bool va = ka && row0 + r < M;
      const bool vb = ka && col0 + r < N;
      cp_async16(ta + r * LDS + kc, x + (va ? size_t(row0 + r) * K + gk : 0), va);
      cp_async16(tb + r * LDS + kc, w + (vb ? size_t(col0 + r) * K + gk : 0), vb);
    }
  } else {
    const T zero = static_cast<T>(0.0f);
    for (int i = threadIdx.x; i < BM * BK; i += THREADS) {
      const int r = i / BK;
      const int kk = i % BK;
      const int gk = k0 + kk;
      ta[r * LDS + kk] = (gk < K && row0 + r < M) ? x[size_t(row0 + r) * K + gk] : zero;
      tb[r * LDS + kk] = (gk < K && col0 + r < N) ? w[size_t(col0 + r) * K + gk] : zero;
    }
  }
};

const int warp = threadIdx.x / 32;
const int lane = threadIdx.x % 32;
const int wm0 = (warp / WARPS_N) * WM;
const int wn0 = (warp % WARPS_N) * WN;

float acc[MI][NI][4];
#pragma unroll
for (int i = 0; i < MI; ++i) {
#pragma unroll
  for (int j = 0; j < NI; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      acc[i][j][e] = 0.0f;
    }
  }
}

const int k_tiles = (K + BK - 1) / BK;
#pragma unroll
for (int s = 0; s < STAGES - 1; ++s) {
  if (s < k_tiles) {
    load_stage(s, s);
  }
  cp_async_commit();
}

// ldmatrix row addresses of this lane (see the fragment layouts of
// mma.m16n8k16): A rows lane % 16, k half lane / 16; B (stored n-major)
// rows lane % 8 + 8 * (lane / 16), k half (lane / 8) % 2.
const int a_row = lane % 16;
const int a_k = (lane / 16) * 8;
const int b_row = (lane % 8) + (lane / 16) * 8;
const int b_k = ((lane / 8) % 2) * 8;

for (int kb = 0; kb < k_tiles; ++kb) {
  cp_async_wait<STAGES - 2>();
  __syncthreads();
  // The stage refilled here was read in iteration kb - 1, which every warp
  // has finished (barrier above).
  const int next = kb + STAGES - 1;
  if (next < k_tiles) {
    load_stage(next % STAGES, next);
  }
  cp_async_commit();

  const T* ta = s_a + (kb % STAGES) * BM * LDS;
  const T* tb = s_b + (kb % STAGES) * BN * LDS;
#pragma unroll
  for (int kk = 0; kk < BK; kk += 16) {
    unsigned af[MI][4];
    unsigned bf[NI][2];
#pragma unroll
    for (int i = 0; i < MI; ++i) {
      ldmatrix_x4(af[i], ta + (wm0 + i * 16 + a_row) * LDS + kk + a_k);
    }
#pragma unroll
    for (int j = 0; j < NI; j += 2) {
      unsigned r[4];
      ldmatrix_x4(r, tb + (wn0 + j * 8 + b_row) * LDS + kk + b_k);
      bf[j][0] = r[0];
      bf[j][1] = r[1];
      bf[j + 1][0] = r[2];
      bf[j + 1][1] = r[3];
    }
#pragma unroll
    for (int i = 0; i < MI; ++i) {
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        mma16816<T>(acc[i][j], af[i], bf[j][0], bf[j][1]);
      }
    }
  }
}
cp_async_wait<0>();

// Epilogue: accumulator (i, j, e) is row g (+8 for e >= 2), columns 2t, 2t+1.
const int g = lane / 4;
const int t = lane % 4;
const bool pairs = (N % 2) == 0;
#pragma unroll
for (int j = 0; j < NI; ++j) {
  const int col = col0 + wn0 + j * 8 + 2 * t;
  float b0 = 0.0f, b1 = 0.0f;
  if constexpr (HAS_BIAS) {
    if (col < N) {
      b0 = static_cast<float>(b[col]);
    }
    if (col + 1 < N) {
      b1 = static_cast<float>(b[col + 1]);
    }
  }
#pragma unroll
  for (int i = 0; i < MI; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = row0 + wm0 + i * 16 + g + h * 8;
      if (row >= M || col >= N) {
        continue;
      }
      const float v0 = activate<ACT>(acc[i][j][2 * h] + b0);
      const float v1 = activate<ACT>(acc[i][j][2 * h + 1] + b1);
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
