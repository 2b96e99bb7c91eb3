/* Raw mlx-c side of benches/threads.rs: nanoseconds per recorded op.
 *
 * Records `c = a + b` on the default CPU stream N times (each result freed,
 * nothing evaluated), REPEATS times, and prints the per-op time of each
 * repeat as JSON: {"ns_per_op": [...]}. Build with benches/c/build.sh.
 *
 * usage: op_overhead N REPEATS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mlx/c/mlx.h"

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: op_overhead N REPEATS\n");
    return 2;
  }
  long n = atol(argv[1]);
  int repeats = atoi(argv[2]);
  if (n <= 0 || repeats <= 0) {
    fprintf(stderr, "N and REPEATS must be positive\n");
    return 2;
  }
  float data[16];
  for (int i = 0; i < 16; i++) data[i] = (float)i / 8.0f - 1.0f;
  int shape[1] = {16};
  mlx_array a = mlx_array_new_data(data, shape, 1, MLX_FLOAT32);
  mlx_array b = mlx_array_new_data(data, shape, 1, MLX_FLOAT32);
  mlx_device dev = mlx_device_new_type(MLX_CPU, 0);
  mlx_stream s = mlx_stream_new();
  if (mlx_get_default_stream(&s, dev) != 0) return 1;
  printf("{\"ns_per_op\": [");
  for (int r = 0; r < repeats + 1; r++) {
    double t = now_ns();
    for (long i = 0; i < n; i++) {
      mlx_array c = mlx_array_new();
      if (mlx_add(&c, a, b, s) != 0) return 1;
      mlx_array_free(c);
    }
    double per = (now_ns() - t) / (double)n;
    if (r > 0) printf(r == 1 ? "%.1f" : ", %.1f", per); /* r == 0 warms up */
  }
  printf("]}\n");
  mlx_array_free(a);
  mlx_array_free(b);
  mlx_stream_free(s);
  mlx_device_free(dev);
  return 0;
}
