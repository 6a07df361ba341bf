#!/usr/bin/env python3
"""sagevec against faiss-cpu, hnswlib, usearch, simsimd and numkong, from Python, on
the same data, threads and parameters (issue 8).

    bash benches/compare/setup.sh      # .venv-bench: the peers and a release sagevec wheel
    .venv-bench/bin/python benches/compare/compare.py --out bench-out/compare
    .venv-bench/bin/python benches/compare/compare.py --quick   # ~3 minutes, a smoke test

Sections (``--sections``, default all):

  kernels  one query vs many rows (hot 256 KiB block and cold 100k x 768): sagevec.kernels
           .distances vs numpy, faiss fvec_*_ny, simsimd and numkong cdist (one thread);
  exact    1000 x 100k exact k=10 search at d=128 and 784: sagevec.kernels.knn vs faiss
           IndexFlatL2 on its BLAS path (one call) and its SIMD path (nq·d below the
           threshold), at each thread count;
  hnsw     M=16, ef_construction=200 graphs on every data set: build time (add +
           wait_for_builds for sagevec, every row checked to be in its graph), recall@10
           and batch QPS over an ef sweep (warm blocks of >= SWEEP_BLOCK_S per engine,
           interleaved), QPS interpolated at recall@10 = 0.95, at each thread count;
  threads  single-query search from 1 and N Python threads on the graphs of `hnsw`;
  mix      90% search / 10% add from Python threads (index_mix.py's schedule) beside a
           read-only run of the same index, and single-row adds alone: ops/s, search
           p50/p99 and thread CPU time (mix / read-only), add p50/p99 and adds/s, the
           share of just-added vectors a self-query finds, the share of acknowledged
           adds that get() returns, and the calls that failed, per kind.

Data sets (``--datasets``): ``fashion-mnist`` (../shared/data/fashion-mnist-784-l2:
20000 x 784, 1000 held-out queries, exact ground truth), ``clustered`` (seeded
gaussian clusters from hnsw_peers.py, 100000 x 128 by default) and ``minilm``
(../shared/data/debian-minilm-384-cosine: 50000 x 384 text embeddings, cosine, 1000
queries, exact ground truth).

Writes ``--out`` (default bench-out/compare): results.json (every figure, the machine,
versions, commit, command, load), report.md (tables with ratios against the best peer
and whether each target is met) and PNG plots. ``--publish`` also copies the tables into
BENCHMARKS.md (between its results markers) and the plots into benches/results/.
Every timing is a median of several runs, engines interleaved within each run.
"""

from __future__ import annotations

import os
import sys

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def _max_threads_from_argv() -> int:
    """The largest of `--threads 1,2` (default 2), read before numpy/faiss load."""
    argv = sys.argv[1:]
    value = "1,2"
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
    try:
        return max(int(x) for x in value.split(",") if x.strip())
    except ValueError:
        return 2  # argparse reports the bad value


if __name__ == "__main__":
    # BLAS and OpenMP read these when they load: allow the most threads any run uses;
    # each run then sets its own count (faiss.omp_set_num_threads in its own thread).
    for _var in THREAD_ENV_VARS:
        os.environ[_var] = str(_max_threads_from_argv())

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import sagevec  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

# faiss_kernels imports simsimd and numkong: they must load before usearch (importing
# usearch first breaks simsimd), which hnsw_peers and index_mix import lazily.
import faiss_kernels as fk  # noqa: E402
import hnsw_peers  # noqa: E402
import index_mix  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
FMNIST_DIR = "fashion-mnist-784-l2"
MINILM_DIR = "debian-minilm-384-cosine"
SECTIONS = ("kernels", "exact", "hnsw", "threads", "mix")
DATASETS = ("fashion-mnist", "clustered", "minilm")
K = 10
M = 16
EF_CONSTRUCTION = 200
TARGET_RECALL = 0.95
EF_LADDER = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
QUICK_EF = [10, 32, 128, 384]
KERNEL_DIM = 768
KERNEL_HOT_BYTES = 256 * 1024
SWEEP_BLOCK_S = 0.25  # shortest timed block of one engine in the HNSW sweep
PAUSE_S = 0.05  # between timed blocks: lets OpenMP/OpenBLAS workers stop spinning
SLOW_CALL_S = 20.0  # an exact-search call slower than this is timed once
PACKAGES = ("sagevec", "numpy", "faiss-cpu", "hnswlib", "usearch", "simsimd", "numkong", "matplotlib", "threadpoolctl")


# ----------------------------------------------------------------------------- setup


@dataclass
class Settings:
    """Sizes and repetitions of one run (`--quick` or full)."""

    quick: bool
    threads: list[int]
    runs: int  # timed runs per measurement (median)
    sweep_runs: int  # timed runs per point of the HNSW ef sweep (median)
    build_runs: int
    kernel_cold_rows: int
    exact_base: int
    exact_queries: int
    exact_dims: list[int]
    fmnist_rows: int | None  # None: all 20000
    minilm_rows: int | None  # None: all 50000
    queries: int
    clustered: tuple[int, int, int]  # rows, dim, clusters
    ef: list[int]
    mix_ops: int
    mix_add_ops: int  # single-row adds of the add-only run of each round
    mix_rounds: int
    mix_base: int


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    clustered = [int(x) for x in (args.clustered or ("10000,128,100" if quick else "100000,128,100")).split(",")]
    if len(clustered) == 2:
        clustered.append(100)
    return Settings(
        quick=quick,
        threads=[int(x) for x in args.threads.split(",")],
        runs=args.runs or (1 if quick else 3),
        sweep_runs=args.sweep_runs or (1 if quick else 3),
        build_runs=args.build_runs or 1,
        kernel_cold_rows=20_000 if quick else 100_000,
        exact_base=20_000 if quick else 100_000,
        exact_queries=1_000,
        exact_dims=[128, 784],
        fmnist_rows=args.fmnist_rows or (2_000 if quick else None),
        minilm_rows=args.minilm_rows or (10_000 if quick else None),
        queries=args.queries or (200 if quick else 1_000),
        clustered=(clustered[0], clustered[1], clustered[2]),
        ef=[int(x) for x in args.ef.split(",")] if args.ef else (QUICK_EF if quick else EF_LADDER),
        mix_ops=args.mix_ops or (4_000 if quick else 30_000),
        mix_add_ops=args.mix_add_ops or (200 if quick else 1_000),
        mix_rounds=args.mix_rounds or (1 if quick else 3),
        mix_base=50_000,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench-out" / "compare", help="output directory (default: bench-out/compare)"
    )
    ap.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)"
    )
    ap.add_argument(
        "--datasets", default=",".join(DATASETS), help=f"comma-separated subset of {','.join(DATASETS)} (default: all)"
    )
    ap.add_argument("--threads", default="1,2", help="thread counts (default: 1,2)")
    ap.add_argument(
        "--quick", action="store_true", help="small sizes, few ef points, one run: checks the script works (~3 min)"
    )
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA,
        help=f"shared data directory holding {FMNIST_DIR}/ and {MINILM_DIR}/ (default: ../shared/data)",
    )
    ap.add_argument("--clustered", help="N,DIM[,CLUSTERS] of the synthetic set (default 100000,128,100)")
    ap.add_argument("--fmnist-rows", type=int, help="first N base rows of fashion-mnist (default: all; quick 2000)")
    ap.add_argument("--minilm-rows", type=int, help="first N base rows of minilm (default: all; quick 10000)")
    ap.add_argument("--queries", type=int, help="queries per data set (default 1000; quick 200)")
    ap.add_argument("--ef", help="ef values of the HNSW sweep, comma-separated")
    ap.add_argument(
        "--runs",
        type=int,
        help="timed runs per exact-search measurement, median (default 3; quick 1); kernels: at least 5",
    )
    ap.add_argument("--sweep-runs", type=int, help="timed runs per HNSW ef point, median (default 3; quick 1)")
    ap.add_argument("--build-runs", type=int, help="HNSW builds per engine and thread count, median (default 1)")
    ap.add_argument("--mix-ops", type=int, help="operations per mix run (default 30000; quick 4000)")
    ap.add_argument(
        "--mix-add-ops", type=int, help="single-row adds per add-only run of the mix section (default 1000; quick 200)"
    )
    ap.add_argument("--mix-rounds", type=int, help="read-only + mix runs per engine (default 3)")
    ap.add_argument("--seed", type=int, default=20240501, help="seed of the synthetic data")
    ap.add_argument(
        "--publish", action="store_true", help="copy the tables into BENCHMARKS.md and the plots into benches/results/"
    )
    ap.add_argument(
        "--report-only", action="store_true", help="measure nothing: redo report.md and the plots from OUT/results.json"
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        help="results.json of a run before this change (same machine, run back to back): adds the targets "
        "'bulk build time and QPS at recall 0.95 no worse than before'",
    )
    args = ap.parse_args(argv)
    for name, allowed in (("sections", SECTIONS), ("datasets", DATASETS)):
        bad = set(getattr(args, name).split(",")) - set(allowed)
        if bad:
            ap.error(f"--{name}: unknown {', '.join(sorted(bad))}")
    return args


# ----------------------------------------------------------------------------- machine


def run_text(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def lscpu_summary(text: str) -> dict[str, str]:
    wanted = (
        "Model name",
        "CPU(s)",
        "Thread(s) per core",
        "Core(s) per socket",
        "Socket(s)",
        "NUMA node(s)",
        "L1d cache",
        "L2 cache",
        "L3 cache",
        "Hypervisor vendor",
    )
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in wanted:
            fields[key.strip()] = value.strip()
        if key.strip() == "Flags":
            flags = set(value.split())
            fields["SIMD flags"] = " ".join(
                f
                for f in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16")
                if f in flags
            )
    return fields


def mem_total_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal"))
        return round(kib / 2**20, 1)
    except (OSError, StopIteration):
        return float("nan")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    return out


def git_info() -> dict[str, Any]:
    """The checkout's commit and uncommitted files, and what setup.sh built the wheel from."""
    dirty = [line[3:] for line in run_text(["git", "status", "--porcelain", "--untracked-files=no"]).splitlines()]
    source = Path(sys.prefix) / ".sagevec-wheel-source"
    return {
        "commit": run_text(["git", "rev-parse", "HEAD"]).strip(),
        "dirty_files": dirty,
        "wheel_source": source.read_text().strip() if source.exists() else "unknown (not built by setup.sh)",
    }


def command_line() -> str:
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(ROOT) if exe.is_relative_to(ROOT) else exe
    except ValueError:
        pass
    return shlex.join([str(exe), *sys.argv])


def machine_info() -> dict[str, Any]:
    lscpu = run_text(["lscpu"])
    import faiss

    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    return {
        "lscpu": lscpu_summary(lscpu),
        "lscpu_full": lscpu,
        "cpus_usable": len(os.sched_getaffinity(0)),
        "mem_gib": mem_total_gib(),
        "kernel": platform.release(),
        "sagevec_isa": sagevec.active_isa(),
        "sagevec_isas": sagevec.available_isas(),
        "faiss_compile": faiss.get_compile_options().strip(),
        "faiss_blas_threshold": int(faiss.cvar.distance_compute_blas_threshold),
        "numpy_blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "threadpools": [
            {k: i.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "filepath")}
            for i in threadpool_info()
        ],
    }


def load_now() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ----------------------------------------------------------------------------- data


@dataclass
class Dataset:
    name: str
    base: np.ndarray
    queries: np.ndarray
    truth: np.ndarray  # exact top-K ids per query
    source: str
    metric: str = "l2"  # sagevec's name; peers.py maps it to each library's
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": int(self.base.shape[0]),
            "dim": int(self.base.shape[1]),
            "queries": int(self.queries.shape[0]),
            "metric": self.metric,
            "source": self.source,
            **self.info,
        }


def load_fashion_mnist(data_dir: Path, rows: int | None, n_queries: int) -> Dataset:
    d = data_dir / FMNIST_DIR
    base = hnsw_peers.load(str(d / "base.npy"))
    queries = hnsw_peers.load(str(d / "queries.npy"))[:n_queries]
    info: dict[str, Any] = {}
    if rows is None or rows >= base.shape[0]:
        truth = np.load(d / "gt_ids.npy")[:n_queries, :K].astype(np.int64)
        found = peers.exact_knn(base, queries)
        info["faiss_exact_vs_gt_recall"] = peers.recall(found, truth)
    else:
        base = np.ascontiguousarray(base[:rows])
        truth = peers.exact_knn(base, queries)
    return Dataset("fashion-mnist", base, queries, truth, f"{d} (raw pixels, L2)", info=info)


def load_minilm(data_dir: Path, rows: int | None, n_queries: int) -> Dataset:
    """Debian package descriptions embedded by paraphrase-MiniLM-L3-v2 (unit rows, cosine):
    the shipped exact ground truth for the whole base, faiss's exact cosine on a prefix."""
    d = data_dir / MINILM_DIR
    base = hnsw_peers.load(str(d / "base.npy"))
    queries = hnsw_peers.load(str(d / "queries.npy"))[:n_queries]
    norms = np.linalg.norm(np.concatenate([base, queries]), axis=1)
    info: dict[str, Any] = {"max_norm_error": float(np.abs(norms - 1.0).max())}
    if rows is None or rows >= base.shape[0]:
        truth = np.load(d / "gt_ids.npy")[:n_queries, :K].astype(np.int64)
        found = peers.exact_knn(base, queries, "cosine")
        info["faiss_exact_vs_gt_recall"] = peers.recall(found, truth)
    else:
        base = np.ascontiguousarray(base[:rows])
        truth = peers.exact_knn(base, queries, "cosine")
    return Dataset("minilm", base, queries, truth, f"{d} (text embeddings, cosine)", metric="cosine", info=info)


def make_clustered(n: int, dim: int, clusters: int, n_queries: int, seed: int) -> Dataset:
    base, queries = hnsw_peers.clustered(n, n_queries, dim, clusters, seed)
    truth = peers.exact_knn(base, queries)
    return Dataset(
        "clustered",
        base,
        queries,
        truth,
        f"hnsw_peers.clustered: {clusters} gaussian clusters (centres U[-1,1]^{dim}, sigma 0.5), seed {seed}",
        info={"clusters": clusters, "seed": seed},
    )


# ----------------------------------------------------------------------------- engines


class Sagevec:
    """sagevec behind peers.py's engine interface. `threads=` of the index caps both
    its graph build and its batch searches, so an index serves one thread count."""

    name = "sagevec"

    def __init__(
        self, metric: str, dim: int, m: int = M, efc: int = EF_CONSTRUCTION, capacity: int = 0, k: int = K
    ) -> None:
        self.metric, self.dim, self.m, self.efc, self.k = metric, dim, m, efc, k
        self.threads, self.ef = 0, 64

    def build(self, base: np.ndarray, threads: int) -> None:
        # One add of every row (the parallel batch builder on an empty index), then the
        # wait for background work: the build time compare.py reports is both.
        self.index = sagevec.Index(self.dim, self.metric, m=self.m, ef_construction=self.efc, threads=threads)
        self.index.add(base)
        self.index.wait_for_builds()
        self.threads = threads

    def check_graph(self, rows: int) -> dict[str, Any]:
        """The live graph holds a slot for each of the `rows` rows added and none removed."""
        return check_graph(self.index, rows)

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    def batch(self, queries: np.ndarray, threads: int) -> np.ndarray:
        assert threads == self.threads, "a sagevec index searches on the pool it was built with"
        ids, _ = self.index.batch_search(queries, self.k, ef=self.ef)
        return ids

    def search(self, q: np.ndarray) -> Any:
        return self.index.search(q, self.k, ef=self.ef)

    @staticmethod
    def ids(result: Any) -> np.ndarray:
        return result[0]


ENGINES: dict[str, Callable[..., Any]] = {"sagevec": Sagevec, **peers.PEERS}


def check_graph(index: Any, rows: int) -> dict[str, Any]:
    """Raises unless sagevec's live graph holds exactly `rows` slots, none removed, and
    the index `rows` rows (after `wait_for_builds()` returned); the graph's stats.

    A wheel from before the live graph (`setup.sh --commit OLD`, to measure the run a
    `--baseline` compares with) has segment counts instead: there every row must be in
    one graph segment, as the compare.py of that time checked."""
    stats = index.stats()
    if "graph" not in stats and "segments" in stats:
        if stats["len"] != rows or stats["segments"] != {"growing": 0, "flat": 0, "graph": 1}:
            raise RuntimeError(f"sagevec: expected {rows} rows in one graph segment, got {stats['segments']}")
        return stats["segments"]
    graph = stats["graph"]
    if stats["len"] != rows or graph["slots"] != rows or graph["removed_slots"] != 0:
        raise RuntimeError(f"sagevec: expected {rows} rows in the graph, got len {stats['len']}, graph {graph}")
    return graph


class SagevecMix:
    """sagevec behind peers.py's engine interface, configured for the 90/10 mix: single
    adds go straight into the live graph, searches run on the caller's thread."""

    name = "sagevec"

    def __init__(
        self, metric: str, dim: int, m: int = M, efc: int = EF_CONSTRUCTION, capacity: int = 0, k: int = K
    ) -> None:
        self.version = sagevec.__version__
        self.metric, self.dim, self.m, self.efc, self.ef = metric, dim, m, efc, 64

    def build(self, base: np.ndarray, threads: int) -> None:
        self.index = sagevec.Index(self.dim, self.metric, m=self.m, ef_construction=self.efc, threads=threads)
        self.index.add(base)
        self.index.wait_for_builds()
        check_graph(self.index, base.shape[0])

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    def batch(self, queries: np.ndarray, threads: int) -> np.ndarray:
        return self.index.batch_search(queries, K, ef=self.ef)[0]

    def add(self, key: int, v2d: np.ndarray, key_arr: np.ndarray) -> None:
        self.index.add(v2d, ids=key_arr)

    def get(self, key: int) -> np.ndarray | None:
        try:
            return self.index.get(key)[0]  # (vector, metadata); unit-normalised under cosine
        except KeyError:
            return None

    def search(self, q: np.ndarray) -> Any:
        return self.index.search(q, K, ef=self.ef)

    @staticmethod
    def ids(result: Any) -> np.ndarray:
        return result[0]

    def drain(self) -> float:
        """Waits for background work (compaction, repair); returns the seconds waited."""
        t0 = time.perf_counter()
        self.index.wait_for_builds()
        return time.perf_counter() - t0


MIX_ENGINES: dict[str, Callable[..., Any]] = {
    "sagevec": SagevecMix,
    "hnswlib": peers.Hnswlib,
    "usearch": peers.Usearch,
}


# ----------------------------------------------------------------------------- helpers


def pause() -> None:
    time.sleep(PAUSE_S)


def log(msg: str) -> None:
    print(msg, flush=True)


def rotated(items: list[Any], by: int) -> list[Any]:
    by %= max(1, len(items))
    return items[by:] + items[:by]


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def qps_at_recall(points: list[dict[str, float]], target: float) -> dict[str, Any] | None:
    """QPS at `target` recall on one engine's sweep (points in ef order): log-linear
    interpolation between the last point below and the first at or above the target;
    the first point itself if it is already above (then the figure is a lower bound)."""
    for i, p in enumerate(points):
        if p["recall"] >= target:
            if i == 0:
                return {"qps": p["qps"], "ef": [p["ef"]], "bound": "lower (first ef already above)"}
            lo = points[i - 1]
            frac = (target - lo["recall"]) / (p["recall"] - lo["recall"])
            qps = math.exp(math.log(lo["qps"]) + frac * (math.log(p["qps"]) - math.log(lo["qps"])))
            return {"qps": qps, "ef": [lo["ef"], p["ef"]], "bound": "interpolated"}
    return None


def smallest_ef_at(points: list[dict[str, float]], target: float) -> int | None:
    return next((int(p["ef"]) for p in points if p["recall"] >= target), None)


def load_py_threads() -> ModuleType:
    """benches/python/threads.py (its threads_qps), loaded by path."""
    path = ROOT / "benches" / "python" / "threads.py"
    spec = importlib.util.spec_from_file_location("sagevec_bench_threads", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Section:
    """Prints and records how busy the machine is before and during a section."""

    def __init__(self, name: str, results: dict[str, Any]) -> None:
        self.name, self.results = name, results

    def __enter__(self) -> dict[str, Any]:
        load = load_now()
        log(f"\n=== {self.name}: load average {load[0]} {load[1]} {load[2]} ({os.cpu_count()} CPUs)")
        self.out: dict[str, Any] = {"load_before": load}
        self.snap = index_mix.cpu_snapshot()
        self.t0 = time.perf_counter()
        return self.out

    def __exit__(self, *exc: object) -> None:
        self.out["seconds"] = round(time.perf_counter() - self.t0, 1)
        self.out["other_processes_cores"] = round(index_mix.others_since(self.snap), 3)
        self.out["load_after"] = load_now()
        self.results["sections"][self.name] = self.out
        log(
            f"=== {self.name}: {self.out['seconds']} s; other processes used "
            f"{self.out['other_processes_cores']} cores meanwhile"
        )


# ----------------------------------------------------------------------------- kernels


def sagevec_kernel_impls(rows: np.ndarray, q: np.ndarray) -> dict[str, fk.Impl]:
    ref = fk.l2_reference(rows, q)
    got = sagevec.kernels.distances(q, rows, "l2")
    assert np.abs(got - ref).max() < 1e-4 * ref.max(), "sagevec l2 disagrees"
    # out= writes into a preallocated buffer, as faiss's fvec_* calls do.
    out = np.empty(rows.shape[0], dtype=np.float32)
    sagevec.kernels.distances(q, rows, "l2", out=out)
    assert np.abs(out - ref).max() < 1e-4 * ref.max(), "sagevec l2 (out=) disagrees"
    return {
        "sagevec kernels.distances l2": fk.Impl(lambda: sagevec.kernels.distances(q, rows, "l2"), "allocates out"),
        "sagevec kernels.distances l2 out=": fk.Impl(lambda: sagevec.kernels.distances(q, rows, "l2", out=out)),
        "sagevec kernels.distances ip": fk.Impl(lambda: sagevec.kernels.distances(q, rows, "ip"), "allocates out"),
        "sagevec kernels.distances ip out=": fk.Impl(lambda: sagevec.kernels.distances(q, rows, "ip", out=out)),
    }


def kernel_case(
    case: str, rows: np.ndarray, q: np.ndarray, s: Settings, min_run_s: float, include_index: bool
) -> list[dict[str, Any]]:
    impls = {**sagevec_kernel_impls(rows, q), **fk.one_to_many_impls(rows, q, include_index)}
    samples = fk.seconds_interleaved({k: v.fn for k, v in impls.items()}, max(s.runs, 5), min_run_s)
    n, d = rows.shape
    out = []
    for name, impl in impls.items():
        sec = median(samples[name])
        out.append(
            {
                "case": case,
                "impl": name,
                "metric": kernel_metric(name),
                "seconds": sec,
                "gbps": rows.nbytes / sec / 1e9,
                "gflops": 2 * n * d / sec / 1e9,
                "runs": len(samples[name]),
                "note": impl.note,
            }
        )
        log(f"  {case[:4]} {name:<52} {rows.nbytes / sec / 1e9:8.1f} GB/s")
    return out


def kernel_metric(impl: str) -> str:
    """l2 or dot: which distance an implementation computes (for the target rows)."""
    return "l2" if "l2" in impl.lower() or "sqeuclidean" in impl else "dot"


def section_kernels(s: Settings, out: dict[str, Any]) -> None:
    # One thread for every BLAS and OpenMP runtime loaded (numpy's OpenBLAS included).
    with threadpool_limits(1):
        kernel_cases(s, out)


def kernel_cases(s: Settings, out: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    d = KERNEL_DIM
    hot = fk.rng_rows(rng, KERNEL_HOT_BYTES // (d * 4), d)
    q = fk.rng_rows(rng, 1, d)[0]
    rows = kernel_case(f"hot: 1 x {hot.shape[0]} rows, d={d} (256 KiB, in L2)", hot, q, s, 0.2, True)
    cold = fk.rng_rows(rng, s.kernel_cold_rows, d)
    rows += kernel_case(
        f"cold: 1 x {s.kernel_cold_rows // 1000}k rows, d={d} ({cold.nbytes / 1e6:.0f} MB, from memory)",
        cold,
        q,
        s,
        0.5,
        False,
    )
    out.update({"threads": 1, "dim": d, "rows": rows})


# ----------------------------------------------------------------------------- exact


def set_faiss_threads(t: int) -> None:
    import faiss

    faiss.omp_set_num_threads(t)


def exact_case(d: int, s: Settings, threshold: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    base = fk.rng_rows(rng, s.exact_base, d)
    xq = fk.rng_rows(rng, s.exact_queries, d)
    index = fk.faiss_flat(base)
    rows = []
    for t in s.threads:
        with threadpool_limits(t):
            rows += exact_at_threads(d, t, base, xq, index, s, threshold)
    return rows


def exact_at_threads(
    d: int, t: int, base: np.ndarray, xq: np.ndarray, index: Any, s: Settings, threshold: int
) -> list[dict[str, Any]]:
    """sagevec's knn and faiss's two paths at `t` threads, interleaved."""
    set_faiss_threads(t)
    calls = {
        f"sagevec kernels.knn Q={len(xq)}": fk.KnnCall(
            lambda: sagevec.kernels.knn(xq, base, k=K, threads=t), len(xq), "fused kernel"
        )
    }
    calls.update(fk.faiss_knn_calls(index, xq, threshold, K))
    # The warm-up call of each: its CPU use, and sagevec's ids against faiss's (BLAS, all queries).
    first = {name: busy_call(c.fn) for name, c in calls.items()}
    sv_name, faiss_all = next(iter(calls)), list(calls)[1]
    agreement = peers.recall(first[sv_name][2][0], first[faiss_all][2][1])
    # A call slower than SLOW_CALL_S is timed once (its first call): repeating it would
    # take minutes and change nothing that matters at that size.
    slow = {name: [first[name][1]] for name in calls if first[name][1] > SLOW_CALL_S}
    samples = fk.seconds_interleaved(
        {k: c.fn for k, c in calls.items() if k not in slow}, s.runs, 0.0, warm_up=False, between=pause
    )
    samples.update(slow)
    rows = []
    for name, c in calls.items():
        sec = median(samples[name])
        sv = name == sv_name
        busy = first[name][0]
        rows.append(
            {
                "dim": d,
                "threads": t,
                "impl": name,
                "path": c.path,
                "queries": c.n_queries,
                "base": s.exact_base,
                "seconds": sec,
                "qps": c.n_queries / sec,
                "gflops": 2 * s.exact_base * d * c.n_queries / sec / 1e9,
                "runs": len(samples[name]),
                "samples_s": samples[name],
                "note": c.note,
                "cores_busy": busy,
                "engine": "sagevec" if sv else "faiss",
                "ids_agree_with_faiss": agreement if sv else None,
            }
        )
        log(f"  d={d} t={t} {name:<70} {c.n_queries / sec:10,.0f} QPS ({busy} cores busy)")
    return rows


def busy_call(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(process CPU time / wall time, wall seconds, result) of one call: checks that a
    run used the threads it was given (spinning OpenMP workers count too, other
    processes do not)."""
    pause()
    c0, t0 = os.times(), time.perf_counter()
    result = fn()
    c1, wall = os.times(), time.perf_counter() - t0
    return round((c1.user + c1.system - c0.user - c0.system) / wall, 2), wall, result


def section_exact(s: Settings, out: dict[str, Any], threshold: int) -> None:
    rng = np.random.default_rng(11)
    rows = []
    for d in s.exact_dims:
        rows += exact_case(d, s, threshold, rng)
    out.update(
        {
            "k": K,
            "base": s.exact_base,
            "queries": s.exact_queries,
            "data": "uniform [-1, 1)",
            "blas_threshold": threshold,
            "rows": rows,
        }
    )


# ----------------------------------------------------------------------------- hnsw


class Graphs:
    """Built HNSW engines by (data set, engine, threads), shared by `hnsw` and `threads`."""

    def __init__(self) -> None:
        self.built: dict[tuple[str, str, int], Any] = {}
        self.build_s: dict[tuple[str, str, int], list[float]] = {}

    def build(self, ds: Dataset, name: str, t: int) -> float:
        engine = ENGINES[name](ds.metric, ds.base.shape[1], M, EF_CONSTRUCTION)
        t0 = time.perf_counter()
        engine.build(ds.base, t)
        sec = time.perf_counter() - t0
        if name == "sagevec":
            engine.check_graph(ds.base.shape[0])
        self.built[(ds.name, name, t)] = engine
        self.build_s.setdefault((ds.name, name, t), []).append(sec)
        return sec

    def get(self, ds: Dataset, name: str, t: int) -> Any:
        if (ds.name, name, t) not in self.built:
            self.build(ds, name, t)
        return self.built[(ds.name, name, t)]


def hnsw_builds(ds: Dataset, s: Settings, graphs: Graphs) -> list[dict[str, Any]]:
    names = list(ENGINES)
    for run in range(s.build_runs):
        for t in s.threads:
            for name in rotated(names, run):
                pause()
                sec = graphs.build(ds, name, t)
                log(f"  {ds.name}: {name:<8} build t={t}: {sec:7.2f} s")
    rows = []
    for t in s.threads:
        for name in names:
            samples = graphs.build_s[(ds.name, name, t)]
            rows.append(
                {
                    "engine": name,
                    "threads": t,
                    "seconds": median(samples),
                    "samples_s": samples,
                    "rows_per_s": ds.base.shape[0] / median(samples),
                }
            )
    return rows


def hnsw_sweep(ds: Dataset, s: Settings, graphs: Graphs, t: int) -> dict[str, list[dict[str, float]]]:
    """recall@10 and batch QPS per engine over the ef ladder, engines interleaved in
    each run; stops once every engine is past 0.995 recall."""
    names = list(ENGINES)
    curves: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for ef in s.ef:
        engines = {n: graphs.get(ds, n, t) for n in names}
        for e in engines.values():
            e.set_ef(ef)
        found = {n: e.batch(ds.queries, t) for n, e in engines.items()}  # warm-up + recall
        calls = {n: (lambda e=e: e.batch(ds.queries, t)) for n, e in engines.items()}
        # Each timed block repeats one engine's batch for at least SWEEP_BLOCK_S after
        # an untimed call: steady-state throughput, as ann-benchmarks times warm
        # repeated runs. A single ~20 ms call right after another engine's measured
        # mostly the refill of caches that engine had evicted, and timer noise.
        samples = fk.seconds_interleaved(calls, s.sweep_runs, SWEEP_BLOCK_S, warm_up=True, between=pause)
        for n in names:
            qps = ds.queries.shape[0] / median(samples[n])
            r = peers.recall(found[n], ds.truth)
            curves[n].append({"ef": ef, "recall": r, "qps": qps, "runs": len(samples[n]), "samples_s": samples[n]})
        log(
            f"  {ds.name} t={t} ef={ef:<4} "
            + "  ".join(f"{n} {curves[n][-1]['recall']:.3f}/{curves[n][-1]['qps']:,.0f}" for n in names)
        )
        if all(c[-1]["recall"] >= 0.995 for c in curves.values()):
            break
    return curves


def section_hnsw(s: Settings, out: dict[str, Any], datasets: list[Dataset], graphs: Graphs) -> None:
    per_ds = {}
    for ds in datasets:
        builds = hnsw_builds(ds, s, graphs)
        sweeps = {str(t): hnsw_sweep(ds, s, graphs, t) for t in s.threads}
        at_target = {t: {n: qps_at_recall(c, TARGET_RECALL) for n, c in curves.items()} for t, curves in sweeps.items()}
        per_ds[ds.name] = {"data": ds.describe(), "builds": builds, "sweeps": sweeps, "at_target": at_target}
    out.update(
        {
            "m": M,
            "ef_construction": EF_CONSTRUCTION,
            "k": K,
            "target_recall": TARGET_RECALL,
            "runs": s.sweep_runs,
            "block_s": SWEEP_BLOCK_S,
            "build_runs": s.build_runs,
            "datasets": per_ds,
        }
    )


# ----------------------------------------------------------------------------- threads


def ef_for_target(
    ds: Dataset, name: str, engine: Any, t: int, results: dict[str, Any], s: Settings
) -> tuple[int, float]:
    """The smallest ef of the ladder whose batch recall@10 reaches the target, from
    the `hnsw` sweep when it ran, else measured here; and that recall."""
    sweep = (
        results["sections"]
        .get("hnsw", {})
        .get("datasets", {})
        .get(ds.name, {})
        .get("sweeps", {})
        .get(str(t), {})
        .get(name)
    )
    if sweep is None:
        sweep = []
        for ef in EF_LADDER:
            engine.set_ef(ef)
            sweep.append({"ef": ef, "recall": peers.recall(engine.batch(ds.queries, t), ds.truth)})
            if sweep[-1]["recall"] >= TARGET_RECALL:
                break
    ef = smallest_ef_at(sweep, TARGET_RECALL)
    if ef is None:
        ef = int(sweep[-1]["ef"])
    return ef, next(p["recall"] for p in sweep if p["ef"] == ef)


def section_threads(
    s: Settings, out: dict[str, Any], datasets: list[Dataset], graphs: Graphs, results: dict[str, Any]
) -> None:
    py_threads = load_py_threads()
    t_build = max(s.threads)
    rounds = 3 if s.quick else 5
    per_ds = {}
    for ds in datasets:
        rows = list(ds.queries)
        fns, efs = {}, {}
        for name in ENGINES:
            engine = graphs.get(ds, name, t_build)
            efs[name] = ef_for_target(ds, name, engine, t_build, results, s)
            engine.set_ef(efs[name][0])
            fns[name] = engine.search  # one query, one thread per call
            py_threads.threads_qps(fns[name], rows, 1)  # warm
        samples: dict[str, dict[int, list[float]]] = {n: {t: [] for t in s.threads} for n in fns}
        for r in range(rounds):
            for name in rotated(list(fns), r):
                for t in s.threads if r % 2 == 0 else s.threads[::-1]:
                    pause()
                    samples[name][t].append(py_threads.threads_qps(fns[name], rows, t))
        table = []
        for name in fns:
            q = {t: median(samples[name][t]) for t in s.threads}
            ratios = [b / a for a, b in zip(samples[name][min(s.threads)], samples[name][max(s.threads)])]
            table.append(
                {
                    "engine": name,
                    "ef": efs[name][0],
                    "recall": efs[name][1],
                    "qps": {str(t): v for t, v in q.items()},
                    "ratio": median(ratios),
                    "samples_qps": {str(t): v for t, v in samples[name].items()},
                }
            )
            log(
                f"  {ds.name}: {name:<8} ef={efs[name][0]:<4} "
                + "  ".join(f"{t} thr {v:8,.0f} QPS" for t, v in q.items())
                + f"  ratio {median(ratios):.2f}x"
            )
        per_ds[ds.name] = {"data": ds.describe(), "rows": table}
    out.update({"rounds": rounds, "built_with_threads": t_build, "thread_counts": s.threads, "datasets": per_ds})


# ----------------------------------------------------------------------------- mix


def mix_adds(ops: int, threads: int) -> int:
    """Vectors one index_mix.run_mix run adds: rows 0..adds-1 of its reserve."""
    per_thread = ops // threads
    return threads * math.ceil(per_thread / index_mix.MIX_CYCLE)


def add_only_adds(adds: int, threads: int) -> int:
    """Vectors one index_mix.run_adds run adds (`adds` split evenly over the threads)."""
    return (adds // threads) * threads


def mix_split(ds: Dataset, s: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(base, reserve): the index starts from `base`; the mix and add-only runs add rows
    of `reserve` (more rows of the same set, not in the base)."""
    per_round = max(mix_adds(s.mix_ops, t) + add_only_adds(s.mix_add_ops, t) for t in s.threads)
    need = per_round * s.mix_rounds + 16
    n_base = min(s.mix_base, ds.base.shape[0] - need)
    if n_base < 1000:
        raise ValueError(f"{ds.name}: {ds.base.shape[0]} rows are too few for {need} adds")
    return ds.base[:n_base], ds.base[n_base : n_base + need]


def search_found_after(engine: Any, reserve: np.ndarray, first_id: int, rows: list[int]) -> float:
    """After the runs: share of the acknowledged adds (`rows` of `reserve`) whose vector
    finds its own id in its top 10 (one batch search of them all)."""
    if not rows:
        return float("nan")
    ids = np.asarray(engine.batch(reserve[rows], len(os.sched_getaffinity(0))))
    keys = first_id + np.asarray(rows)
    return float(np.mean([k in row for k, row in zip(keys, ids)]))


def failed_total(runs: list[dict[str, Any]]) -> dict[str, int]:
    """Failed calls per kind over `runs`."""
    out = dict.fromkeys(index_mix.CALL_KINDS, 0)
    for r in runs:
        for kind, n in r["failed"].items():
            out[kind] += n
    return out


def first_errors(runs: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in runs:
        for kind, msg in r["first_error"].items():
            out.setdefault(kind, msg)
    return out


def mix_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds of one engine's read-only or mix runs."""

    def p(r: dict[str, Any], kind: str, q: float) -> float:
        return index_mix.pct_us(r[kind], q)

    ops = [r["ops"] / r["wall"] for r in runs]
    write = runs[0]["write"]
    found, total = sum(r["found"] for r in runs), sum(r["total"] for r in runs)
    acked = sum(len(r["acked_rows"]) for r in runs)
    return {
        "ops_per_s": median(ops),
        "ops_per_s_runs": ops,
        "search_p50_us": median([p(r, "search", 50) for r in runs]),
        "search_p99_us": median([p(r, "search", 99) for r in runs]),
        "search_p999_us": median([p(r, "search", 99.9) for r in runs]),
        "search_cpu_mean_us": median([index_mix.mean_us(r["cpu"]) for r in runs]),
        "search_cpu_p50_us": median([p(r, "cpu", 50) for r in runs]),
        "search_cpu_mean_us_runs": [index_mix.mean_us(r["cpu"]) for r in runs],
        "add_p50_us": median([p(r, "add", 50) for r in runs]) if write else None,
        "add_p99_us": median([p(r, "add", 99) for r in runs]) if write else None,
        "self_found": found / total if total else None,
        "self_found_n": [found, total],
        "acknowledged": acked,
        "get_found": sum(r["get_found"] for r in runs) / acked if write and acked else None,
        "get_found_n": [sum(r.get("get_found", 0) for r in runs), acked],
        "get_mismatched": sum(r.get("get_mismatched", 0) for r in runs),
        "failed": failed_total(runs),
        "errors": sum(r["errors"] for r in runs),
        "others_cores": [round(r["others"], 3) for r in runs],
    }


def add_only_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds of one engine's add-only runs. adds/s: acknowledged adds
    over the run's time plus sagevec's wait for background work after it (its drain)."""
    rates = [len(r["acked_rows"]) / (r["wall"] + r["drain_s"]) for r in runs]
    acked = sum(len(r["acked_rows"]) for r in runs)
    return {
        "adds_per_s": median(rates),
        "adds_per_s_runs": rates,
        "add_p50_us": median([index_mix.pct_us(r["add"], 50) for r in runs]),
        "add_p99_us": median([index_mix.pct_us(r["add"], 99) for r in runs]),
        "cores_busy": median([r["cpu_s"] / r["wall"] for r in runs]),
        "drain_s": [r["drain_s"] for r in runs],
        "acknowledged": acked,
        "get_found": sum(r["get_found"] for r in runs) / acked if acked else None,
        "get_found_n": [sum(r["get_found"] for r in runs), acked],
        "get_mismatched": sum(r["get_mismatched"] for r in runs),
        "failed": failed_total(runs),
        "others_cores": [round(r["others"], 3) for r in runs],
    }


def drain(engine: Any) -> float:
    """sagevec's wait for its background work after a write run (0 for the peers)."""
    return engine.drain() if hasattr(engine, "drain") else 0.0


def check_gets(engine: Any, run: dict[str, Any], reserve: np.ndarray, first_id: int, metric: str) -> None:
    """Right after a write run: how many of its acknowledged adds `get` returns."""
    run["get_found"], run["get_mismatched"] = index_mix.get_found(engine, reserve, first_id, run["acked_rows"], metric)


def mix_engine_row(
    name: str, engine: Any, t: int, ef: int, runs: dict[str, list[dict[str, Any]]], ctx: dict[str, Any]
) -> dict[str, Any]:
    ro, mx, ad = mix_summary(runs["read_only"]), mix_summary(runs["mix"]), add_only_summary(runs["add_only"])
    # Each round's mix run against the read-only run just before it (same index, same ef).
    cpu_ratios = [
        index_mix.mean_us(m["cpu"]) / index_mix.mean_us(r["cpu"])
        for r, m in zip(runs["read_only"], runs["mix"], strict=True)
    ]
    every = runs["read_only"] + runs["mix"] + runs["add_only"]
    failed = failed_total(every)
    writes = runs["mix"] + runs["add_only"]
    acked = sum(len(r["acked_rows"]) for r in writes)
    return {
        "engine": name,
        "threads": t,
        "ef": ef,
        "read_only": ro,
        "mix": mx,
        "add_only": ad,
        "search_cpu_ratio": median(cpu_ratios),
        "search_cpu_ratio_runs": cpu_ratios,
        "get_found": sum(r["get_found"] for r in writes) / acked if acked else None,
        "get_found_n": [sum(r["get_found"] for r in writes), acked],
        "failed": failed,
        "failed_calls": sum(failed.values()),
        "first_error": first_errors(every),
        "search_found_after": search_found_after(engine, ctx["reserve"], ctx["first_id"], ctx["acked"][name]),
        "adds": ctx["offset"][name],
        "drain_s": [r["drain_s"] for r in runs["mix"]],
        "runs": len(runs["mix"]),
    }


def mix_dataset(ds: Dataset, s: Settings) -> dict[str, Any]:
    base, reserve = mix_split(ds, s)
    truth = peers.exact_knn(base, ds.queries, ds.metric)
    cores = len(os.sched_getaffinity(0))
    first_id = base.shape[0]
    efs: dict[str, int] = {}
    table = []
    for t in s.threads:
        engines = {}
        for name, cls in MIX_ENGINES.items():
            pause()
            engine = cls(ds.metric, base.shape[1], M, EF_CONSTRUCTION, capacity=base.shape[0] + reserve.shape[0])
            t0 = time.perf_counter()
            engine.build(base, cores)
            log(f"  {ds.name}: {name} built {base.shape[0]} rows in {time.perf_counter() - t0:.1f} s")
            if name not in efs:
                efs[name] = index_mix.choose_ef(engine, ds.queries, truth, cores)[0]
            engine.set_ef(efs[name])
            engines[name] = engine
        storage = {n: e.storage_rows() for n, e in engines.items() if hasattr(e, "storage_rows")}
        offset = dict.fromkeys(engines, 0)
        acked: dict[str, list[int]] = {n: [] for n in engines}
        runs = {n: {"read_only": [], "mix": [], "add_only": []} for n in engines}
        for r in range(s.mix_rounds):
            for name in rotated(list(engines), r):
                engine, mine = engines[name], runs[name]
                pause()
                mine["read_only"].append(index_mix.run_mix(engine, ds.queries, reserve, first_id, t, s.mix_ops, False))
                for kind in ("mix", "add_only"):
                    pause()
                    o = offset[name]
                    if kind == "mix":
                        res = index_mix.run_mix(engine, ds.queries, reserve[o:], first_id + o, t, s.mix_ops, True)
                        offset[name] += mix_adds(s.mix_ops, t)
                    else:
                        res = index_mix.run_adds(engine, reserve[o:], first_id + o, t, s.mix_add_ops)
                        offset[name] += add_only_adds(s.mix_add_ops, t)
                    check_gets(engine, res, reserve[o:], first_id + o, ds.metric)
                    res["drain_s"] = drain(engine)
                    acked[name] += [o + row for row in res["acked_rows"]]
                    mine[kind].append(res)
        ctx = {"reserve": reserve, "first_id": first_id, "offset": offset, "acked": acked}
        for name, engine in engines.items():
            row = mix_engine_row(name, engine, t, efs[name], runs[name], ctx)
            if name in storage:  # storage that grew while other threads searched
                row["storage_rows_before_after"] = [storage[name], engine.storage_rows()]
            table.append(row)
            mx, ro, ad = row["mix"], row["read_only"], row["add_only"]
            log(
                f"  {ds.name} t={t} {name:<8} mix {mx['ops_per_s']:8,.0f} ops/s p50/p99 {mx['search_p50_us']:.0f}/"
                f"{mx['search_p99_us']:.0f} us, add p50/p99 {mx['add_p50_us']:.0f}/{mx['add_p99_us']:.0f} us"
                f" | read-only {ro['ops_per_s']:8,.0f} ops/s | search CPU {mx['search_cpu_mean_us']:.1f} us ="
                f" {row['search_cpu_ratio']:.2f}x read-only | add-only {ad['adds_per_s']:,.0f} adds/s"
                f" | self-found {fraction(mx['self_found'])} get-found {fraction(row['get_found'])}"
                f" search-found after {fraction(row['search_found_after'])}"
                f" | failed {index_mix.failed_cell(row['failed'])}"
            )
            for kind, msg in row["first_error"].items():
                log(f"    first failed {kind}: {msg}")
        del engines
    return {"data": ds.describe(), "base": int(base.shape[0]), "reserve": int(reserve.shape[0]), "rows": table}


def fraction(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.4f}"


def section_mix(s: Settings, out: dict[str, Any], datasets: list[Dataset]) -> None:
    out.update(
        {
            "ops_per_run": s.mix_ops,
            "add_only_per_run": s.mix_add_ops,
            "rounds": s.mix_rounds,
            "cycle": index_mix.MIX_CYCLE,
            "m": M,
            "ef_construction": EF_CONSTRUCTION,
            "target_recall": TARGET_RECALL,
            "datasets": {ds.name: mix_dataset(ds, s) for ds in datasets},
        }
    )


# ----------------------------------------------------------------------------- main


def load_datasets(names: list[str], s: Settings, args: argparse.Namespace) -> list[Dataset]:
    out = []
    for name in names:
        t0 = time.perf_counter()
        if name == "fashion-mnist":
            ds = load_fashion_mnist(args.data_dir, s.fmnist_rows, s.queries)
        elif name == "minilm":
            ds = load_minilm(args.data_dir, s.minilm_rows, s.queries)
        else:
            n, dim, clusters = s.clustered
            ds = make_clustered(n, dim, clusters, s.queries, args.seed)
        log(
            f"data set {ds.name}: {ds.base.shape[0]} x {ds.base.shape[1]} ({ds.metric}), {ds.queries.shape[0]} queries "
            f"({time.perf_counter() - t0:.1f} s with ground truth)"
        )
        out.append(ds)
    return out


def new_results(s: Settings, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command_line(),
        "mode": "quick" if s.quick else "full",
        "settings": dataclasses.asdict(s),
        "machine": machine_info(),
        "versions": package_versions(),
        "git": git_info(),
        "sections": {},
    }


def run_sections(sections: list[str], s: Settings, args: argparse.Namespace, results: dict[str, Any]) -> None:
    import faiss

    threshold = int(faiss.cvar.distance_compute_blas_threshold)
    graphs = Graphs()
    datasets: list[Dataset] = []
    if {"hnsw", "threads", "mix"} & set(sections):
        datasets = load_datasets(args.datasets.split(","), s, args)
    for name in SECTIONS:
        if name not in sections:
            continue
        with Section(name, results) as out:
            if name == "kernels":
                section_kernels(s, out)
            elif name == "exact":
                section_exact(s, out, threshold)
            elif name == "hnsw":
                section_hnsw(s, out, datasets, graphs)
            elif name == "threads":
                section_threads(s, out, datasets, graphs, results)
            elif name == "mix":
                section_mix(s, out, datasets)
        set_faiss_threads(max(s.threads))
        if name == "threads":
            graphs.built.clear()  # the mix builds its own indexes


def load_baseline(path: Path) -> dict[str, Any]:
    """The figures of an earlier run (`--baseline`) that the 'no worse than before' targets use."""
    return report.baseline_of(json.loads(path.read_text()), str(path))


def main() -> int:
    args = parse_args()
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.json"
    if args.report_only:
        results = json.loads(results_path.read_text())
        if args.baseline:
            results["baseline"] = load_baseline(args.baseline)
        results["targets"] = report.targets(results)  # the goals may have changed since the run
        results_path.write_text(json.dumps(results, indent=1, default=float))
    else:
        s = settings_from(args)
        results = new_results(s, args)
        if args.baseline:  # read first: a bad path fails before minutes of measuring
            results["baseline"] = load_baseline(args.baseline)
        log(
            f"compare.py ({results['mode']}): {results['machine']['lscpu'].get('Model name', '?')}, "
            f"{results['machine']['cpus_usable']} CPUs; sagevec {results['versions']['sagevec']} "
            f"({results['machine']['sagevec_isa']}); threads {s.threads}; output {out_dir}"
        )
        t0 = time.perf_counter()
        try:
            run_sections(args.sections.split(","), s, args, results)
        finally:
            results["total_seconds"] = round(time.perf_counter() - t0, 1)
            results["targets"] = report.targets(results)
            results_path.write_text(json.dumps(results, indent=1, default=float))
    pngs = report.write(results, out_dir)
    log(f"\nwrote {results_path}, {out_dir / 'report.md'} and the plots ({results.get('total_seconds')} s)")
    if args.publish:
        report.publish(results, out_dir, pngs, ROOT)
        log(f"published into {ROOT / 'BENCHMARKS.md'} and {ROOT / 'benches' / 'results'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
