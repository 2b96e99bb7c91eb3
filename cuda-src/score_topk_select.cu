// Score + top-k in two passes, pass 2: the best K rows of one chunk of one
// query's score row (written by a scores kernel), best first.
// Body of an MLX custom CUDA kernel; MLX generates the signature
//   (const float* s, Shape s_shape, float* part_scores, uint32_t* part_indices)
// with s [B, N] and outputs [B, chunks, K].
// Template: V (scores per thread; a chunk is 256 * V rows), K (1..256).
// Launch: grid (B * 256, chunks), block (256, 1).
const int N = s_shape[1];
const int qi = int(blockIdx.x);
const int chunk = int(blockIdx.y);
const int begin = chunk * 256 * V;
const int total = max(0, min(256 * V, N - begin));
const size_t out = (size_t(qi) * gridDim.y + chunk) * K;
mlx_rs_topk_select_block<V, K, 512, false>(
    s + size_t(qi) * N + begin, nullptr, total, unsigned(begin),
    part_scores + out, part_indices + out);
