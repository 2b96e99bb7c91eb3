// SwiGLU: out = silu(gate) * up = gate / (1 + exp(-gate)) * up, element-wise.
// Body of an MLX custom CUDA kernel: MLX generates the signature
//   (const T* gate, Shape gate_shape, int gate_ndim, const T* up, T* out)
// and `using T = ...` from the template argument.
// Launch: block b covers elements [b * blockDim * ITEMS, (b + 1) * blockDim * ITEMS).
// When all three buffers are 16-byte aligned, each thread moves 16-byte
// vectors (adjacent threads, adjacent vectors); otherwise it handles ITEMS
// scalars spaced blockDim apart. Either way a warp's accesses are coalesced.
constexpr int ITEMS = 8;
constexpr int VEC = 16 / sizeof(T);
constexpr int PER = ITEMS / VEC;
size_t n = 1;
for (int k = 0; k < gate_ndim; ++k) {
  n *= gate_shape[k];
}
const size_t block_base = size_t(blockIdx.x) * blockDim.x * ITEMS;
const bool aligned =
    ((reinterpret_cast<size_t>(gate) | reinterpret_cast<size_t>(up) |
      reinterpret_cast<size_t>(out)) % 16) == 0;
if (aligned) {
#pragma unroll
  for (int k = 0; k < PER; ++k) {
    const size_t e = block_base + (size_t(k) * blockDim.x + threadIdx.x) * VEC;
    if (e + VEC <= n) {
      const uint4 gv = *reinterpret_cast<const uint4*>(gate + e);
      const uint4 uv = *reinterpret_cast<const uint4*>(up + e);
      const T* g = reinterpret_cast<const T*>(&gv);
      const T* u = reinterpret_cast<const T*>(&uv);
      uint4 ov;
      T* o = reinterpret_cast<T*>(&ov);
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const float x = static_cast<float>(g[j]);
        o[j] = static_cast<T>(x / (1.0f + __expf(-x)) * static_cast<float>(u[j]));
      }
      *reinterpret_cast<uint4*>(out + e) = ov;
    } else {
      for (size_t i = e; i < n && i < e + VEC; ++i) {
        const float x = static_cast<float>(gate[i]);
        out[i] = static_cast<T>(x / (1.0f + __expf(-x)) * static_cast<float>(up[i]));
      }
    }
  }
} else {
  const size_t base = block_base + threadIdx.x;
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
}
