// Score + top-k in two passes, pass 1 on CUDA cores: the f32 dot products of
// up to QB queries with one slice of corpus rows, written to s [B, N] (NaN
// written as -inf), streaming each corpus row once per block.
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* q, Shape q_shape, const T* c, Shape c_shape, float* s)
// with q [B, DIM], c [N, DIM] row-contiguous.
// Template: T, DIM, QB (queries per block, 1..8).
// Launch: grid (ceil(B / QB) * 256, slices), block (256, 1).
// Loads as in the fused pass 1: G = 8 neighbouring lanes read one row
// together, so one warp load reads 4 whole 128-byte pieces of 4 rows. Unlike
// it, nothing synchronizes the block while it streams, and each warp issues
// the loads of its next rows before it multiplies the current ones.
using L = mlx_rs_topk_row_loads<T, DIM>;
constexpr int G = L::G, RPW = L::RPW, VEC = L::VEC, NV = L::NV, PER = L::PER, UNR = L::UNR;
constexpr int WROWS = RPW * UNR;  // rows per warp and step
const int B = q_shape[0];
const int N = c_shape[0];
int row_begin, row_end;
mlx_rs_topk_slice_rows(N, row_begin, row_end);
const int tid = int(threadIdx.x);
const int lane = tid & 31;
const int sub = lane % G;
const int grp = lane / G;
const int warps = int(blockDim.x) >> 5;
const int q0 = int(blockIdx.x) * QB;

__shared__ __align__(16) float qs[QB][DIM];
mlx_rs_topk_queries_to_shared<T, QB, DIM>(q, B, q0, qs);
__syncthreads();

// Writes the group's sums of the rows starting at r (lane qq of the group
// writes query qq's; every lane calls it).
auto store = [&](float (&acc)[UNR][QB], int r) {
  mlx_rs_topk_group_sum<G, UNR, QB>(acc);
#pragma unroll
  for (int u = 0; u < UNR; ++u) {
    const int row = r + u * RPW;
#pragma unroll
    for (int qq = 0; qq < QB; ++qq) {
      if (sub == qq && row < row_end && q0 + qq < B) {
        s[size_t(q0 + qq) * N + row] = mlx_rs_topk_score(acc[u][qq]);
      }
    }
  }
};

const bool vectors = (reinterpret_cast<size_t>(c) % 16) == 0 && DIM % VEC == 0;
const int first = row_begin + (tid >> 5) * WROWS;
const int stride = warps * WROWS;
if (vectors) {
  // This lane's vectors of the rows starting at r (rows past the slice read
  // its first row, vectors past the row's end its first vector; neither is
  // used).
  auto load = [&](uint4 (&w)[UNR][PER], int r) {
#pragma unroll
    for (int u = 0; u < UNR; ++u) {
      const int row = r + u * RPW;
      const uint4* rv =
          reinterpret_cast<const uint4*>(c + size_t(row < row_end ? row : row_begin) * DIM);
#pragma unroll
      for (int i = 0; i < PER; ++i) {
        const int v = sub + G * i;
        w[u][i] = __ldg(rv + (v < NV ? v : 0));
      }
    }
  };
  uint4 w[UNR][PER];
  if (first < row_end) {
    load(w, first + grp);
  }
  // The loop bound is the warp's (not the group's), so every lane takes part
  // in the shuffles.
  for (int wb = first; wb < row_end; wb += stride) {
    uint4 next[UNR][PER];
    const bool more = wb + stride < row_end;
    if (more) {
      load(next, wb + stride + grp);
    }
    float acc[UNR][QB] = {};
#pragma unroll
    for (int u = 0; u < UNR; ++u) {
#pragma unroll
      for (int i = 0; i < PER; ++i) {
        const int v = sub + G * i;
        if (v < NV) {
          mlx_rs_topk_dot_vector<T, QB, DIM>(w[u][i], v, qs, acc[u]);
        }
      }
    }
    store(acc, wb + grp);
    if (more) {
#pragma unroll
      for (int u = 0; u < UNR; ++u) {
#pragma unroll
        for (int i = 0; i < PER; ++i) {
          w[u][i] = next[u][i];
        }
      }
    }
  }
} else {
  for (int wb = first; wb < row_end; wb += stride) {
    float acc[UNR][QB] = {};
#pragma unroll
    for (int u = 0; u < UNR; ++u) {
      const int row = wb + grp + u * RPW;
      if (row < row_end) {
        const T* p = c + size_t(row) * DIM;
        for (int d = sub; d < DIM; d += G) {
          const float x = static_cast<float>(p[d]);
#pragma unroll
          for (int qq = 0; qq < QB; ++qq) {
            acc[u][qq] += x * qs[qq][d];
          }
        }
      }
    }
    store(acc, wb + grp);
  }
}
