// Shared by the fused linear kernels (passed to MLX as the kernels' header):
// the activations of the epilogue and the few PTX wrappers the kernels need.
// Activation codes match `Activation` in mlx-ext-kernels/src/linear.rs.

namespace mlx_rs_linear {

template <int ACT>
__device__ __forceinline__ float activate(float v) {
  if constexpr (ACT == 1) {  // ReLU
    return v > 0.0f ? v : 0.0f;
  } else if constexpr (ACT == 2) {  // GELU, tanh approximation
    const float inner = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    return 0.5f * v * (1.0f + tanhf(inner));
  } else if constexpr (ACT == 3) {  // GELU, exact (erf)
    return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
  } else if constexpr (ACT == 4) {  // SiLU
    return v / (1.0f + __expf(-v));
  } else {  // identity
    return v;
  }
}

// Stores two adjacent outputs with one 32-bit store (half types) or two.
__device__ __forceinline__ void store2(__nv_bfloat16* p, float a, float b) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b);
}
__device__ __forceinline__ void store2(__half* p, float a, float b) {
  *reinterpret_cast<__half2*>(p) = __floats2half2_rn(a, b);
}
__device__ __forceinline__ void store2(float* p, float a, float b) {
  p[0] = a;
  p[1] = b;
}

__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16-byte global->shared copy that bypasses L1; `valid == false` writes zeros
// (out-of-range rows and columns of a tile contribute nothing).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)),
               "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Four 8x8 matrices of 16-bit values from shared memory, one row address per lane.
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c += a * b on one 16x8x16 tile, f32 accumulators.
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                         unsigned b1);
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const unsigned (&a)[4],
                                                        unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__half>(float (&c)[4], const unsigned (&a)[4],
                                                 unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// c += a * b on one 16x8x8 tile of tf32 values, f32 accumulators.
__device__ __forceinline__ void mma1688_tf32(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                             unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// f32 bits -> tf32 (round to nearest) in `hi`, and the rounding error, also
// as tf32, in `lo`: hi + lo carries about 21 of f32's 24 mantissa bits.
__device__ __forceinline__ void split_tf32(unsigned v, unsigned& hi, unsigned& lo) {
  const float f = __uint_as_float(v);
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(hi) : "f"(f));
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(lo) : "f"(f - __uint_as_float(hi)));
}

// The A operand of one MMA step: 16-bit types pass through (`lo` unused);
// f32 is split into tf32 hi and lo parts, once per fragment.
template <typename T>
__device__ __forceinline__ void prepare_a(const unsigned (&a)[4], unsigned (&hi)[4],
                                          unsigned (&lo)[4]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (sizeof(T) == 4) {
      split_tf32(a[i], hi[i], lo[i]);
    } else {
      hi[i] = a[i];
      lo[i] = 0;
    }
  }
}

// One MMA step of the split-K kernel: c += a * b over 16 k (16-bit types,
// m16n8k16) or 8 k (f32 as tf32, m16n8k8). PRECISE f32 adds the two cross
// terms of the hi/lo split (3xTF32: about f32 accuracy); otherwise f32 is
// one TF32 product, as cuBLAS computes f32 GEMMs when TF32 is allowed.
template <typename T, bool PRECISE>
__device__ __forceinline__ void mma_step(float (&c)[4], const unsigned (&a_hi)[4],
                                         const unsigned (&a_lo)[4], unsigned b0, unsigned b1) {
  if constexpr (sizeof(T) == 4) {
    unsigned b0h, b0l, b1h, b1l;
    split_tf32(b0, b0h, b0l);
    split_tf32(b1, b1h, b1l);
    if constexpr (PRECISE) {
      mma1688_tf32(c, a_lo, b0h, b1h);
      mma1688_tf32(c, a_hi, b0l, b1l);
    }
    mma1688_tf32(c, a_hi, b0h, b1h);
  } else {
    mma16816<T>(c, a_hi, b0, b1);
  }
}

// 16 bytes of one row of x or w, elements k, k + 1, ...; zeros past K or
// when `valid` is false (a row past M or N: `row` must still point at a real
// row). VEC (K a multiple of the vector, 16-byte aligned rows): one load from
// an always valid address, then a select, so the hot loop has no branches
// between its loads; else element by element. STREAM loads (w, read once)
// skip L1, leaving it to x.
template <bool STREAM, bool VEC, typename T>
__device__ __forceinline__ uint4 load_vec(const T* row, int k, int K, bool valid) {
  constexpr int V = 16 / sizeof(T);
  uint4 r = make_uint4(0, 0, 0, 0);
  if constexpr (VEC) {
    const bool ok = valid && k < K;
    const T* p = row + (ok ? k : 0);
    if constexpr (STREAM) {
      asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
          : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
          : "l"(p));
    } else {
      r = __ldg(reinterpret_cast<const uint4*>(p));
    }
    if (!ok) {
      r = make_uint4(0, 0, 0, 0);
    }
  } else if (valid) {
    T* e = reinterpret_cast<T*>(&r);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (k + j < K) {
        e[j] = row[k + j];
      }
    }
  }
  return r;
}

// A compile-time bool passed to a generic lambda.
template <bool B>
struct BoolTag {
  static constexpr bool value = B;
};

}  // namespace mlx_rs_linear
