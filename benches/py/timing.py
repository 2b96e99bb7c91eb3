"""Times the Python side of a benchmark with the same protocol as the Rust side.

usage: timing.py IMPL CASE WARMUP SAMPLES M K N   (IMPL: numpy or python-mlx)
Prints one JSON object: {impl: {"median_ms": .., "p95_ms": .., "error": ..}}.
Work is forced inside the timed region (NumPy is eager; MLX gets mx.eval).
Each implementation runs in its own process: importing NumPy first would let
its bundled OpenBLAS interpose on the BLAS symbols of Python MLX's libmlx.
"""
import json
import sys
import time


def stats(samples):
    s = sorted(samples)
    return {"median_ms": s[len(s) // 2] * 1e3, "p95_ms": s[min(len(s) - 1, int(0.95 * len(s)))] * 1e3}


def bench(fn, warmup, samples):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return stats(out)


def main():
    impl, case, (warmup, samples, m, k, n) = sys.argv[1], sys.argv[2], map(int, sys.argv[3:8])
    assert case == "matmul"
    result = {}
    if impl == "numpy":
        numpy_side(result, warmup, samples, m, k, n)
    else:
        mlx_side(result, warmup, samples, m, k, n)
    print(json.dumps(result))


def numpy_side(result, warmup, samples, m, k, n):
    try:
        import numpy as np

        rng = np.random.default_rng()
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        result["numpy"] = bench(lambda: a @ b, warmup, samples)
    except Exception as e:  # reported, not fatal: the Rust side still runs
        result["numpy"] = {"error": repr(e)}


def mlx_side(result, warmup, samples, m, k, n):
    try:
        import mlx.core as mx

        mx.set_default_device(mx.cpu)
        a = mx.random.uniform(-1, 1, (m, k))
        b = mx.random.uniform(-1, 1, (k, n))
        mx.eval(a, b)
        result["python-mlx"] = bench(lambda: mx.eval(a @ b), warmup, samples)
    except Exception as e:
        result["python-mlx"] = {"error": repr(e)}


main()
