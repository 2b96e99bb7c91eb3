"""Python MLX at the same shapes and in the same modes as the
bench_quantized_linear example: bfloat16 `x @ w.T` vs 4-bit and 8-bit
`mx.quantized_matmul` (group 64), default device, evaluation inside the timed
region, median and p95 after 20 warm-up runs.

Single layer: one product + eval per sample. With --layers L (even): L
distinct weights alternating N x K and K x N, chained x -> up -> down -> ...
in ONE evaluation (a decode step's MLP chain, weights scaled by 1/sqrt(fan-in));
times are per layer (the sample's time / L).

    python3 benches/quantized_linear.py [--m 1] [--k 4096] [--n 14336] [--iters 200] [--layers 32]
"""
import argparse
import time

import mlx.core as mx

ap = argparse.ArgumentParser()
ap.add_argument("--m", type=int, default=1)
ap.add_argument("--k", type=int, default=4096)
ap.add_argument("--n", type=int, default=14336)
ap.add_argument("--iters", type=int, default=200)
ap.add_argument("--layers", type=int, default=0)
a = ap.parse_args()
if a.layers < 0 or a.layers % 2:
    ap.error("--layers must be even and >= 0")
print(f"Python MLX {mx.__version__}, device {mx.default_device()}; x {a.m}x{a.k}, w {a.n}x{a.k}")


def timed(f):
    for _ in range(20):
        mx.eval(f())
    t = []
    for _ in range(a.iters):
        s = time.perf_counter()
        mx.eval(f())
        t.append((time.perf_counter() - s) * 1e6)
    t.sort()
    return t[len(t) // 2], t[round((len(t) - 1) * 0.95)]


def nbytes(arrays):
    return sum(v.nbytes for v in arrays)


def report(cases, per):
    med = {}
    for name, (f, size) in cases.items():
        m, p = timed(f)
        med[name] = m
        print(f"{name:30} median {m / per:9.1f} us  p95 {p / per:9.1f} us  weights {size / 1e6:7.1f} MB"
              f"  ({size / (m / per) / 1e3:6.0f} GB/s at the median)")
    names = list(cases)
    print(f"speed-up over bf16: 4-bit {med[names[0]] / med[names[1]]:.2f}x; 8-bit {med[names[0]] / med[names[2]]:.2f}x")


x = mx.random.normal((a.m, a.k)).astype(mx.bfloat16)
print("-- single layer: one product + eval per sample")
w = (mx.random.normal((a.n, a.k)) * 0.02).astype(mx.bfloat16)
q4 = mx.quantize(w, group_size=64, bits=4)
q8 = mx.quantize(w, group_size=64, bits=8)
mx.eval(w, x, *q4, *q8)
report({
    "bf16 x @ w.T": (lambda: x @ w.T, w.nbytes),
    "4-bit quantized_matmul (g64)": (lambda: mx.quantized_matmul(x, *q4, transpose=True, group_size=64, bits=4), nbytes(q4)),
    "8-bit quantized_matmul (g64)": (lambda: mx.quantized_matmul(x, *q8, transpose=True, group_size=64, bits=8), nbytes(q8)),
}, 1)
del w, q4, q8

if a.layers:
    print(f"-- {a.layers} distinct layers (alternating {a.n}x{a.k} and {a.k}x{a.n}) chained in one eval; per layer")
    ws = []
    for i in range(a.layers):
        rows, cols = (a.n, a.k) if i % 2 == 0 else (a.k, a.n)
        ws.append((mx.random.normal((rows, cols)) * cols ** -0.5).astype(mx.bfloat16))
    qs = {bits: [mx.quantize(w, group_size=64, bits=bits) for w in ws] for bits in (4, 8)}
    mx.eval(ws, qs[4], qs[8])

    def dense():
        h = x
        for w in ws:
            h = h @ w.T
        return h

    def quantized(bits):
        def f():
            h = x
            for q in qs[bits]:
                h = mx.quantized_matmul(h, *q, transpose=True, group_size=64, bits=bits)
            return h
        return f

    report({
        "bf16 x @ w.T": (dense, nbytes(ws) / a.layers),
        "4-bit quantized_matmul (g64)": (quantized(4), sum(nbytes(q) for q in qs[4]) / a.layers),
        "8-bit quantized_matmul (g64)": (quantized(8), sum(nbytes(q) for q in qs[8]) / a.layers),
    }, a.layers)
