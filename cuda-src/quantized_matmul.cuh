// Helpers of the quantized matmul kernel (passed to MLX as the kernel's header).

namespace mlx_rs_quant {

// Value j of a packed word as a float: the BITS-bit integer is OR-ed into the
// low mantissa bits of 2^23 (exact for integers below 2^23), then 2^23 is
// subtracted; no int-to-float conversion instruction.
template <int BITS>
__device__ __forceinline__ float unpack(unsigned word, int j) {
  unsigned bits;
  if constexpr (BITS == 8) {
    // Byte j, then bytes 0x00, 0x00, 0x4B of the constant (little-endian).
    bits = __byte_perm(word, 0x4B000000u, 0x7540u | unsigned(j));
  } else {
    bits = ((word >> (BITS * j)) & ((1u << BITS) - 1u)) | 0x4B000000u;
  }
  return __uint_as_float(bits) - 8388608.0f;
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
