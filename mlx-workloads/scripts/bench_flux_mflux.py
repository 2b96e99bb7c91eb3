"""Times the FLUX.1 transformer forward pass side by side, in one run: this
crate's `benchmark_flux_forward_pass` (Rust, MLX through mlx-c) and mflux
0.24.0's transformer (Python MLX), at the `small` preset (128 wide,
2 heads x 64, axes 8/28/28, 2 double + 4 single blocks, 64 text tokens,
256 x 256 image = 256 image tokens, batch 1) on the CPU, or at the `full`
preset (FLUX.1: 3072 wide, 24 heads x 128, 19 double + 38 single blocks, 512
text tokens, 1024 x 1024 image = 4096 image tokens) on a GPU; random
weights. Ours runs op by op and, with `--compiled`, also with each block
compiled (`--compiled on`), as two rows.

Python MLX's Linux CPU wheel ships a reference BLAS (a plain loop), while
this crate's build resolves it to OpenBLAS; with `--openblas PATH`
(libopenblas.so.0, e.g. the one in ~/.cache/mlx-rs/mlx-cpu-*/mlx_cpu.libs)
mflux is also timed with that library preloaded (`LD_PRELOAD`), which
separates the BLAS library from the rest of the implementation.

Each implementation runs in its own process (mflux in a child process of
this script), rounds alternate between them (so load on a shared machine
hits all alike); each round runs warm-up iterations, then timed ones with
the output evaluated inside the timed region. Reports the median and p95
over all timed iterations and each row's ratio to ours.

usage: python3 bench_flux_mflux.py BENCH_BINARY [--dtype float32|bfloat16]
       [--preset small|full] [--device cpu|gpu] [--compiled]
       [--rounds 3] [--iters 10] [--warmup 3] [--openblas PATH] [--plot PNG]
       [--json PATH]
(--plot needs matplotlib: a box plot of every row's samples.)
(BENCH_BINARY: target/release/benchmark_flux_forward_pass; mflux as in
flux_fixture.py.)
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import mlx.core as mx
import numpy as np

import mflux_small as ms

# preset: (size, text tokens, latent rows, latent columns)
PRESETS = {
    "small": (ms.Size(hidden=128, heads=2, axes=[8, 28, 28], depth=2, depth_single=4), 64, 16, 16),
    "full": (ms.Size(hidden=3072, heads=24, axes=[16, 56, 56]), 512, 64, 64),
}


def time_mflux(model, preset, dtype, iters, warmup):
    _, TXT, ROWS, COLS = PRESETS[preset]
    img = mx.random.normal((1, ROWS * COLS, 64)).astype(dtype)
    txt = mx.random.normal((1, TXT, 4096)).astype(dtype)
    vec = mx.random.normal((1, 768)).astype(dtype)
    mx.eval(img, txt, vec)
    samples = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        out = ms.forward(model, img, txt, vec, height=16 * ROWS, width=16 * COLS, sigma=0.5)
        mx.eval(out)
        dt = time.perf_counter() - t0
        if i >= warmup:
            samples.append(dt)
    return samples


def time_mflux_child(a, preload=None):
    env = dict(os.environ)
    if preload:
        # Its libgfortran sits next to it.
        env["LD_PRELOAD"] = preload
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [os.path.dirname(os.path.abspath(preload)), env.get("LD_LIBRARY_PATH", "")])
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--dtype", a.dtype,
                          "--preset", a.preset, "--device", a.device,
                          "--iters", str(a.iters), "--warmup", str(a.warmup), "-"],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_ours(a, compiled):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "r.json")
        subprocess.run(
            [a.binary, "--preset", a.preset, "--device", a.device, "--dtype", a.dtype,
             "--compiled", "on" if compiled else "off",
             "--iters", str(a.iters), "--warmup", str(a.warmup), "--json", path],
            check=True, stdout=subprocess.DEVNULL, env={**os.environ, "MLX_DTYPE": a.dtype})
        with open(path) as f:
            r = json.load(f)
            PEAK[f"ours compiled={compiled}"] = r["peak_memory_bytes"]
            return [ms_ / 1e3 for ms_ in r["latency_ms"]["samples"]]


PEAK = {}


def stats(samples):
    a = np.array(samples) * 1e3
    return np.median(a), np.percentile(a, 95)


def plot(rows, dtype, preset, device, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, ax = plt.subplots(figsize=(8, 0.9 * len(names) + 1.2))
    data = [np.array(rows[n]) * 1e3 for n in names]
    ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=False)
    ax.set_yticks(range(1, len(names) + 1), names)
    for i, d in enumerate(data, start=1):
        ax.plot([np.median(d)], [i], "o", color="black", ms=4)
        ax.plot([np.percentile(d, 95)], [i], "|", color="red", ms=14, mew=2)
    ax.set_xscale("log")
    ax.set_xlabel("forward pass, ms (log; box 25-75 %, whiskers 5-95 %, red: p95)")
    ax.set_title(f"FLUX.1 transformer, {preset} preset, {device.upper()}, {dtype}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary", help="benchmark_flux_forward_pass ('-' in child mode)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--preset", default="small", choices=["small", "full"])
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--compiled", action="store_true", help="also time ours with compiled blocks")
    p.add_argument("--json", help="write every row's samples (ms) and peak memory here")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--openblas")
    p.add_argument("--plot", help="write a box plot of the samples to this PNG")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    mx.set_default_device(mx.cpu if a.device == "cpu" else mx.gpu)
    if a.child:
        dtype = mx.float32 if a.dtype == "float32" else mx.bfloat16
        mx.random.seed(0)
        model = ms.build(PRESETS[a.preset][0], dtype=dtype)
        mx.reset_peak_memory()
        samples = time_mflux(model, a.preset, dtype, a.iters, a.warmup)
        print(json.dumps({"samples": samples, "peak": mx.get_peak_memory()}))
        return 0
    ours_name = "mlx-workloads (Rust, OpenBLAS)" if a.device == "cpu" else "mlx-workloads (Rust, op by op)"
    rows = {ours_name: []}
    if a.compiled:
        rows["mlx-workloads (Rust, compiled blocks)"] = []
    rows["mflux 0.24.0 (wheel's BLAS)" if a.device == "cpu" else "mflux 0.24.0"] = []
    if a.openblas:
        rows["mflux 0.24.0 (OpenBLAS preloaded)"] = []
    for _ in range(a.rounds):
        for name, samples in rows.items():
            if name.startswith("mlx-workloads"):
                # Explicit on the CPU's first row too: the default differs by device.
                samples += time_ours(a, "compiled" in name)
            else:
                preload = a.openblas if "preloaded" in name else None
                r = time_mflux_child(a, preload)
                samples += r["samples"]
                PEAK["mflux"] = r["peak"]
    where = (f"CPU ({platform.machine()}, {os.cpu_count()} cores)" if a.device == "cpu"
             else "GPU")
    print(f"FLUX.1 transformer forward, {a.preset} preset, {a.dtype}, {where}, "
          f"MLX {mx.__version__}; {a.rounds} alternating rounds x "
          f"{a.iters} timed iterations ({a.warmup} warm-up each)")
    print(f"| impl | median ms | p95 ms | ours / impl |")
    print(f"| --- | ---: | ---: | ---: |")
    ours = stats(rows[ours_name])[0]
    for name, samples in rows.items():
        m, p95 = stats(samples)
        print(f"| {name} | {m:.2f} | {p95:.2f} | {ours / m:.2f} |")
    print("peak memory (MLX's counter, GB): " + ", ".join(f"{k} {v / 1e9:.2f}" for k, v in PEAK.items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"preset": a.preset, "device": a.device, "dtype": a.dtype,
                       "samples_ms": {k: [x * 1e3 for x in v] for k, v in rows.items()},
                       "peak_memory_bytes": PEAK}, f)
    if a.plot:
        plot(rows, a.dtype, a.preset, a.device, a.plot)
        print(f"wrote {a.plot}")


if __name__ == "__main__":
    sys.exit(main())
