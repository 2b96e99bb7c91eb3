"""Python MLX side of benches/threads.rs: evaluations per second of the same
element-wise graph (y <- sin(y) * 0.5 + x, DEPTH times, over N float32
elements) with one thread and with two, each thread on its own CPU stream.

usage: threads.py N DEPTH ROUNDS REPEATS
Prints one JSON object: {"one": [...], "two": [...]} (evaluations/s per repeat).
"""
import json
import sys
import threading
import time

import mlx.core as mx


def chain(x, depth, s):
    y = x
    for _ in range(depth):
        y = mx.sin(y, stream=s) * 0.5 + x
    return y


def throughput(threads, n, depth, rounds):
    barrier = threading.Barrier(threads)
    times = [0.0] * threads

    def work(t):
        s = mx.new_stream(mx.cpu)
        with mx.stream(s):
            x = mx.array([(i % 1000) / 500.0 - 1.0 for i in range(n)], dtype=mx.float32)
            mx.eval(chain(x, depth, s))  # warm-up
            barrier.wait()
            start = time.perf_counter()
            for _ in range(rounds):
                mx.eval(chain(x, depth, s))
            times[t] = time.perf_counter() - start

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return threads * rounds / max(times)


def main():
    n, depth, rounds, repeats = (int(a) for a in sys.argv[1:5])
    out = {"one": [], "two": []}
    for _ in range(repeats):
        out["one"].append(throughput(1, n, depth, rounds))
        out["two"].append(throughput(2, n, depth, rounds))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
