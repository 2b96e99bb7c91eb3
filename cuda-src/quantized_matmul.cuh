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

namespace mlx_rs_quant {

// The packed pair type of a 16-bit float type.
template <typename T>
struct pair_of;
template <>
struct pair_of<__half> {
  using type = __half2;
};
template <>
struct pair_of<__nv_bfloat16> {
  using type = __nv_bfloat162;
};

template <typename P>
__device__ __forceinline__ P bits_to(unsigned u) {
  P r;
  memcpy(&r, &u, 4);
  return r;
}
template <typename P>
__device__ __forceinline__ unsigned to_bits(P p) {
  unsigned u;
  memcpy(&u, &p, 4);
  return u;
}

// Bits of two copies of the magic number M that value pairs are OR-ed into:
// M + q is exact for the q of BITS bits. f16: 1024 (10 mantissa bits, up to
// 8-bit q); bf16: 128 (7 mantissa bits, 4-bit q only).
template <typename T>
constexpr unsigned magic2() {
  return cuda::std::is_same_v<T, __half> ? 0x64006400u : 0x43004300u;
}

// Pair `sub` of a packed word as M + q in each half: 4-bit values sub and
// sub + 4 (one shift, one mask-or), 8-bit values sub and sub + 2 (one byte
// permute; f16 only).
template <typename T, int BITS>
__device__ __forceinline__ unsigned pair_bits(unsigned word, int sub) {
  if constexpr (BITS == 4) {
    return ((word >> (4 * sub)) & 0x000F000Fu) | magic2<T>();
  } else {
    return __byte_perm(word, 0x64646464u, sub == 0 ? 0x4240u : 0x4341u);
  }
}

}  // namespace mlx_rs_quant
