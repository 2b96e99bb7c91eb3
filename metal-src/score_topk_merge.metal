// Fused score + top-k, pass 2 (Metal twin of cuda-src/score_topk_merge.cu;
// not run by this project's tests, which run on Linux).
// Inputs ps (with ps_shape), pi [B, slices, K]; outputs scores, indices
// [B, K]; template K, CAP, ITEMS. Launch: grid (B * 256), threadgroup 256.
uint tid = thread_position_in_threadgroup.x;
uint block = threads_per_threadgroup.x;
int qi = int(threadgroup_position_in_grid.x);
int total = ps_shape[1] * K;
size_t first = size_t(qi) * total;

threadgroup float cs[CAP];
threadgroup uint ci[CAP];
threadgroup atomic_int count;
threadgroup float ts;
threadgroup uint ti;
if (tid == 0) {
  atomic_store_explicit(&count, 0, memory_order_relaxed);
  ts = -INFINITY;
  ti = MLX_RS_TOPK_NONE;
}
threadgroup_barrier(mem_flags::mem_threadgroup);

int round = ITEMS * int(block);
for (int base = 0; base < total; base += round) {
  float t_s = ts;
  uint t_i = ti;
  for (int e = 0; e < ITEMS; ++e) {
    int j = base + e * int(block) + int(tid);
    if (j < total) {
      float v = ps[first + j];
      uint id = pi[first + j];
      if (id != MLX_RS_TOPK_NONE && mlx_rs_topk_before(v, id, t_s, t_i)) {
        int slot = atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
        cs[slot] = v;
        ci[slot] = id;
      }
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  int n = atomic_load_explicit(&count, memory_order_relaxed);
  if (n > CAP - round) {
    mlx_rs_topk_sort<CAP>(cs, ci, n, tid, block);
    if (tid == 0) {
      atomic_store_explicit(&count, K, memory_order_relaxed);
      ts = cs[K - 1];
      ti = ci[K - 1];
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}

int n = atomic_load_explicit(&count, memory_order_relaxed);
mlx_rs_topk_sort<CAP>(cs, ci, n, tid, block);
for (int j = int(tid); j < K; j += int(block)) {
  scores[size_t(qi) * K + j] = cs[j];
  indices[size_t(qi) * K + j] = ci[j];
}
