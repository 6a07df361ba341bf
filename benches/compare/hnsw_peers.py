#!/usr/bin/env python3
"""HNSW peers side by side with sagevec's graph: hnswlib, faiss IndexHNSWFlat, usearch.

Builds each peer at the same M and ef_construction on the same data and prints build
time and recall@10 vs QPS over an ef sweep, at each thread count, in the table format
that sagevec's `graph_sweep` example prints, so the two outputs can be put side by
side:

    .venv-bench/bin/python benches/compare/hnsw_peers.py \\
        --base ../shared/data/fashion-mnist-784-l2/base.npy \\
        --queries ../shared/data/fashion-mnist-784-l2/queries.npy
    cargo run --release -p sagevec-benches --example graph_sweep -- \\
        --base ../shared/data/fashion-mnist-784-l2/base.npy \\
        --queries ../shared/data/fashion-mnist-784-l2/queries.npy

Seeded clustered synthetic data (gaussian clusters), written to a directory so the
Rust side reads exactly the same rows:

    .venv-bench/bin/python benches/compare/hnsw_peers.py \\
        --synthetic 100000,128 --save-synthetic /tmp/clustered-100k
    cargo run --release -p sagevec-benches --example graph_sweep -- \\
        --base /tmp/clustered-100k/base.npy --queries /tmp/clustered-100k/queries.npy

The text-embedding set (cosine):

    D=../shared/data/debian-minilm-384-cosine
    .venv-bench/bin/python benches/compare/hnsw_peers.py --metric cosine \\
        --base $D/base.npy --queries $D/queries.npy

Inputs are float32 `.npy` (C order) or `.fvecs`. Ground truth is exact (faiss
IndexFlat; cosine: inner product of unit rows). Timings are medians of `--runs` runs
(builds: `--build-runs`). Search QPS is one batch call over all queries with the peer's
own threading at `t` threads (hnswlib `num_threads`, faiss `omp_set_num_threads`,
usearch `threads`).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

import numpy as np

from peers import PEERS, exact_knn, recall


def load(path: str) -> np.ndarray:
    p = pathlib.Path(path)
    if p.suffix == ".fvecs":
        raw = np.fromfile(p, dtype=np.int32)
        dim = int(raw[0])
        return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32).copy()
    a = np.load(p)
    if a.dtype != np.float32 or a.ndim != 2:
        sys.exit(f"{path}: need a 2-d float32 array, got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a)


def clustered(n: int, nq: int, dim: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`clusters` gaussian clusters, centres uniform in [-1, 1]^dim, spread 0.5."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-1.0, 1.0, size=(clusters, dim)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        which = rng.integers(0, clusters, size=count)
        noise = rng.standard_normal(size=(count, dim), dtype=np.float32) * np.float32(0.5)
        return np.ascontiguousarray(centres[which] + noise, dtype=np.float32)

    return draw(n), draw(nq)


def ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base")
    ap.add_argument("--queries")
    ap.add_argument("--synthetic", help="N,DIM[,CLUSTERS]: seeded gaussian clusters instead of files")
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--nq", type=int, default=1000, help="queries (synthetic: drawn; files: first N)")
    ap.add_argument("--nb", type=int, help="first N base rows of a file")
    ap.add_argument("--save-synthetic", help="directory to write base.npy / queries.npy for graph_sweep")
    ap.add_argument("--metric", default="l2", choices=["l2", "ip", "cosine"])
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--ef", type=ints, default=[10, 20, 40, 80, 160])
    ap.add_argument("--threads", type=ints, default=[1, 2], help="search thread counts")
    ap.add_argument("--build-threads", type=ints, default=[1, 2])
    ap.add_argument("--runs", type=int, default=3, help="search runs per point (median)")
    ap.add_argument("--build-runs", type=int, default=1, help="builds per thread count (median)")
    ap.add_argument("--peers", default="hnswlib,faiss,usearch")
    args = ap.parse_args()

    if args.synthetic:
        parts = ints(args.synthetic)
        n, dim = parts[0], parts[1]
        clusters = parts[2] if len(parts) > 2 else 100
        base, queries = clustered(n, args.nq, dim, clusters, args.seed)
        if args.save_synthetic:
            out = pathlib.Path(args.save_synthetic)
            out.mkdir(parents=True, exist_ok=True)
            np.save(out / "base.npy", base)
            np.save(out / "queries.npy", queries)
            print(f"# wrote {out}/base.npy {base.shape} and queries.npy {queries.shape}")
    else:
        if not (args.base and args.queries):
            sys.exit("give --base and --queries, or --synthetic N,DIM")
        base, queries = load(args.base), load(args.queries)
        if args.nb:
            base = base[: args.nb]
        queries = queries[: args.nq]
    # Cosine goes to each library as its own cosine (hnswlib "cosine", usearch "cos", faiss
    # inner product of rows it normalises), as compare.py does; the truth is exact cosine.
    metric = args.metric
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    truth = exact_knn(base, queries, metric)

    import platform

    with open("/proc/cpuinfo") as f:
        cpu = next(
            (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
            platform.processor(),
        )
    print(f"# cpu: {cpu} ({os.cpu_count()} logical CPUs)")
    print(
        f"# peers: n={base.shape[0]} nq={queries.shape[0]} dim={base.shape[1]} metric={args.metric} "
        f"M={args.m} efC={args.efc} runs={args.runs} build_runs={args.build_runs} (median)"
    )
    for name in args.peers.split(","):
        peer = PEERS[name](metric, base.shape[1], args.m, args.efc)
        print(f"{'engine':<10} {'threads':>8} {'build_s':>10}")
        for t in args.build_threads:
            times = []
            for _ in range(args.build_runs):
                t0 = time.perf_counter()
                peer.build(base, t)
                times.append(time.perf_counter() - t0)
            print(f"{name:<10} {t:>8} {statistics.median(times):>10.3f}", flush=True)
        print(f"{'engine':<10} {'threads':>8} {'ef':>6} {'recall@10':>10} {'QPS':>12}")
        for t in args.threads:
            for ef in args.ef:
                times, found = [], None
                peer.set_ef(ef)
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    found = peer.batch(queries, t)
                    times.append(time.perf_counter() - t0)
                qps = queries.shape[0] / statistics.median(times)
                print(f"{name:<10} {t:>8} {ef:>6} {recall(found, truth):>10.4f} {qps:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
