// Row-wise L2 normalization: out[r, :] = x[r, :] / max(||x[r, :]||_2, eps).
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* x, Shape x_shape, int x_ndim, const float* eps, T* out).
// Launch: one block per row (grid.x = rows * blockDim.x), blockDim.x a
// multiple of 32. Each thread keeps up to ITEMS of its row's values in
// registers, so rows up to ITEMS * blockDim.x columns are read once.
constexpr int ITEMS = 8;
const int row = blockIdx.x;
const int tid = threadIdx.x;
const int d = x_shape[x_ndim - 1];
const T* xr = x + size_t(row) * d;
T* outr = out + size_t(row) * d;

float v[ITEMS];
float acc = 0.0f;
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
