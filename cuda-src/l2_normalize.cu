// Row-wise L2 normalization: out[r, :] = x[r, :] / max(||x[r, :]||_2, eps).
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* x, Shape x_shape, int x_ndim, const float* eps, T* out).
// Launch: one block per row (grid.x = rows * blockDim.x), blockDim.x a
// multiple of 32. When the buffers are 16-byte aligned and rows hold whole
// 16-byte vectors, threads move vectors (the second pass over the row is
// served by L2); otherwise each thread keeps up to ITEMS of its row's values
// in registers, so rows up to ITEMS * blockDim.x columns are read once.
constexpr int ITEMS = 8;
constexpr int VEC = 16 / sizeof(T);
const int row = blockIdx.x;
const int tid = threadIdx.x;
const int d = x_shape[x_ndim - 1];
const T* xr = x + size_t(row) * d;
T* outr = out + size_t(row) * d;

const bool vectors =
    ((reinterpret_cast<size_t>(x) | reinterpret_cast<size_t>(out)) % 16) == 0 &&
    d % VEC == 0;
const int nv = d / VEC;
float v[ITEMS];
float acc = 0.0f;
if (vectors) {
  const uint4* xv = reinterpret_cast<const uint4*>(xr);
  for (int j = tid; j < nv; j += blockDim.x) {
    const uint4 w = xv[j];
    const T* t = reinterpret_cast<const T*>(&w);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const float f = static_cast<float>(t[k]);
      acc += f * f;
    }
  }
} else {
#pragma unroll
  for (int k = 0; k < ITEMS; ++k) {
    const int j = tid + k * blockDim.x;
    v[k] = j < d ? static_cast<float>(xr[j]) : 0.0f;
    acc += v[k] * v[k];
  }
  for (int j = tid + ITEMS * blockDim.x; j < d; j += blockDim.x) {
    const float t = static_cast<float>(xr[j]);
    acc += t * t;
  }
}
// Reduce within each warp, then across warps through shared memory.
for (int offset = 16; offset > 0; offset >>= 1) {
  acc += __shfl_xor_sync(0xffffffff, acc, offset);
}
__shared__ float partial[32];
const int lane = tid & 31;
const int warp = tid >> 5;
if (lane == 0) {
  partial[warp] = acc;
}
__syncthreads();
if (warp == 0) {
  const int warps = (blockDim.x + 31) >> 5;
  acc = lane < warps ? partial[lane] : 0.0f;
  for (int offset = 16; offset > 0; offset >>= 1) {
    acc += __shfl_xor_sync(0xffffffff, acc, offset);
  }
  if (lane == 0) {
    partial[0] = acc;
  }
}
__syncthreads();
const float inv = 1.0f / fmaxf(sqrtf(partial[0]), eps[0]);
if (vectors) {
  const uint4* xv = reinterpret_cast<const uint4*>(xr);
  uint4* ov = reinterpret_cast<uint4*>(outr);
  for (int j = tid; j < nv; j += blockDim.x) {
    const uint4 w = xv[j];
    const T* t = reinterpret_cast<const T*>(&w);
    uint4 r;
    T* o = reinterpret_cast<T*>(&r);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      o[k] = static_cast<T>(static_cast<float>(t[k]) * inv);
    }
    ov[j] = r;
  }
} else {
#pragma unroll
  for (int k = 0; k < ITEMS; ++k) {
    const int j = tid + k * blockDim.x;
    if (j < d) {
      outr[j] = static_cast<T>(v[k] * inv);
    }
  }
  for (int j = tid + ITEMS * blockDim.x; j < d; j += blockDim.x) {
    outr[j] = static_cast<T>(static_cast<float>(xr[j]) * inv);
  }
}
