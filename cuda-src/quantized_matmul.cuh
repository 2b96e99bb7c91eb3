// Helpers of the quantized matmul kernel (passed to MLX as the kernel's header).

namespace mlx_rs_quant {

// 1 + q / 2^BITS for value j (bits [BITS*j, BITS*j + BITS)) of a packed word:
// q moved to the top mantissa bits of 1.0f by one shift and one mask-and-or,
// no int-to-float conversion. With f = 1 + q / 2^BITS,
//   sum x q = 2^BITS * (sum x f - sum x),
// and both sums are of the size of sum x, so nothing cancels badly.
template <int BITS>
__device__ __forceinline__ float unpack(unsigned word, int j) {
  constexpr int TOP = 23 - BITS;
  const int shift = TOP - BITS * j;
  const unsigned t = shift >= 0 ? (word << shift) : (word >> -shift);
  return __uint_as_float((t & (((1u << BITS) - 1u) << TOP)) | 0x3F800000u);
}

// NV consecutive values of T at p, as floats. With `vec`, p is aligned to
// NV * sizeof(T) bytes (16 at most per load) and is read with 8- or 16-byte loads.
template <typename T, int NV>
__device__ __forceinline__ void load_values(const T* p, bool vec, float (&out)[NV]) {
  constexpr int BYTES = NV * int(sizeof(T));
  if (vec) {
    if constexpr (BYTES % 16 == 0) {
      constexpr int PER = 16 / int(sizeof(T));
#pragma unroll
      for (int u = 0; u < BYTES / 16; ++u) {
        const uint4 raw = __ldg(reinterpret_cast<const uint4*>(p) + u);
        const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int v = 0; v < PER; ++v) {
          out[u * PER + v] = static_cast<float>(e[v]);
        }
      }
      return;
    } else if constexpr (BYTES == 8) {
      const uint2 raw = __ldg(reinterpret_cast<const uint2*>(p));
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int v = 0; v < NV; ++v) {
        out[v] = static_cast<float>(e[v]);
      }
      return;
    }
  }
#pragma unroll
  for (int v = 0; v < NV; ++v) {
    out[v] = static_cast<float>(p[v]);
  }
}

}  // namespace mlx_rs_quant
