"""Big-checkpoint loading, side by side: this crate's loader (the
load_checkpoint example, lazy load + one eval, and eager) against Python MLX
(`mx.load` + `mx.eval`), each in a fresh process, alternating, after one
warm-up run of each (the file is then in the page cache for all of them).

    cargo build --release --example load_checkpoint
    python3 benches/load_checkpoint.py [--file /tmp/ckpt.safetensors] [--runs 7]

Creates the file (48 tensors of 4096x4096 bfloat16, 1.61 GB) if missing.
Prints median and p95 of wall time and peak RSS per loader.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUST = os.path.join(ROOT, "target", "release", "examples", "load_checkpoint")

PY = r"""
import json, resource, sys, time
import mlx.core as mx
mx.set_default_device(mx.cpu)
t = time.perf_counter()
arrays = mx.load(sys.argv[1])
mx.eval(list(arrays.values()))
dt = time.perf_counter() - t
peak = int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) * 1024
print(json.dumps({"seconds": dt, "peak_rss": peak, "tensors": len(arrays),
                  "bytes": sum(a.nbytes for a in arrays.values())}))
"""


def make(path):
    import mlx.core as mx
    mx.set_default_device(mx.cpu)
    arrays = {}
    for i in range(48):
        arrays[f"layers.{i}.weight"] = mx.random.normal((4096, 4096)).astype(mx.bfloat16)
    mx.save_safetensors(path, arrays)


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", default="/tmp/mlx_rs_ckpt_48x4096x4096_bf16.safetensors")
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    if not os.path.exists(a.file):
        make(a.file)
    size = os.path.getsize(a.file)
    loaders = {
        "mlx-rs lazy + eval": [RUST, a.file],
        "mlx-rs eager": [RUST, a.file, "--eager"],
        "Python MLX mx.load + eval": [sys.executable, "-c", PY, a.file],
    }
    results = {k: [] for k in loaders}
    for k, cmd in loaders.items():  # warm-up
        run(cmd)
    for _ in range(a.runs):
        for k, cmd in loaders.items():
            results[k].append(run(cmd))
    print(f"file: {a.file} ({size / 1e9:.2f} GB), runs: {a.runs}")
    print(f"{'loader':28} {'median s':>9} {'p95 s':>7} {'peak RSS GB':>12} {'RSS/file':>9}")
    for k, rs in results.items():
        t = [r["seconds"] for r in rs]
        m = [r["peak_rss"] for r in rs]
        print(f"{k:28} {statistics.median(t):9.3f} {pct(t, 0.95):7.3f} "
              f"{statistics.median(m) / 1e9:12.3f} {statistics.median(m) / size:9.3f}")


if __name__ == "__main__":
    main()
