// Row-wise L2 normalization: out[r, :] = x[r, :] / max(||x[r, :]||_2, eps).
// Body of an MLX custom Metal kernel; MLX generates the signature from the
// names (x, eps -> out), `x_shape`/`x_ndim` and the template argument T.
// Launch: one threadgroup per row (grid.x = rows * threadgroup size, a
// multiple of 32). Each thread keeps up to ITEMS of its row's values in
// registers, so rows up to ITEMS * threadgroup size columns are read once.
constexpr int ITEMS = 8;
uint row = threadgroup_position_in_grid.x;
uint tid = thread_position_in_threadgroup.x;
uint lane = thread_index_in_simdgroup;
uint sg = simdgroup_index_in_threadgroup;
int block = int(threads_per_threadgroup.x);
int d = x_shape[x_ndim - 1];
size_t base = size_t(row) * d;

float v[ITEMS];
float acc = 0.0f;
for (int k = 0; k < ITEMS; ++k) {
  int j = int(tid) + k * block;
  v[k] = j < d ? float(x[base + j]) : 0.0f;
  acc += v[k] * v[k];
}
for (int j = int(tid) + ITEMS * block; j < d; j += block) {
  float t = float(x[base + j]);
  acc += t * t;
}
acc = simd_sum(acc);
threadgroup float partial[32];
if (lane == 0) {
  partial[sg] = acc;
}
threadgroup_barrier(mem_flags::mem_threadgroup);
if (sg == 0) {
  int groups = (block + 31) / 32;
  float p = int(lane) < groups ? partial[lane] : 0.0f;
  p = simd_sum(p);
  if (lane == 0) {
    partial[0] = p;
  }
}
threadgroup_barrier(mem_flags::mem_threadgroup);
float inv = 1.0f / metal::max(metal::sqrt(partial[0]), eps[0]);
for (int k = 0; k < ITEMS; ++k) {
  int j = int(tid) + k * block;
  if (j < d) {
    out[base + j] = T(v[k] * inv);
  }
}
for (int j = int(tid) + ITEMS * block; j < d; j += block) {
  out[base + j] = T(float(x[base + j]) * inv);
}
