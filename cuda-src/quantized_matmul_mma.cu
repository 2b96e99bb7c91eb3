// Affine-quantized matmul for a few rows on tensor cores: the same op as
// quantized_matmul.cu (see there) for half-precision x, 4-bit weights (f16
// and bf16) or 8-bit weights (f16).
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* x, Shape x_shape, const uint32_t* w, Shape w_shape,
//    const T* scales, Shape scales_shape, const T* biases, T* out)
// and the constants T (__half or __nv_bfloat16), BITS, GS, M (1..8) and WARPS.
//
// A block owns 16 rows of w and all M (<= 8) rows of x: one
// mma.m16n8k16 tile, out^T[16, 8] = w[16, k] x^T[k, 8] with f32
// accumulators, rows of x past M zero. Its WARPS warps split K: each warp
// step covers 4 adjacent 16-byte chunks of each of the 16 rows, lane (g, t)
// (g = lane / 4, t = lane % 4) loading chunk t of rows g and g + 8 (U steps
// in flight). The dot product does not care in which order k is summed, so
// the 32 (4-bit) or 16 (8-bit) values of a lane's chunk fill the mma's k
// slots of that lane (2t, 2t + 1, 2t + 8, 2t + 9) in whatever order they
// unpack best, and the lane's x fragment (row g of x, the same chunk) is
// permuted to match. Dequantization is exact up to one rounding to T per
// weight: a mask-or gives M + q in both halves of a register, then
// (M + q - M) * scale + bias in packed half-precision arithmetic.
// The warps' partial tiles are summed through shared memory.
// Launch: WARPS * 32 threads per block, one block per 16 rows of w.
using namespace mlx_rs_quant;
using T2 = typename pair_of<T>::type;
constexpr int U = 2;
constexpr int VPW = 32 / BITS;       // values per packed word
constexpr int VPC = 4 * VPW;         // values per 16-byte chunk
constexpr int PAIRS = VPC / 2;       // value pairs per chunk
constexpr int HALF = VPW / 2;        // pairs per word
constexpr int XW = VPC / 2;          // 32-bit words of x per chunk
static_assert(GS % VPC == 0, "a chunk lies in one group");
__shared__ float partial[WARPS][32][4];

const int K = x_shape[1];
const int N = w_shape[0];
const int WPR = w_shape[1];
const int CPR = WPR / 4;
const int G = scales_shape[1];
const int warp = threadIdx.x / 32;
const int lane = threadIdx.x % 32;
const int g = lane / 4;
const int t = lane % 4;
const int n0 = blockIdx.x * 16;
const int r0 = min(n0 + g, N - 1);  // past N: a valid row, result unused
const int r1 = min(n0 + g + 8, N - 1);
const bool has_x = g < M;
const unsigned short* xrow = reinterpret_cast<const unsigned short*>(x) + size_t(has_x ? g : 0) * K;
const unsigned short* sbits = reinterpret_cast<const unsigned short*>(scales);
const unsigned short* bbits = reinterpret_cast<const unsigned short*>(biases);
const bool x_vec = (reinterpret_cast<size_t>(x) % 16) == 0;
const bool w_vec = (reinterpret_cast<size_t>(w) % 16) == 0;
const T2 magic = bits_to<T2>(magic2<T>());

float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
for (int cw = warp * 4; cw < CPR; cw += WARPS * 4 * U) {
  unsigned wa[U][4];
  unsigned wb[U][4];
  unsigned xs[U][XW];
  unsigned sa[U], ba[U], sb[U], bb[U];
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int c = cw + u * WARPS * 4 + t;
    if (c < CPR) {
      const unsigned* pa = w + size_t(r0) * WPR + 4 * c;
      const unsigned* pb = w + size_t(r1) * WPR + 4 * c;
      if (w_vec) {
        const uint4 va = __ldg(reinterpret_cast<const uint4*>(pa));
        const uint4 vb = __ldg(reinterpret_cast<const uint4*>(pb));
        wa[u][0] = va.x; wa[u][1] = va.y; wa[u][2] = va.z; wa[u][3] = va.w;
        wb[u][0] = vb.x; wb[u][1] = vb.y; wb[u][2] = vb.z; wb[u][3] = vb.w;
      } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          wa[u][i] = __ldg(pa + i);
          wb[u][i] = __ldg(pb + i);
        }
      }
      const int grp = c * VPC / GS;
      const unsigned s0 = sbits[size_t(r0) * G + grp];
      const unsigned b0 = bbits[size_t(r0) * G + grp];
      const unsigned s1 = sbits[size_t(r1) * G + grp];
      const unsigned b1 = bbits[size_t(r1) * G + grp];
      sa[u] = s0 | (s0 << 16);
      ba[u] = b0 | (b0 << 16);
      sb[u] = s1 | (s1 << 16);
      bb[u] = b1 | (b1 << 16);
      if (has_x) {
        const unsigned short* px = xrow + size_t(c) * VPC;
        if (x_vec) {
#pragma unroll
          for (int v = 0; v < XW / 4; ++v) {
            const uint4 r = __ldg(reinterpret_cast<const uint4*>(px) + v);
            xs[u][4 * v] = r.x; xs[u][4 * v + 1] = r.y; xs[u][4 * v + 2] = r.z; xs[u][4 * v + 3] = r.w;
          }
        } else {
#pragma unroll
          for (int v = 0; v < XW; ++v) {
            xs[u][v] = unsigned(px[2 * v]) | (unsigned(px[2 * v + 1]) << 16);
          }
        }
      } else {
#pragma unroll
        for (int v = 0; v < XW; ++v) {
          xs[u][v] = 0u;
        }
      }
    } else {
      // Past the row's end: zero weights and x contribute nothing.
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        wa[u][i] = 0u;
        wb[u][i] = 0u;
      }
      sa[u] = ba[u] = sb[u] = bb[u] = 0u;
#pragma unroll
      for (int v = 0; v < XW; ++v) {
        xs[u][v] = 0u;
      }
    }
  }
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const T2 s2a = bits_to<T2>(sa[u]), b2a = bits_to<T2>(ba[u]);
    const T2 s2b = bits_to<T2>(sb[u]), b2b = bits_to<T2>(bb[u]);
#pragma unroll
    for (int step = 0; step < PAIRS / 2; ++step) {
      unsigned a[4];
      unsigned bx[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int p = 2 * step + h;  // pair p: word p / HALF, pair p % HALF in it
        const int i = p / HALF;
        const int sub = p % HALF;
        const T2 qa = __hsub2(bits_to<T2>(pair_bits<T, BITS>(wa[u][i], sub)), magic);
        const T2 qb = __hsub2(bits_to<T2>(pair_bits<T, BITS>(wb[u][i], sub)), magic);
        a[2 * h] = to_bits(__hfma2(qa, s2a, b2a));      // row g
        a[2 * h + 1] = to_bits(__hfma2(qb, s2b, b2b));  // row g + 8
        // The x values of that pair: (sub, sub + HALF) of word i's values.
        const int base = i * HALF + (sub >> 1);
        bx[h] = __byte_perm(xs[u][base], xs[u][base + VPW / 4], (sub & 1) ? 0x7632u : 0x5410u);
      }
      mlx_rs_linear::mma16816<T>(d, a, bx[0], bx[1]);
    }
  }
}

#pragma unroll
for (int e = 0; e < 4; ++e) {
  partial[warp][lane][e] = d[e];
}
__syncthreads();
if (warp == 0) {
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    float v = 0.0f;
#pragma unroll
    for (int w2 = 0; w2 < WARPS; ++w2) {
      v += partial[w2][lane][e];
    }
    // d[0], d[1]: row g, x rows 2t, 2t + 1; d[2], d[3]: row g + 8.
    const int n = n0 + g + (e >= 2 ? 8 : 0);
    const int m = 2 * t + (e & 1);
    if (m < M && n < N) {
      out[size_t(m) * N + n] = static_cast<T>(v);
    }
  }
}
