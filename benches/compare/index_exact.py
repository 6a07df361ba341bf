#!/usr/bin/env python3
"""Exact batch search through the index against the fused kernel on the same rows.

`Index.batch_search(q, k, exact=True)` against `sagevec.kernels.knn(q, base, k)`:
the same rows (the first N of a data set), the same queries, the same threads.
The index runs an exact, unfiltered batch through the fused many-to-many kernel
(plus the tombstone check and the winners' one-to-one distances), so it should
cost about what the kernel does: issue 15's target is >= 0.9x.

Calls alternate (index, kernel, index, ...) so drift on a shared machine hits
both; medians are printed, with the ids of both compared.

Run from the repository root, in the bench venv:

    .venv-bench/bin/python benches/compare/index_exact.py            # Fashion-MNIST 20k, 200 q, 2 threads
    .venv-bench/bin/python benches/compare/index_exact.py --data minilm --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import sagevec
from sagevec import Index

ROOT = Path(__file__).resolve().parents[2]
DATA = {
    "fmnist": ("fashion-mnist-784-l2", "l2"),
    "minilm": ("debian-minilm-384-cosine", "cosine"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=sorted(DATA), default="fmnist")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--rows", type=int, default=20_000, help="first N base rows (default 20000)")
    ap.add_argument("--queries", type=int, default=200, help="queries per call (default 200)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7, help="timed calls of each, alternating (default 7)")
    args = ap.parse_args()

    name, metric = DATA[args.data]
    base = np.ascontiguousarray(np.load(args.data_dir / name / "base.npy")[: args.rows], dtype=np.float32)
    queries = np.ascontiguousarray(np.load(args.data_dir / name / "queries.npy")[: args.queries], dtype=np.float32)
    ix = Index(base.shape[1], metric, threads=args.threads)
    ix.add(base)
    ix.wait_for_builds()

    def index_call() -> tuple[np.ndarray, np.ndarray]:
        return ix.batch_search(queries, k=args.k, exact=True)

    def kernel_call() -> tuple[np.ndarray, np.ndarray]:
        return sagevec.kernels.knn(queries, base, k=args.k, metric=metric, threads=args.threads)

    ids_index, _ = index_call()
    ids_kernel, _ = kernel_call()
    agree = float(np.mean(ids_index == ids_kernel))
    times: dict[str, list[float]] = {"index": [], "kernel": []}
    for _ in range(args.runs):
        for label, call in (("index", index_call), ("kernel", kernel_call)):
            t0 = time.perf_counter()
            call()
            times[label].append(time.perf_counter() - t0)
    med = {label: statistics.median(t) for label, t in times.items()}
    qps = {label: len(queries) / sec for label, sec in med.items()}
    print(
        f"{args.data} {len(base)} x {base.shape[1]} {metric}, {len(queries)} queries, k={args.k}, "
        f"{args.threads} threads, {args.runs} alternating runs, load {os.getloadavg()[0]:.2f}"
    )
    print(f"Index.batch_search(exact=True): {qps['index']:9,.0f} QPS (median {med['index'] * 1e3:.1f} ms)")
    print(f"kernels.knn:                    {qps['kernel']:9,.0f} QPS (median {med['kernel'] * 1e3:.1f} ms)")
    print(f"ratio index / kernel: {qps['index'] / qps['kernel']:.2f}x (target >= 0.9x); ids agree: {agree:.4f}")


if __name__ == "__main__":
    main()
