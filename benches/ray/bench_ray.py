#!/usr/bin/env python3
"""sagevec.ray against in-process indexes on this machine (issue 18's Ray targets).

    .venv/bin/python benches/ray/bench_ray.py [--shards 2] [--rounds 7] [--json out.json]

A 1000-query batch (Fashion-MNIST 784-d L2 from ../shared/data, k = 10):

- exact (``exact=True``): a ``ShardedIndex`` over ``--shards`` Ray actors against
  one in-process ``Index`` holding the same rows (the same total work however the
  rows are split). Target: >= 0.7x.
- graph (``ef=--ef``): the ``ShardedIndex`` against the same shards in process,
  searched and merged in Python with ``sagevec.ray.merge_topk`` (graph search on N
  shards does about N times the work of one graph, so one big graph is not the
  fair baseline). The in-process shards are loaded from the sharded index's own
  directories, so both sides walk identical graphs. Two baselines: the shards
  one after another, each on the process-wide pool (every core), and the shards
  at once from one Python thread each, each on ``cpus / shards`` threads; the
  target (>= 0.85x) is against the faster of the two.

Each round times every contender once, in a rotating order; ratios are per
round, and medians are printed. The Ray cluster is local (``ray.init(num_cpus=
--cpus)``) on the loopback address.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS pool is not used
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # local Ray on 127.0.0.1

import numpy as np
import ray
import sagevec
from sagevec.ray import ShardedIndex, merge_topk

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "fashion-mnist-784-l2"

Result = tuple[np.ndarray, np.ndarray]


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.strip().startswith("Model name:"):
            return " ".join(line.split())
    return "unknown"


def load_avg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found.tolist(), truth.tolist())]))


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="a directory with base.npy, queries.npy, gt_ids.npy")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="ray.init(num_cpus=...)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--json", type=Path, help="write every number here")
    args = ap.parse_args()

    base = np.load(args.data / "base.npy").astype(np.float32)
    queries = np.load(args.data / "queries.npy").astype(np.float32)
    truth = np.load(args.data / "gt_ids.npy")
    n, dim = base.shape
    k, shards = args.k, args.shards
    print(f"{cpu_model()}; {os.cpu_count()} CPUs visible; load average {load_avg()}")
    print(
        f"sagevec {sagevec.__version__} (ISA {sagevec.active_isa()}), ray {ray.__version__}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"data {args.data.name}: {n} x {dim} base, {len(queries)} queries, k={k}, ef={args.ef}, "
        f"{shards} shards, ray.init(num_cpus={args.cpus})"
    )

    t = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t
    out: dict[str, Any] = {"cpu": cpu_model(), "load_before": load_avg(), "ray_init_s": ray_start}

    with tempfile.TemporaryDirectory(prefix="sagevec-ray-bench-") as tmp:
        t = time.perf_counter()
        sh = ShardedIndex(dim, "l2", shards=shards, path=Path(tmp) / "sharded")
        out["sharded_start_s"] = time.perf_counter() - t
        t = time.perf_counter()
        sh.add(base)
        sh.wait_for_builds()
        sh.checkpoint()  # graph files on disk: the in-process shards load the same graphs
        out["sharded_build_s"] = time.perf_counter() - t
        dirs = [Path(p["path"]) for p in sh.stats()["per_shard"]]
        print(
            f"ray.init {ray_start:.2f} s, ShardedIndex start {out['sharded_start_s']:.2f} s, "
            f"add + graph builds {out['sharded_build_s']:.1f} s "
            f"({sh.cpus_per_shard:g} CPUs and {sh.stats()['per_shard'][0]['threads']} threads per shard)"
        )

        t = time.perf_counter()
        one = sagevec.Index(dim, "l2")
        one.add(base)
        one.wait_for_builds()
        out["single_build_s"] = time.perf_counter() - t
        pooled = [sagevec.Index.load(d) for d in dirs]  # the process-wide pool: every core
        per_thread = max(1, args.cpus // shards)
        split = [sagevec.Index.load(d, threads=per_thread) for d in dirs]

        def inproc_sequential() -> Result:
            res = [p.batch_search(queries, k, ef=args.ef) for p in pooled]
            ids, dist, _ = merge_topk([r[0] for r in res], [r[1] for r in res], k)
            return ids, dist

        def inproc_threaded() -> Result:
            res: list[Any] = [None] * shards

            def run(i: int) -> None:
                res[i] = split[i].batch_search(queries, k, ef=args.ef)

            workers = [threading.Thread(target=run, args=(i,)) for i in range(shards)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            ids, dist, _ = merge_topk([r[0] for r in res], [r[1] for r in res], k)
            return ids, dist

        contenders: dict[str, Callable[[], Any]] = {
            "exact: one Index": lambda: one.batch_search(queries, k, exact=True),
            "exact: ShardedIndex (Ray)": lambda: sh.batch_search(queries, k, exact=True),
            "graph: in-process shards, one after another": inproc_sequential,
            f"graph: in-process shards, {shards} Python threads": inproc_threaded,
            "graph: ShardedIndex (Ray)": lambda: sh.batch_search(queries, k, ef=args.ef),
        }
        recalls = {name: recall(np.asarray(fn()[0]), truth, k) for name, fn in contenders.items()}  # warm-up too
        exact_same = bool(
            np.array_equal(one.batch_search(queries, k, exact=True)[0], sh.batch_search(queries, k, exact=True)[0])
        )
        graph_same = bool(np.array_equal(inproc_sequential()[0], sh.batch_search(queries, k, ef=args.ef)[0]))

        names = list(contenders)
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                times[name].append(timed(contenders[name]))
        sh.close()

    med = {name: statistics.median(ts) for name, ts in times.items()}

    def ratio(fast: str, slow: str) -> float:
        # Per round: queries per second of `fast` over that of `slow`.
        return statistics.median(b / a for a, b in zip(times[fast], times[slow]))

    graph_baselines = [names[2], names[3]]
    best = min(graph_baselines, key=lambda b: med[b])
    exact_ratio = ratio(names[1], names[0])
    graph_ratio = ratio(names[4], best)
    print(f"\n1000-query batch, median of {args.rounds} rounds (load average now {load_avg()})\n")
    print("| contender | recall@10 | ms per batch | QPS |")
    print("|---|---|---|---|")
    for name in names:
        print(f"| {name} | {recalls[name]:.4f} | {med[name] * 1e3:.1f} | {len(queries) / med[name]:,.0f} |")
    print(f"\nexact: ShardedIndex / one Index = {exact_ratio:.3f}x (target >= 0.7x; ids identical: {exact_same})")
    print(
        f"graph: ShardedIndex / {best} = {graph_ratio:.3f}x (target >= 0.85x; ids identical to the "
        f"in-process shards: {graph_same})"
    )
    print(
        f"graph: ShardedIndex / the other baseline = "
        f"{ratio(names[4], next(b for b in graph_baselines if b != best)):.3f}x"
    )
    out.update(
        {
            "load_after": load_avg(),
            "rounds": args.rounds,
            "shards": shards,
            "cpus": args.cpus,
            "k": k,
            "ef": args.ef,
            "seconds": times,
            "median_s": med,
            "recall": recalls,
            "exact_ratio": exact_ratio,
            "graph_ratio": graph_ratio,
            "graph_baseline": best,
            "exact_ids_identical": exact_same,
            "graph_ids_identical": graph_same,
        }
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
