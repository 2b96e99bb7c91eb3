// Row-wise L2 normalization: out[r, :] = x[r, :] / max(||x[r, :]||_2, eps).
// Body of an MLX custom Metal kernel; MLX generates the signature from the
// names (x, eps -> out), `x_shape`/`x_ndim` and the template argument T.
// Launch: one threadgroup of BLOCK threads per row (grid.x = rows * BLOCK).
uint row = threadgroup_position_in_grid.x;
uint tid = thread_position_in_threadgroup.x;
uint lane = thread_index_in_simdgroup;
uint sg = simdgroup_index_in_threadgroup;
uint block = threads_per_threadgroup.x;
int d = x_shape[x_ndim - 1];
size_t base = size_t(row) * d;

float acc = 0.0f;
for (int j = tid; j < d; j += block) {
  float v = float(x[base + j]);
  acc += v * v;
}
acc = simd_sum(acc);
threadgroup float partial[32];
if (lane == 0) {
  partial[sg] = acc;
}
threadgroup_barrier(mem_flags::mem_threadgroup);
if (sg == 0) {
  uint groups = (block + 31) / 32;
  float p = lane < groups ? partial[lane] : 0.0f;
  p = simd_sum(p);
  if (lane == 0) {
    partial[0] = p;
  }
}
threadgroup_barrier(mem_flags::mem_threadgroup);
float inv = 1.0f / metal::max(metal::sqrt(partial[0]), eps[0]);
for (int j = tid; j < d; j += block) {
  out[base + j] = T(float(x[base + j]) * inv);
}
