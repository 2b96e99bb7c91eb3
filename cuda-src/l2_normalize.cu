// Row-wise L2 normalization: out[r, :] = x[r, :] / max(||x[r, :]||_2, eps).
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const T* x, Shape x_shape, int x_ndim, const float* eps, T* out).
// Launch: one block of BLOCK threads per row (grid.x = rows * BLOCK).
const int row = blockIdx.x;
const int tid = threadIdx.x;
const int d = x_shape[x_ndim - 1];
const T* xr = x + size_t(row) * d;
T* outr = out + size_t(row) * d;

float acc = 0.0f;
for (int j = tid; j < d; j += blockDim.x) {
  float v = static_cast<float>(xr[j]);
  acc += v * v;
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
for (int j = tid; j < d; j += blockDim.x) {
  outr[j] = static_cast<T>(static_cast<float>(xr[j]) * inv);
}
