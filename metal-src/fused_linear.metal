// Fused linear layer: out = act(x @ w^T + b), x [M, K], w [N, K], b [N].
// Body of an MLX custom Metal kernel; MLX generates the signature from the
// names (x, w, b, out), x_shape / w_shape (used below), the thread attributes
// used below, and the template arguments T, ACT and HAS_BIAS.
// NOT RUN: no Apple hardware is available to this project's tests.
//
// One threadgroup (4 SIMD groups, 128 threads) computes a TILE x TILE tile of
// out: x and w tiles of BK columns go through threadgroup memory as f32, each
// SIMD group multiplies a 16 x 16 quarter with 8 x 8 simdgroup matrices, the
// accumulators are staged once in threadgroup memory, and the epilogue adds
// the bias, applies the activation and stores each output once.
// Launch: TILE x TILE tiles in row-major order along a 1-D grid.
constexpr int TILE = 32;
constexpr int BK = 16;
threadgroup float xs[TILE * BK];
threadgroup float ws[TILE * BK];
threadgroup float cs[TILE * TILE];

const int M = x_shape[0];
const int K = x_shape[1];
const int N = w_shape[0];
const int tiles_n = (N + TILE - 1) / TILE;
const int tile = int(threadgroup_position_in_grid.x);
const int row0 = (tile / tiles_n) * TILE;
const int col0 = (tile % tiles_n) * TILE;
const int tid = int(thread_index_in_threadgroup);
const int sg = int(simdgroup_index_in_threadgroup);
const int sm = (sg / 2) * 16;
const int sn = (sg % 2) * 16;

simdgroup_float8x8 acc[2][2];
for (int i = 0; i < 2; ++i) {
  for (int j = 0; j < 2; ++j) {
    acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
  }
}

for (int k0 = 0; k0 < K; k0 += BK) {
  for (int i = tid; i < TILE * BK; i += 128) {
    const int r = i / BK;
    const int gk = k0 + i % BK;
    xs[i] = (row0 + r < M && gk < K) ? float(x[(row0 + r) * K + gk]) : 0.0f;
    ws[i] = (col0 + r < N && gk < K) ? float(w[(col0 + r) * K + gk]) : 0.0f;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (int kk = 0; kk < BK; kk += 8) {
    simdgroup_float8x8 a[2];
    simdgroup_float8x8 bt[2];
    for (int i = 0; i < 2; ++i) {
      simdgroup_load(a[i], xs + (sm + 8 * i) * BK + kk, BK);
    }
    for (int j = 0; j < 2; ++j) {
      // Transposed load: element (k, n) = w[n][k], i.e. w^T.
      simdgroup_load(bt[j], ws + (sn + 8 * j) * BK + kk, BK, ulong2(0, 0), true);
    }
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        simdgroup_multiply_accumulate(acc[i][j], a[i], bt[j], acc[i][j]);
      }
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}

for (int i = 0; i < 2; ++i) {
  for (int j = 0; j < 2; ++j) {
    simdgroup_store(acc[i][j], cs + (sm + 8 * i) * TILE + sn + 8 * j, TILE);
  }
}
threadgroup_barrier(mem_flags::mem_threadgroup);
for (int i = tid; i < TILE * TILE; i += 128) {
  const int row = row0 + i / TILE;
  const int col = col0 + i % TILE;
  if (row < M && col < N) {
    float v = cs[i];
    if (HAS_BIAS) {
      v += float(b[col]);
    }
    out[row * N + col] = T(mlx_rs_activate<ACT>(v));
  }
}
