// SwiGLU: out = silu(gate) * up = gate / (1 + exp(-gate)) * up, element-wise.
// Body of an MLX custom CUDA kernel: MLX generates the signature
//   (const T* gate, Shape gate_shape, int gate_ndim, const T* up, T* out)
// and `using T = ...` from the template argument.
// Launch: each thread handles ITEMS elements spaced blockDim apart, so a warp's
// loads stay coalesced and each thread keeps several loads in flight.
constexpr int ITEMS = 8;
size_t n = 1;
for (int k = 0; k < gate_ndim; ++k) {
  n *= gate_shape[k];
}
const size_t base = size_t(blockIdx.x) * blockDim.x * ITEMS + threadIdx.x;
float g[ITEMS];
float u[ITEMS];
#pragma unroll
for (int k = 0; k < ITEMS; ++k) {
  const size_t i = base + size_t(k) * blockDim.x;
  if (i < n) {
    g[k] = static_cast<float>(gate[i]);
    u[k] = static_cast<float>(up[i]);
  }
}
#pragma unroll
for (int k = 0; k < ITEMS; ++k) {
  const size_t i = base + size_t(k) * blockDim.x;
  if (i < n) {
    out[i] = static_cast<T>(g[k] / (1.0f + __expf(-g[k])) * u[k]);
  }
}
