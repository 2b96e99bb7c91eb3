// SwiGLU: out = silu(gate) * up = gate / (1 + exp(-gate)) * up, element-wise.
// Body of an MLX custom Metal kernel: MLX generates the signature from the
// input names (gate, up), the output name (out), `gate_shape`/`gate_ndim`
// (used below) and the template argument T.
// Launch: each thread handles ITEMS elements spaced one threadgroup apart
// (the same scheme as the CUDA kernel, so both share one launch config).
constexpr int ITEMS = 8;
uint n = 1;
for (int k = 0; k < gate_ndim; ++k) {
  n *= gate_shape[k];
}
uint block = threads_per_threadgroup.x;
uint base = threadgroup_position_in_grid.x * block * ITEMS + thread_position_in_threadgroup.x;
for (int k = 0; k < ITEMS; ++k) {
  uint i = base + k * block;
  if (i < n) {
    float g = float(gate[i]);
    float u = float(up[i]);
    out[i] = T(g / (1.0f + metal::exp(-g)) * u);
  }
}
