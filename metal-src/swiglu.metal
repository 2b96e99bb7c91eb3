// SwiGLU: out = silu(gate) * up = gate / (1 + exp(-gate)) * up, element-wise.
// Body of an MLX custom Metal kernel: MLX generates the signature from the
// input names (gate, up), the output name (out), `gate_shape`/`gate_ndim`
// (used below) and the template argument T. Launch: one thread per element.
uint n = 1;
for (int k = 0; k < gate_ndim; ++k) {
  n *= gate_shape[k];
}
uint i = thread_position_in_grid.x;
if (i < n) {
  float g = float(gate[i]);
  float u = float(up[i]);
  out[i] = T(g / (1.0f + metal::exp(-g)) * u);
}
