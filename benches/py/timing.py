"""Times the Python side of a benchmark with the same protocol as the Rust side
(benches/harness.rs): WARMUP untimed runs, then SAMPLES timed ones, the work
forced inside the timed region (NumPy is eager; MLX gets mx.eval).

usage: timing.py IMPL CASE DEVICE WARMUP SAMPLES DIMS...
  IMPL   numpy | python-mlx | torch
  CASE   matmul M K N | matmul_dtype M K N DTYPE | swiglu ROWS COLS DTYPE | l2norm ROWS COLS DTYPE
         | linear M K N DTYPE MODE (MODE 0: x @ w.T, 1: addmm + GELU-tanh,
           2: the same under mx.compile)
         | scoretopk N D B K DTYPE (python-mlx: q @ c.T + argpartition, unsorted k;
           torch: q @ c.T + topk + copy to host)
  DEVICE cpu | gpu
DTYPE is 0 (float32), 1 (bfloat16) or 2 (float16).
Prints one JSON object: {"median_ms": .., "p95_ms": ..} or {"error": ..}.
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


def numpy_case(case, dims):
    import numpy as np

    rng = np.random.default_rng()
    assert case == "matmul", "NumPy runs the matmul case only"
    m, k, n = dims
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    return lambda: a @ b


def mlx_case(case, device, dims):
    import mlx.core as mx

    mx.set_default_device(mx.gpu if device == "gpu" else mx.cpu)
    if case == "matmul":
        m, k, n = dims
        a = mx.random.uniform(-1, 1, (m, k))
        b = mx.random.uniform(-1, 1, (k, n))
        mx.eval(a, b)
        return lambda: mx.eval(a @ b)
    if case == "matmul_dtype":
        m, k, n, code = dims
        dtype = [mx.float32, mx.bfloat16, mx.float16][code]
        a = mx.random.uniform(-1, 1, (m, k)).astype(dtype)
        b = mx.random.uniform(-1, 1, (k, n)).astype(dtype)
        mx.eval(a, b)
        return lambda: mx.eval(a @ b)
    if case == "linear":
        m, k, n, code, mode = dims
        dtype = [mx.float32, mx.bfloat16, mx.float16][code]
        x = mx.random.uniform(-1, 1, (m, k)).astype(dtype)
        w = (mx.random.uniform(-1, 1, (n, k)) / k**0.5).astype(dtype)
        b = mx.random.uniform(-0.5, 0.5, (n,)).astype(dtype)
        mx.eval(x, w, b)
        if mode == 0:
            return lambda: mx.eval(x @ w.T)

        def ref(x, w, b):
            y = mx.addmm(b, x, w.T)
            return 0.5 * y * (1 + mx.tanh(0.7978845608028654 * (y + 0.044715 * y * y * y)))

        f = mx.compile(ref) if mode == 2 else ref
        return lambda: mx.eval(f(x, w, b))

    if case == "scoretopk":
        n, d, b, k, code = dims
        dtype = [mx.float32, mx.bfloat16][code]

        def unit(rows):
            x = mx.random.normal((rows, d))
            return (x / mx.linalg.norm(x, axis=-1, keepdims=True)).astype(dtype)

        c, q = unit(n), unit(b)
        mx.eval(c, q)

        def run():
            scores = q @ c.T
            idx = mx.argpartition(-scores, kth=k - 1, axis=-1)[:, :k]
            mx.eval(idx, mx.take_along_axis(scores, idx, axis=-1))

        return run
    rows, cols, code = dims
    dtype = [mx.float32, mx.bfloat16, mx.float16][code]
    if case == "swiglu":
        g = mx.random.uniform(-4, 4, (rows, cols)).astype(dtype)
        u = mx.random.uniform(-2, 2, (rows, cols)).astype(dtype)
        mx.eval(g, u)
        return lambda: mx.eval(g * mx.sigmoid(g) * u)
    if case == "l2norm":
        x = mx.random.uniform(-2, 2, (rows, cols)).astype(dtype)
        mx.eval(x)

        def run():
            w = x.astype(mx.float32)
            n = mx.maximum(mx.sqrt(mx.sum(w * w, axis=-1, keepdims=True)), 1e-12)
            mx.eval((w / n).astype(dtype))

        return run
    raise ValueError(case)


def torch_case(case, device, dims):
    import torch

    assert case == "scoretopk", "PyTorch runs the scoretopk case only"
    n, d, b, k, code = dims
    dev = "cuda" if device == "gpu" else "cpu"
    dtype = [torch.float32, torch.bfloat16][code]

    def unit(rows):
        x = torch.randn(rows, d, device=dev)
        return torch.nn.functional.normalize(x, dim=-1).to(dtype)

    c, q = unit(n), unit(b)

    def run():
        top = torch.topk(q @ c.T, k, dim=-1)
        return top.values.cpu(), top.indices.cpu()

    return run


def main():
    impl, case, device = sys.argv[1:4]
    warmup, samples = int(sys.argv[4]), int(sys.argv[5])
    dims = [int(d) for d in sys.argv[6:]]
    try:
        if impl == "numpy":
            fn = numpy_case(case, dims)
        elif impl == "torch":
            fn = torch_case(case, device, dims)
        else:
            fn = mlx_case(case, device, dims)
        print(json.dumps(bench(fn, warmup, samples)))
    except Exception as e:  # reported in the table, not fatal
        print(json.dumps({"error": repr(e)}))


main()
