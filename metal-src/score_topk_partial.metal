// Fused score + top-k, pass 1 (Metal twin of cuda-src/score_topk_partial.cu;
// not run by this project's tests, which run on Linux).
// Body of an MLX custom Metal kernel: inputs q [B, DIM], c [N, DIM] (with
// q_shape, c_shape), outputs part_scores (float), part_indices (uint32)
// [B, slices, K]; template T, DIM, K, QB.
// Launch: grid (ceil(B / QB) * 256, slices), threadgroup (256, 1).
constexpr int CAP = 512;  // >= K + 256: a round appends at most 256 per query
int B = q_shape[0];
int N = c_shape[0];
int slices = int(threadgroups_per_grid.y);
int slice = int(threadgroup_position_in_grid.y);
int rows = (N + slices - 1) / slices;
int row_begin = slice * rows;
int row_end = metal::min(N, row_begin + rows);
uint tid = thread_position_in_threadgroup.x;
uint block = threads_per_threadgroup.x;
int q0 = int(threadgroup_position_in_grid.x) * QB;

threadgroup float qs[QB][DIM];
threadgroup float cs[QB][CAP];
threadgroup uint ci[QB][CAP];
threadgroup atomic_int count[QB];
threadgroup float ts[QB];
threadgroup uint ti[QB];

for (int e = int(tid); e < QB * DIM; e += int(block)) {
  int qq = e / DIM;
  int d = e % DIM;
  qs[qq][d] = q0 + qq < B ? float(q[size_t(q0 + qq) * DIM + d]) : 0.0f;
}
if (int(tid) < QB) {
  atomic_store_explicit(&count[tid], 0, memory_order_relaxed);
  ts[tid] = -INFINITY;
  ti[tid] = MLX_RS_TOPK_NONE;
}
threadgroup_barrier(mem_flags::mem_threadgroup);

for (int base = row_begin; base < row_end; base += int(block)) {
  int r = base + int(tid);
  if (r < row_end) {
    float acc[QB];
    for (int qq = 0; qq < QB; ++qq) {
      acc[qq] = 0.0f;
    }
    size_t off = size_t(r) * DIM;
    for (int d = 0; d < DIM; ++d) {
      float x = float(c[off + d]);
      for (int qq = 0; qq < QB; ++qq) {
        acc[qq] += x * qs[qq][d];
      }
    }
    for (int qq = 0; qq < QB; ++qq) {
      float s = metal::isnan(acc[qq]) ? -INFINITY : acc[qq];
      if (q0 + qq < B && mlx_rs_topk_before(s, uint(r), ts[qq], ti[qq])) {
        int slot = atomic_fetch_add_explicit(&count[qq], 1, memory_order_relaxed);
        cs[qq][slot] = s;
        ci[qq][slot] = uint(r);
      }
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (int qq = 0; qq < QB; ++qq) {
    int n = atomic_load_explicit(&count[qq], memory_order_relaxed);
    if (n > CAP - int(block)) {
      mlx_rs_topk_sort<CAP>(cs[qq], ci[qq], n, tid, block);
      if (tid == 0) {
        atomic_store_explicit(&count[qq], K, memory_order_relaxed);
        ts[qq] = cs[qq][K - 1];
        ti[qq] = ci[qq][K - 1];
      }
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}

for (int qq = 0; qq < QB && q0 + qq < B; ++qq) {
  int n = atomic_load_explicit(&count[qq], memory_order_relaxed);
  mlx_rs_topk_sort<CAP>(cs[qq], ci[qq], n, tid, block);
  size_t out = (size_t(q0 + qq) * slices + slice) * K;
  for (int j = int(tid); j < K; j += int(block)) {
    part_scores[out + j] = cs[qq][j];
    part_indices[out + j] = ci[qq][j];
  }
}
