// Score + top-k, last pass: merges the candidates of the chunks (or slices)
// into each query's best K, best first; padding (index 0xFFFFFFFF) is
// skipped.
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const float* ps, Shape ps_shape, const uint32_t* pi,
//    float* scores, uint32_t* indices)
// with ps, pi [B, M] and outputs [B, K].
// Template: V (candidates per thread, 256 * V >= M), K (1..256).
// Launch: grid (B * 256), block 256: one block per query.
const int M = ps_shape[1];
const int qi = int(blockIdx.x);
mlx_rs_topk_select_block<V, K, 512, true>(
    ps + size_t(qi) * M, pi + size_t(qi) * M, M, 0u, scores + size_t(qi) * K,
    indices + size_t(qi) * K);
