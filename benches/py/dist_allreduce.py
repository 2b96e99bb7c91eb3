"""all_sum / all_reduce bus bandwidth with the protocol of
examples/distributed_bench.rs, for a side-by-side comparison.

usage:
  mlx-launch [--backend nccl] -n 2 -- python3 dist_allreduce.py mlx [--dtype f32|bf16] [--min-mb A] [--max-mb B] [--latency]
      Python MLX's all_sum on the job mlx-launch configured (ring or NCCL).
  python3 dist_allreduce.py torch --np 2 [same options]
      PyTorch's NCCL all_reduce, one process per GPU (started here).

Per size: 5 untimed runs, then 30 samples (10 above 64 MB), each after a
small all-reduce as a barrier; the timed region is the all-reduce and its
completion. Rank 0 prints `RESULT <impl> <bytes> <median ms> <p95 ms>
<bus GB/s>`, bus bandwidth = bytes / median * 2 (n - 1) / n.
"""
import argparse
import os
import sys
import time


def sizes(a):
    out = [4, 64, 1024, 16 << 10, 64 << 10] if a.latency else []
    mb = max(a.min_mb, 1)
    while mb <= a.max_mb:
        out.append(mb << 20)
        mb *= 2
    return out


def report(name, rank, n, nbytes, times):
    times.sort()
    med = times[len(times) // 2]
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    bus = nbytes / med * 2 * (n - 1) / n / 1e9
    if rank == 0:
        print(f"RESULT {name} {nbytes} {med * 1e3:.4f} {p95 * 1e3:.4f} {bus:.2f}", flush=True)


def run_mlx(a):
    import mlx.core as mx

    g = mx.distributed.init(strict=True, backend="any")
    rank, n = g.rank(), g.size()
    dt = mx.bfloat16 if a.dtype == "bf16" else mx.float32
    size_of = 2 if a.dtype == "bf16" else 4
    tiny = mx.array([1.0])
    if rank == 0:
        print(f"python-mlx {mx.__version__}, {n} ranks, {a.dtype}", flush=True)
    for nbytes in sizes(a):
        elems = max(nbytes // size_of, 1)
        x = mx.full((elems,), rank + 1.0, dtype=dt)
        mx.eval(x)
        samples = 10 if nbytes > 64 << 20 else 30
        times = []
        for i in range(5 + samples):
            mx.eval(mx.distributed.all_sum(tiny, group=g))
            t = time.perf_counter()
            y = mx.distributed.all_sum(x, group=g)
            mx.eval(y)
            d = time.perf_counter() - t
            if i == 0:
                assert mx.all(y == n * (n + 1) / 2).item(), "wrong sum"
            if i >= 5:
                times.append(d)
        report("python-mlx", rank, n, elems * size_of, times)


def torch_worker(rank, a, port):
    import torch
    import torch.distributed as dist

    n = a.np
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=n)
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    size_of = 2 if a.dtype == "bf16" else 4
    tiny = torch.ones(1, device="cuda")
    if rank == 0:
        print(f"pytorch {torch.__version__} nccl {torch.cuda.nccl.version()}, {n} ranks, {a.dtype}", flush=True)
    for nbytes in sizes(a):
        elems = max(nbytes // size_of, 1)
        x = torch.full((elems,), rank + 1.0, dtype=dt, device="cuda")
        samples = 10 if nbytes > 64 << 20 else 30
        times = []
        for i in range(5 + samples):
            dist.all_reduce(tiny)
            torch.cuda.synchronize()
            y = x.clone()  # all_reduce works in place; keep x intact
            torch.cuda.synchronize()
            t = time.perf_counter()
            dist.all_reduce(y)
            torch.cuda.synchronize()
            d = time.perf_counter() - t
            if i == 0:
                assert bool((y == n * (n + 1) / 2).all()), "wrong sum"
            if i >= 5:
                times.append(d)
        report("pytorch", rank, n, elems * size_of, times)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("impl", choices=["mlx", "torch"])
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--min-mb", type=int, default=1)
    p.add_argument("--max-mb", type=int, default=256)
    p.add_argument("--latency", action="store_true")
    a = p.parse_args()
    if a.impl == "mlx":
        run_mlx(a)
    else:
        import socket

        import torch.multiprocessing as mp

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(torch_worker, args=(a, port), nprocs=a.np, join=True)


if __name__ == "__main__":
    main()
