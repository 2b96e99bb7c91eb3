"""Python MLX at the same shapes as the bench_quantized_linear example:
bfloat16 Linear vs 4-bit and 8-bit quantized (group 64), default device,
evaluation inside the timed region, median and p95 after 20 warm-up runs.

    python3 benches/quantized_linear.py [--m 1] [--k 4096] [--n 14336] [--iters 200]
"""
import argparse
import time

import mlx.core as mx

ap = argparse.ArgumentParser()
ap.add_argument("--m", type=int, default=1)
ap.add_argument("--k", type=int, default=4096)
ap.add_argument("--n", type=int, default=14336)
ap.add_argument("--iters", type=int, default=200)
a = ap.parse_args()
print(f"Python MLX {mx.__version__}, device {mx.default_device()}; x {a.m}x{a.k}, w {a.n}x{a.k}")
w = (mx.random.normal((a.n, a.k)) * 0.02).astype(mx.bfloat16)
x = mx.random.normal((a.m, a.k)).astype(mx.bfloat16)
q4 = mx.quantize(w, group_size=64, bits=4)
q8 = mx.quantize(w, group_size=64, bits=8)
mx.eval(w, x, *q4, *q8)
cases = {
    "bf16 x @ w.T": lambda: x @ w.T,
    "4-bit quantized_matmul (g64)": lambda: mx.quantized_matmul(x, *q4, transpose=True, group_size=64, bits=4),
    "8-bit quantized_matmul (g64)": lambda: mx.quantized_matmul(x, *q8, transpose=True, group_size=64, bits=8),
}
med = {}
for name, f in cases.items():
    for _ in range(20):
        mx.eval(f())
    t = []
    for _ in range(a.iters):
        s = time.perf_counter()
        mx.eval(f())
        t.append((time.perf_counter() - s) * 1e6)
    t.sort()
    med[name] = t[len(t) // 2]
    print(f"{name:30} median {med[name]:9.1f} us  p95 {t[round((len(t) - 1) * 0.95)]:9.1f} us")
names = list(cases)
print(f"speed-up of 4-bit over bf16: {med[names[0]] / med[names[1]]:.2f}x; 8-bit: {med[names[0]] / med[names[2]]:.2f}x")
