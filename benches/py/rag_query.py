"""Side-by-side timing of the single-query RAG pipeline on the CPU or a CUDA GPU
(tokenize -> embed with all-MiniLM-L6-v2 -> score against the corpus ->
top-100 candidates -> exact f32 rerank -> top-10 read back to the host):

  st+numpy     sentence-transformers (PyTorch) for tokens and embedding,
               NumPy for scoring, argpartition and the rerank (float32 only);
               with --device gpu: st+torch, the model and the corpus on the
               GPU, torch.topk for the candidates
  python-mlx   the same pipeline in Python MLX (benches/py/minilm_mlx.py),
               with the BLAS its CPU wheel bundles, and again with the
               OpenBLAS our build links preloaded (the same GEMM as ours)
  mlx-rs       our benchmark_rag_query program (RAG_CORPUS_MATRIX)

All of them search the same corpus matrix (ROWS random unit vectors, NumPy
seed 0, written once as .npy; real passages would only change which rows
win, not the work) with the same real queries (the corpus' query texts, in
file order), after WARMUP untimed queries; every implementation runs in its
own process, ROUNDS times in turn, so load on a shared machine falls on all
of them alike. Prints a table (median, p95, ours / impl) per dtype, writes
OUT/results.json and, where matplotlib is installed, one latency plot per
dtype (OUT/rag_query_<device>_<dtype>.png).

usage: python rag_query.py --bin target/release/benchmark_rag_query --out DIR
       [--device cpu|gpu] [--corpus-dir D] [--model-dir D] [--rows N]
       [--iters N] [--warmup N] [--rounds N] [--threads N] [--openblas LIB]
Needs torch, sentence-transformers, mlx==0.32.2 (the CPU or CUDA build), numpy;
matplotlib for plots. On a GPU the threads limit and OpenBLAS do not apply.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("MLX_RS_CACHE_DIR", os.path.expanduser("~/.cache/mlx-rs"))
CANDIDATES, TOP_K = 100, 10


def queries(corpus_dir):
    with open(os.path.join(corpus_dir, "queries.jsonl")) as f:
        return [json.loads(line)["query"] for line in f if line.strip()]


def percentile(samples, p):
    """Linear interpolation between ranks (NumPy's default), as the Rust harness."""
    s = sorted(samples)
    pos = (len(s) - 1) * p / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def timed(once, texts, warmup, iters):
    for i in range(warmup):
        once(texts[i % len(texts)])
    out = []
    for i in range(iters):
        t = time.perf_counter()
        once(texts[i % len(texts)])
        out.append((time.perf_counter() - t) * 1e3)
    return out


def worker_st(a):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer, models
    torch.set_num_threads(a.threads)
    word = models.Transformer(a.model_dir, max_seq_length=256)
    pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    gpu = a.device == "gpu"
    model = SentenceTransformer(modules=[word, pool, models.Normalize()],
                                device="cuda" if gpu else "cpu").to(torch.float32)
    corpus = np.load(a.matrix)
    if gpu:
        corpus_t = torch.from_numpy(corpus).cuda()

        def once_gpu(q):
            with torch.inference_mode():
                e = model.encode([q], convert_to_tensor=True, show_progress_bar=False)[0]
                cand = torch.topk(corpus_t @ e, CANDIDATES).indices
                exact = corpus_t[cand] @ e
                order = torch.argsort(-exact, stable=True)[:TOP_K]
                return cand[order].tolist(), exact[order].tolist()

        return timed(once_gpu, queries(a.corpus_dir), a.warmup, a.iters)

    def once(q):
        with torch.inference_mode():
            e = model.encode([q], convert_to_numpy=True, show_progress_bar=False)[0]
        scores = corpus @ e
        cand = np.argpartition(-scores, CANDIDATES)[:CANDIDATES]
        exact = corpus[cand] @ e
        order = np.argsort(-exact, kind="stable")[:TOP_K]
        return cand[order].tolist(), exact[order].tolist()

    return timed(once, queries(a.corpus_dir), a.warmup, a.iters)


def worker_st_split(a):
    """st+numpy with its two halves timed apart: (encode, score + rerank) medians in ms."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer, models
    torch.set_num_threads(a.threads)
    word = models.Transformer(a.model_dir, max_seq_length=256)
    pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu")
    corpus = np.load(a.matrix)
    texts = queries(a.corpus_dir)
    enc, score = [], []
    for i in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        with torch.inference_mode():
            e = model.encode([texts[i % len(texts)]], convert_to_numpy=True, show_progress_bar=False)[0]
        t1 = time.perf_counter()
        s = corpus @ e
        cand = np.argpartition(-s, CANDIDATES)[:CANDIDATES]
        exact = corpus[cand] @ e
        order = np.argsort(-exact, kind="stable")[:TOP_K]
        cand[order].tolist()
        t2 = time.perf_counter()
        if i >= a.warmup:
            enc.append((t1 - t0) * 1e3)
            score.append((t2 - t1) * 1e3)
    return {"encode_ms": percentile(enc, 50), "score_rerank_ms": percentile(score, 50)}


def worker_mlx(a):
    import mlx.core as mx
    sys.path.insert(0, HERE)
    import minilm_mlx
    mx.set_default_device(mx.gpu if a.device == "gpu" else mx.cpu)
    dtype = {"float32": mx.float32, "bfloat16": mx.bfloat16}[a.dtype]
    model = minilm_mlx.load(a.model_dir, dtype)
    tok = minilm_mlx.tokenizer(a.model_dir)
    master = mx.load(a.matrix)
    corpus = master.astype(dtype)
    mx.eval(master, corpus)

    def once(q):
        ids, mask = minilm_mlx.tokenize(tok, [q])
        e = model(ids, mask)
        # corpus @ q^T, the order ours uses for one query (a matrix-vector product).
        scores = (corpus @ e.astype(dtype).T)[:, 0]
        cand = mx.argpartition(-scores, CANDIDATES)[:CANDIDATES]
        exact = master[cand] @ e[0]
        order = mx.argsort(-exact)[:TOP_K]
        ids_out, scores_out = cand[order], exact[order]
        mx.eval(ids_out, scores_out)
        return ids_out.tolist(), scores_out.tolist()

    return timed(once, queries(a.corpus_dir), a.warmup, a.iters)


def run_worker(a, impl, dtype, env_extra):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, "--dtype", dtype,
           "--device", a.device,
           "--matrix", a.matrix, "--model-dir", a.model_dir, "--corpus-dir", a.corpus_dir,
           "--iters", str(a.iters), "--warmup", str(a.warmup), "--threads", str(a.threads)]
    out = subprocess.run(cmd, env={**os.environ, **env_extra}, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{impl} {dtype} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_ms"]


def run_ours(a, dtype, env_extra):
    record = os.path.join(a.out, f"ours-{dtype}.json")
    env = {**os.environ, **env_extra, "RAG_CORPUS_MATRIX": a.matrix,
           "RAG_CORPUS_DIR": a.corpus_dir, "RAG_MODEL_DIR": a.model_dir}
    cmd = [a.bin, "--device", a.device, "--dtype", dtype, "--iters", str(a.iters),
           "--warmup", str(a.warmup), "--json", record]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"mlx-rs {dtype} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    with open(record) as f:
        return json.load(f)["latency_ms"]["samples"]


def plot(results, dtype, path, device):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [n for n in results if results[n]["dtype"] in (dtype, "float32*")]
    data = [results[n]["samples_ms"] for n in names]
    ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=False)
    ax.set_yticks(range(1, len(names) + 1), names)
    for i, n in enumerate(names, start=1):
        r = results[n]
        ax.plot([r["median_ms"]], [i], "o", color="black", ms=4)
        ax.plot([r["p95_ms"]], [i], "|", color="red", ms=14, mew=2)
    ax.set_xscale("log")
    ax.set_xlabel("latency per query, ms (log; box 25-75 %, whiskers 5-95 %, red: p95)")
    ax.set_title(f"RAG single-query pipeline on {device.upper()}, {dtype}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def driver(a):
    import numpy as np
    os.makedirs(a.out, exist_ok=True)
    a.matrix = os.path.join(a.out, f"corpus-{a.rows}x384.npy")
    if not os.path.exists(a.matrix):
        x = np.random.default_rng(0).standard_normal((a.rows, 384), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        np.save(a.matrix, x)
    threads = {"OMP_NUM_THREADS": str(a.threads), "OPENBLAS_NUM_THREADS": str(a.threads),
               "MKL_NUM_THREADS": str(a.threads)}
    gpu = a.device == "gpu"
    openblas = None if gpu else a.openblas or next(iter(sorted(glob.glob(
        os.path.join(CACHE, "mlx-cpu-*+openblas-*", "mlx_cpu.libs", "libopenblas.so.0")))), None)
    preload = {}
    if openblas:
        preload = {"LD_PRELOAD": openblas,
                   "LD_LIBRARY_PATH": os.path.dirname(openblas) + ":" + os.environ.get("LD_LIBRARY_PATH", "")}
    st_name = "st+torch float32" if gpu else "st+numpy float32"
    runs = [(st_name, "float32*", lambda: run_worker(a, "st", "float32", threads))]
    for dtype in ("float32", "bfloat16"):
        runs.append((f"python-mlx {dtype}" if gpu else f"python-mlx {dtype} (wheel BLAS)", dtype,
                     lambda d=dtype: run_worker(a, "mlx", d, threads)))
        if openblas:
            runs.append((f"python-mlx {dtype} (OpenBLAS)", dtype,
                         lambda d=dtype: run_worker(a, "mlx", d, {**threads, **preload})))
        runs.append((f"mlx-rs {dtype}", dtype, lambda d=dtype: run_ours(a, d, threads)))
    load_before = os.getloadavg()
    samples = {name: [] for name, _, _ in runs}
    for r in range(a.rounds):
        for name, _, fn in runs:
            samples[name].extend(fn())
            print(f"round {r + 1}/{a.rounds}: {name} done", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    results = {}
    for name, dtype, _ in runs:
        s = samples[name]
        results[name] = {"dtype": dtype, "samples_ms": s, "median_ms": percentile(s, 50),
                         "p95_ms": percentile(s, 95)}
    meta = {"device": a.device, "rows": a.rows, "iters_per_round": a.iters, "warmup": a.warmup, "rounds": a.rounds,
            "threads": a.threads, "openblas_preloaded": openblas,
            "loadavg_before": load_before, "loadavg_after": load_after,
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(json.dumps(meta))
    for dtype in ("float32", "bfloat16"):
        ours = results[f"mlx-rs {dtype}"]
        print(f"\n{dtype}: corpus {a.rows} x 384, {a.rounds} x {a.iters} queries per impl\n")
        print("| impl | median ms | p95 ms | ours / impl (median) | ours / impl (p95) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, r in results.items():
            if r["dtype"] not in (dtype, "float32*"):
                continue
            print(f"| {name} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | "
                  f"{ours['median_ms'] / r['median_ms']:.2f} | {ours['p95_ms'] / r['p95_ms']:.2f} |")
        png = os.path.join(a.out, f"rag_query_{a.device}_{dtype}.png")
        if plot(results, dtype, png, a.device):
            print(f"\nwrote {png}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", choices=["st", "mlx", "st-split"],
                   help="internal: one side in this process (st-split: sentence-transformers' "
                        "encode and NumPy's score + rerank timed apart, run by hand)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--matrix")
    p.add_argument("--bin")
    p.add_argument("--out", default="target/rag-query-cpu")
    p.add_argument("--corpus-dir", default=os.path.join(CACHE, "rag", "stdlib"))
    p.add_argument("--model-dir", default=os.path.join(CACHE, "minilm"))
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--openblas")
    a = p.parse_args()
    if a.worker == "st-split":
        if not a.matrix:
            p.error("--worker st-split needs --matrix (the .npy the driver wrote)")
        print(json.dumps(worker_st_split(a)))
    elif a.worker:
        fn = worker_st if a.worker == "st" else worker_mlx
        print(json.dumps({"samples_ms": fn(a)}))
    else:
        if not a.bin:
            p.error("--bin (the benchmark_rag_query program) is required")
        driver(a)


if __name__ == "__main__":
    main()
