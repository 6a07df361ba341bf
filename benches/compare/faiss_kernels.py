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


THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def set_thread_env(threads: int) -> None:
    """The thread count of every BLAS/OpenMP runtime; only takes effect before numpy
    and faiss load them (an importer such as compare.py calls it first)."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)


if __name__ == "__main__":
    set_thread_env(_threads_from_argv())

import argparse  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

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


def calibrate(fn: Callable[[], object], min_run_s: float) -> int:
    """Calls of `fn` per timed run so that one run lasts about `min_run_s` (at least
    one); the calibrating call doubles as the warm-up (page faults, lazy init)."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(min_run_s / once))


def median_seconds_interleaved(fns: dict[str, Callable[[], object]], runs: int, min_run_s: float) -> dict[str, float]:
    """Median over `runs` runs of the mean time of one call of each function, the
    functions interleaved within a run; each run repeats a function enough times
    to last about `min_run_s` (see `seconds_interleaved`)."""
    samples = seconds_interleaved(fns, runs, min_run_s)
    return {name: statistics.median(v) for name, v in samples.items()}


def seconds_interleaved(
    fns: dict[str, Callable[[], object]],
    runs: int,
    min_run_s: float,
    warm_up: bool = True,
    between: Callable[[], object] | None = None,
) -> dict[str, list[float]]:
    """Per implementation, the mean time of one call in each of `runs` runs. Each run
    times every implementation in turn (starting one further along each run), so a
    burst of load from elsewhere lands on all of them rather than on one. With
    `warm_up` each is called once first (and calibrated to last about `min_run_s`
    per run); without it, one call per run. `between` runs before each timed block
    (e.g. a pause that lets another library's spinning worker threads go to sleep)."""
    if warm_up:
        inner = {name: calibrate(fn, min_run_s) for name, fn in fns.items()}
    else:
        inner = dict.fromkeys(fns, 1)
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for run in range(runs):
        shift = run % len(names)
        for name in names[shift:] + names[:shift]:
            if between is not None:
                between()
            fn, n = fns[name], inner[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return samples


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


@dataclass
class Impl:
    """One implementation of a case: `fn` does one call; `note` goes in the table."""

    fn: Callable[[], object]
    note: str = ""


def l2_reference(rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Squared L2 from `q` to every row, in float64."""
    return ((rows.astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1)


def one_to_many_impls(rows: np.ndarray, q: np.ndarray, include_index: bool) -> dict[str, Impl]:
    """Every peer's one-query-vs-`rows` call, checked against an f64 reference first;
    the output buffers are preallocated where the API takes one."""
    n, d = rows.shape
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
    ref = l2_reference(rows, q)
    tol = 1e-4 * ref.max()
    np_l2()
    assert np.abs(out - ref).max() < tol, "numpy l2 expansion disagrees"
    faiss_l2()
    assert np.abs(out - ref).max() < tol, "faiss fvec_L2sqr_ny disagrees"

    impls = {
        "numpy rows @ q (sgemv)": Impl(np_dot),
        "numpy l2 = ‖x‖² + ‖q‖² - 2·rows·q (norms cached)": Impl(np_l2),
        "faiss fvec_L2sqr_ny": Impl(faiss_l2),
        "faiss fvec_inner_products_ny": Impl(faiss_ip),
        "faiss pairwise_distances L2 (BLAS)": Impl(faiss_pairwise, "allocates out"),
    }
    if include_index:
        index = faiss.IndexFlatL2(d)
        index.add(rows)
        impls[f"faiss IndexFlatL2.search nq=1 k={K} (SIMD scan + heap)"] = Impl(lambda: index.search(q2, K))
    # simsimd's `out=` corrupts reference counts in 6.5.16: let cdist allocate.
    for mod, name in ((simsimd, "simsimd"), (numkong, "numkong")):
        if mod is None:
            continue
        got = np.asarray(mod.cdist(q2, rows, metric="sqeuclidean", out_dtype="float32"))
        assert np.abs(got.ravel() - ref).max() < tol, f"{name} disagrees"
        for metric in ("sqeuclidean", "dot"):

            def peer(metric: str = metric, mod=mod) -> None:
                mod.cdist(q2, rows, metric=metric, out_dtype="float32")

            impls[f"{name} cdist {metric}"] = Impl(peer, "allocates out")
    return impls


def one_to_many(
    case: str, rows: np.ndarray, q: np.ndarray, runs: int, min_run_s: float, include_index: bool
) -> list[Row]:
    """One query against `rows`, every peer, timed interleaved."""
    impls = one_to_many_impls(rows, q, include_index)
    times = median_seconds_interleaved({k: v.fn for k, v in impls.items()}, runs, min_run_s)
    n, d = rows.shape
    return [Row(case, name, times[name], rows.nbytes, 2 * n * d, note=impl.note) for name, impl in impls.items()]


def faiss_flat(base: np.ndarray) -> faiss.IndexFlatL2:
    """`IndexFlatL2` over `base` with the row norms cached (sagevec's knn has them too)."""
    index = faiss.IndexFlatL2(base.shape[1])
    index.add(base)
    if hasattr(index, "sync_l2norms"):
        index.sync_l2norms()
    return index


@dataclass
class KnnCall:
    """One timed exact-search call: `fn` answers `n_queries` queries."""

    fn: Callable[[], object]
    n_queries: int
    path: str
    note: str = ""


def simd_batch(d: int, threshold: int) -> int:
    """Queries per call that keep faiss on its sequential SIMD path (nq·d < threshold)."""
    return min(100, max(1, (threshold - 1) // d))


def faiss_knn_calls(index: faiss.IndexFlatL2, xq: np.ndarray, threshold: int, k: int = K) -> dict[str, KnnCall]:
    """faiss's two IndexFlatL2 search paths: all queries in one call (BLAS when
    nq·d >= threshold), and batches below the threshold (the sequential SIMD scan,
    one pass over the base per query, so memory-bound: measured on fewer queries)."""
    n_q, d = xq.shape
    path = "BLAS" if n_q * d >= threshold else "SIMD scan"
    calls = {f"faiss IndexFlatL2.search Q={n_q} ({path})": KnnCall(lambda: index.search(xq, k), n_q, path)}
    batch = simd_batch(d, threshold)
    n_small = min(n_q, 2 * batch if d <= 128 else batch)
    xs = xq[:n_small]

    def batched() -> None:
        for i in range(0, n_small, batch):
            index.search(xs[i : i + batch], k)

    calls[f"faiss IndexFlatL2.search {n_small} queries in batches of {batch} (SIMD scan)"] = KnnCall(
        batched, n_small, "SIMD scan", f"nq·d = {batch * d} < {threshold}"
    )
    return calls


def knn(d: int, base: np.ndarray, xq: np.ndarray, runs: int, threshold: int) -> list[Row]:
    calls = faiss_knn_calls(faiss_flat(base), xq, threshold)
    times = median_seconds_interleaved({k: c.fn for k, c in calls.items()}, runs, 0.0)
    case = f"knn d={d} N={base.shape[0] // 1000}k k={K}"
    flops_per_query = 2 * base.shape[0] * d
    return [
        Row(case, name, times[name], flops=flops_per_query * c.n_queries, queries=c.n_queries, note=c.note)
        for name, c in calls.items()
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per case (median; >= 5)")
    ap.add_argument(
        "--cases", choices=("all", "one-to-many", "knn"), default="all", help="which cases to run (default: all)"
    )
    ap.add_argument(
        "--knn-dims",
        default=",".join(map(str, KNN_DIMS)),
        help="dimensions for the batch-search cases, comma-separated (default: 128,768)",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="threads for faiss/BLAS (set before they load; default 1)")
    args = ap.parse_args()
    if args.runs < 5:
        ap.error("--runs must be >= 5")

    threads = max(1, args.threads)
    faiss.omp_set_num_threads(threads)
    threshold = int(faiss.cvar.distance_compute_blas_threshold)
    rng = np.random.default_rng(args.seed)
    d = ONE_TO_MANY_DIM
    results: list[Row] = []

    if args.cases in ("all", "one-to-many"):
        hot_rows = rng_rows(rng, HOT_BLOCK_BYTES // (d * 4), d)
        q = rng_rows(rng, 1, d)[0]
        results += one_to_many(
            f"hot: 1 x {hot_rows.shape[0]} rows, d={d} (256 KiB, L2)", hot_rows, q, args.runs, 0.2, include_index=True
        )
        cold = rng_rows(rng, COLD_ROWS, d)
        results += one_to_many(
            f"cold: 1 x {COLD_ROWS // 1000}k rows, d={d} ({cold.nbytes / 1e6:.0f} MB)",
            cold,
            q,
            args.runs,
            0.0,
            include_index=False,
        )
        del cold

    if args.cases in ("all", "knn"):
        for kd in (int(x) for x in args.knn_dims.split(",") if x.strip()):
            base = rng_rows(rng, KNN_BASE, kd)
            xq = rng_rows(rng, KNN_QUERIES, kd)
            results += knn(kd, base, xq, args.runs, threshold)
            del base, xq

    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    versions = [
        f"numpy {np.__version__} ({blas.get('name', '?')} {blas.get('version', '')})",
        f"faiss-cpu {faiss.__version__} ({faiss.get_compile_options().strip()})",
    ]
    if simsimd is not None:
        caps = [k for k, v in simsimd.get_capabilities().items() if v and k != "serial"]
        versions.append(f"simsimd {simsimd.__version__} ({', '.join(caps)})")
    if numkong is not None:
        caps = [k for k, v in numkong.get_capabilities().items() if v and k != "serial"]
        versions.append(f"numkong {getattr(numkong, '__version__', '?')} ({', '.join(caps)})")

    print(
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {threads} thread(s) "
        f"(faiss.omp_set_num_threads({threads}), OMP/OPENBLAS/MKL_NUM_THREADS={threads})"
    )
    print(f"Command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"Python {platform.python_version()}; {'; '.join(versions)}")
    print(f"faiss distance_compute_blas_threshold = {threshold} (BLAS when nq·d >= it)")
    print(f"Median of {args.runs} runs. GFLOP/s = 2·rows·d per query / t; GB/s = base bytes read / t.\n")
    header = ["case", "implementation", "median / call", "GB/s", "GFLOP/s", "QPS", "note"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in results:
        print("| " + " | ".join(r.cells()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
