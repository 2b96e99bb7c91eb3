// SwiGLU: out = silu(gate) * up = gate / (1 + exp(-gate)) * up, element-wise.
// Body of an MLX custom CUDA kernel: MLX generates the signature
//   (const T* gate, Shape gate_shape, int gate_ndim, const T* up, T* out)
// and `using T = ...` from the template argument. Launch: one thread per element.
size_t n = 1;
for (int k = 0; k < gate_ndim; ++k) {
  n *= gate_shape[k];
}
size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
if (i < n) {
  float g = static_cast<float>(gate[i]);
  float u = static_cast<float>(up[i]);
  out[i] = static_cast<T>(g / (1.0f + expf(-g)) * u);
}
