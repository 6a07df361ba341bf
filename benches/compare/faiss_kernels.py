#!/usr/bin/env python3
"""Single-threaded peer figures for sagevec's kernel benches: numpy (OpenBLAS),
faiss-cpu, simsimd and numkong, on the shapes of `benches/benches/kernels.rs` and
`benches/benches/knn.rs`.

Usage (from the repository root; creates nothing but what pip installs):

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -r benches/compare/requirements.txt
    .venv-bench/bin/python benches/compare/faiss_kernels.py

Prints a markdown table (median of --runs runs, >= 5) headed by the machine and the
command. Cases:

* hot: one query vs an L2-resident block (256 KiB of rows, 85 rows at d = 768),
  as `one_to_many_hot/*/768`;
* cold: one query vs 100 000 rows at d = 768 (307 MB, streamed from memory), as
  `one_to_many_cold/*/768`;
* knn: exact batch search, Q = 1000 x N = 100 000, k = 10, faiss IndexFlatL2 at
  d = 128 and 768 (as `knn_q1000_n100k_k10`), once as one call (faiss's BLAS path)
  and once in batches small enough to stay on its sequential SIMD path.

faiss picks BLAS (sgemm, then top-k) over its fused SIMD scan when
`nx * d >= distance_compute_blas_threshold` (128 000 in faiss 1.15; older releases
compared the query count `nx` with a default of 20). The script prints the value it
found and sizes the small batches from it.

GFLOP/s counts 2 * rows * d per query (one multiply and one add per element),
whatever the metric; GB/s counts the bytes of base rows read per query.
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv() -> int:
    """`--threads N` (default 1), read before numpy/faiss load their thread pools."""
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return max(1, int(argv[i + 1]))
        if arg.startswith("--threads="):
            return max(1, int(arg.split("=", 1)[1]))
    return 1


THREADS = _threads_from_argv()

# The thread count everywhere, set before numpy/faiss load their BLAS and OpenMP runtimes.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
):
    os.environ[_var] = str(THREADS)

import argparse  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

try:
    import simsimd
except ImportError:  # optional peer
    simsimd = None
try:
    import numkong
except ImportError:  # optional peer
    numkong = None

HOT_BLOCK_BYTES = 256 * 1024
COLD_ROWS = 100_000
ONE_TO_MANY_DIM = 768
KNN_DIMS = (128, 768)
KNN_QUERIES = 1_000
KNN_BASE = 100_000
K = 10


@dataclass
class Row:
    case: str
    impl: str
    seconds: float  # median seconds per call
    bytes_read: int | None = None  # base bytes read per call
    flops: int | None = None  # 2 * n * d per call
    queries: int | None = None  # queries answered per call
    note: str = ""

    def cells(self) -> list[str]:
        def fmt(x: float | None, unit: str = "") -> str:
            return "" if x is None else f"{x:,.1f}{unit}"

        t = self.seconds
        time_cell = f"{t * 1e6:,.2f} µs" if t < 1e-3 else f"{t * 1e3:,.2f} ms"
        return [
            self.case,
            self.impl,
            time_cell,
            fmt(self.bytes_read / t / 1e9 if self.bytes_read else None),
            fmt(self.flops / t / 1e9 if self.flops else None),
            fmt(self.queries / t if self.queries else None),
            self.note,
        ]


def median_seconds(fn: Callable[[], object], runs: int, min_run_s: float) -> float:
    """Median over `runs` runs of the mean time of one call; each run repeats `fn`
    enough times to last about `min_run_s` (calibrated on a warm-up call)."""
    t0 = time.perf_counter()
    fn()  # warm-up: page faults, lazy init, caches
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_run_s / once))
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def rng_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=(n, d)).astype(np.float32)


def one_to_many(case: str, rows: np.ndarray, q: np.ndarray, runs: int, min_run_s: float,
                include_index: bool) -> list[Row]:
    """One query against `rows`, every peer; the output buffers are preallocated
    where the API takes one."""
    n, d = rows.shape
    nbytes, flops = rows.nbytes, 2 * n * d
    out = np.empty(n, dtype=np.float32)
    row_norms = np.einsum("ij,ij->i", rows, rows).astype(np.float32)  # cached, like an index
    q_norm = np.float32(q @ q)
    q2 = q.reshape(1, d)
    p_out, p_q, p_rows = faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(rows)

    def np_dot() -> None:
        np.dot(rows, q, out=out)

    def np_l2() -> None:
        np.dot(rows, q, out=out)
        np.multiply(out, np.float32(-2.0), out=out)
        np.add(out, row_norms, out=out)
        np.add(out, q_norm, out=out)

    def faiss_l2() -> None:
        faiss.fvec_L2sqr_ny(p_out, p_q, p_rows, d, n)

    def faiss_ip() -> None:
        faiss.fvec_inner_products_ny(p_out, p_q, p_rows, d, n)

    def faiss_pairwise() -> None:
        faiss.pairwise_distances(q2, rows, faiss.METRIC_L2)

    # Cross-check before timing: every L2 path agrees with numpy's f64 reference.
    ref = ((rows.astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1)
    tol = 1e-4 * ref.max()
    np_l2()
    assert np.abs(out - ref).max() < tol, "numpy l2 expansion disagrees"
    faiss_l2()
    assert np.abs(out - ref).max() < tol, "faiss fvec_L2sqr_ny disagrees"

    results = [
        Row(case, "numpy rows @ q (sgemv)", median_seconds(np_dot, runs, min_run_s), nbytes, flops),
        Row(case, "numpy l2 = ‖x‖² + ‖q‖² - 2·rows·q (norms cached)",
            median_seconds(np_l2, runs, min_run_s), nbytes, flops),
        Row(case, "faiss fvec_L2sqr_ny", median_seconds(faiss_l2, runs, min_run_s), nbytes, flops),
        Row(case, "faiss fvec_inner_products_ny", median_seconds(faiss_ip, runs, min_run_s),
            nbytes, flops),
        Row(case, "faiss pairwise_distances L2 (BLAS)",
            median_seconds(faiss_pairwise, runs, min_run_s), nbytes, flops, note="allocates out"),
    ]
    if include_index:
        index = faiss.IndexFlatL2(d)
        index.add(rows)

        def faiss_search() -> None:
            index.search(q2, K)

        results.append(Row(case, f"faiss IndexFlatL2.search nq=1 k={K} (SIMD scan + heap)",
                           median_seconds(faiss_search, runs, min_run_s), nbytes, flops))
    for mod, name, ip_metric in ((simsimd, "simsimd", "dot"), (numkong, "numkong", "dot")):
        if mod is None:
            continue
        for metric in ("sqeuclidean", ip_metric):
            def peer(metric: str = metric, mod=mod) -> None:
                mod.cdist(q2, rows, metric=metric, out_dtype="float32")

            got = np.asarray(mod.cdist(q2, rows, metric="sqeuclidean", out_dtype="float32"))
            assert np.abs(got.ravel() - ref).max() < tol, f"{name} disagrees"
            results.append(Row(case, f"{name} cdist {metric}",
                               median_seconds(peer, runs, min_run_s), nbytes, flops,
                               note="allocates out"))
    return results


def knn(d: int, base: np.ndarray, xq: np.ndarray, runs: int, threshold: int) -> list[Row]:
    n_q = xq.shape[0]
    index = faiss.IndexFlatL2(d)
    index.add(base)
    if hasattr(index, "sync_l2norms"):
        index.sync_l2norms()  # cache |x|², as sagevec's bench passes cached norms
    case = f"knn d={d} N={KNN_BASE // 1000}k k={K}"
    flops_per_query = 2 * KNN_BASE * d
    rows = []

    path = "BLAS" if n_q * d >= threshold else "SIMD scan"
    t = median_seconds(lambda: index.search(xq, K), runs, 0.0)
    rows.append(Row(case, f"faiss IndexFlatL2.search Q={n_q} ({path})", t,
                    flops=flops_per_query * n_q, queries=n_q))

    # Batches below the threshold: faiss's sequential SIMD path (one scan of the base
    # per query, so memory-bound), measured on fewer queries to keep the run short.
    batch = min(100, max(1, (threshold - 1) // d))
    n_small = 2 * batch if d <= 128 else batch
    xs = xq[:n_small]

    def batched() -> None:
        for i in range(0, n_small, batch):
            index.search(xs[i:i + batch], K)

    t = median_seconds(batched, runs, 0.0)
    rows.append(Row(case, f"faiss IndexFlatL2.search {n_small} queries in batches of {batch} "
                          f"(SIMD scan)", t, flops=flops_per_query * n_small, queries=n_small,
                    note=f"nq·d = {batch * d} < {threshold}"))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per case (median; >= 5)")
    ap.add_argument("--cases", choices=("all", "one-to-many", "knn"), default="all",
                    help="which cases to run (default: all)")
    ap.add_argument("--knn-dims", default=",".join(map(str, KNN_DIMS)),
                    help="dimensions for the batch-search cases, comma-separated (default: 128,768)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for faiss/BLAS (set before they load; default 1)")
    args = ap.parse_args()
    if args.runs < 5:
        ap.error("--runs must be >= 5")

    faiss.omp_set_num_threads(THREADS)
    threshold = int(faiss.cvar.distance_compute_blas_threshold)
    rng = np.random.default_rng(args.seed)
    d = ONE_TO_MANY_DIM
    results: list[Row] = []

    if args.cases in ("all", "one-to-many"):
        hot_rows = rng_rows(rng, HOT_BLOCK_BYTES // (d * 4), d)
        q = rng_rows(rng, 1, d)[0]
        results += one_to_many(f"hot: 1 x {hot_rows.shape[0]} rows, d={d} (256 KiB, L2)",
                               hot_rows, q, args.runs, 0.2, include_index=True)
        cold = rng_rows(rng, COLD_ROWS, d)
        results += one_to_many(
            f"cold: 1 x {COLD_ROWS // 1000}k rows, d={d} ({cold.nbytes / 1e6:.0f} MB)",
            cold, q, args.runs, 0.0, include_index=False)
        del cold

    if args.cases in ("all", "knn"):
        for kd in (int(x) for x in args.knn_dims.split(",") if x.strip()):
            base = rng_rows(rng, KNN_BASE, kd)
            xq = rng_rows(rng, KNN_QUERIES, kd)
            results += knn(kd, base, xq, args.runs, threshold)
            del base, xq

    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    versions = [f"numpy {np.__version__} ({blas.get('name', '?')} {blas.get('version', '')})",
                f"faiss-cpu {faiss.__version__} ({faiss.get_compile_options().strip()})"]
    if simsimd is not None:
        caps = [k for k, v in simsimd.get_capabilities().items() if v and k != "serial"]
        versions.append(f"simsimd {simsimd.__version__} ({', '.join(caps)})")
    if numkong is not None:
        caps = [k for k, v in numkong.get_capabilities().items() if v and k != "serial"]
        versions.append(f"numkong {getattr(numkong, '__version__', '?')} ({', '.join(caps)})")

    print(f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {THREADS} thread(s) "
          f"(faiss.omp_set_num_threads({THREADS}), OMP/OPENBLAS/MKL_NUM_THREADS={THREADS})")
    print(f"Command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"Python {platform.python_version()}; {'; '.join(versions)}")
    print(f"faiss distance_compute_blas_threshold = {threshold} (BLAS when nq·d >= it)")
    print(f"Median of {args.runs} runs. GFLOP/s = 2·rows·d per query / t; GB/s = base bytes "
          f"read / t.\n")
    header = ["case", "implementation", "median / call", "GB/s", "GFLOP/s", "QPS", "note"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in results:
        print("| " + " | ".join(r.cells()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
