#!/usr/bin/env python3
"""sagevec from Python: threads, per-call cost, a busy Python thread, and the
Python layer against the Rust core (issue 6's benchmarks).

    PYTHONPATH=bindings/python/python .venv-bench/bin/python benches/python/threads.py

(see README.md for why that PYTHONPATH, and for what each part measures).

(a) threads: 1 and 2 Python threads, each calling single-query ``search`` in a
    loop over its share of the queries, against one ``batch_search`` of the
    same queries; the same for hnswlib / faiss / usearch where installed.
(b) per call: one single-query ``search`` on a 64-vector index (median of
    many), the same for the peers, and for the Rust core.
(c) busy thread: ``batch_search`` alone and while a pure-Python thread spins.
(d) Python vs Rust: ``batch_search`` QPS and single-query cost from Python
    against the Rust core (``core_qps/``) on the very same saved index.

Numbers are medians over rounds; the machine's load average is printed, since
other processes on a small box skew thread scaling above all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# numpy's OpenBLAS pool is not used here; keep its threads from spinning
# beside the pools being measured (set before numpy is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

try:
    import sagevec
except ImportError:  # run from a checkout without installing: use the in-tree package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python" / "python"))
    import sagevec

ROOT = Path(__file__).resolve().parents[2]
# The peer engines and ground truth every Python bench shares.
sys.path.insert(0, str(ROOT / "benches" / "compare"))
import peers as peer_engines  # noqa: E402

CORE_DIR = Path(__file__).resolve().parent / "core_qps"
CORE_TARGET = ROOT / "target" / "python-bench"
CORE_BIN = CORE_TARGET / "release" / "sagevec-python-bench-core"

Search = Callable[[np.ndarray], Any]

# The ids in one single-query result, per library.
IDS_OF: dict[str, Callable[[Any], Any]] = {
    "sagevec": lambda r: r[0],
    **{name: cls.ids for name, cls in peer_engines.PEERS.items()},
}


def clustered(rng: np.random.Generator, n: int, dim: int, centers: np.ndarray) -> np.ndarray:
    """Points around seeded cluster centres (closer to real embeddings than noise)."""
    x = centers[rng.integers(0, len(centers), n)] + rng.standard_normal((n, dim)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def load_avg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# ---------------------------------------------------------------- measuring


def threads_qps(search: Search, rows: list[np.ndarray], n_threads: int) -> float:
    """QPS of ``n_threads`` Python threads, each calling ``search(q)`` for its
    share of ``rows``; timed from a common start to the last thread's end."""
    shares = [rows[i::n_threads] for i in range(n_threads)]
    start = threading.Barrier(n_threads + 1)

    def work(share: list[np.ndarray]) -> None:
        start.wait()
        for q in share:
            search(q)

    threads = [threading.Thread(target=work, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return len(rows) / (time.perf_counter() - t0)


def thread_scaling(search: Search, rows: list[np.ndarray], rounds: int) -> tuple[float, float, float]:
    """(median 1-thread QPS, median 2-thread QPS, median of the per-round
    2/1 ratios): 1 and 2 threads are measured back to back in each round (in
    alternating order), so a burst of load from elsewhere hits both."""
    q1: list[float] = []
    q2: list[float] = []
    threads_qps(search, rows, 1)  # warm
    for r in range(rounds):
        for n in (1, 2) if r % 2 == 0 else (2, 1):
            (q1 if n == 1 else q2).append(threads_qps(search, rows, n))
    return statistics.median(q1), statistics.median(q2), statistics.median(b / a for a, b in zip(q1, q2))


def timed(call: Callable[[], Any], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def per_call_us(search: Search, rows: list[np.ndarray], calls: int, rounds: int) -> float:
    """Median over rounds of the mean time of one ``search(q)`` call (cycling
    through ``rows``), in microseconds; the Python loop itself is included
    (about 0.03 us per iteration)."""
    cycle = (rows * (calls // len(rows) + 1))[:calls]
    for q in cycle[:1000]:
        search(q)
    results = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for q in cycle:
            search(q)
        results.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(results)


def with_spinning_process(call: Callable[[], Any]) -> float:
    """Time of ``call()`` while another process spins: the same demand for a
    core as ``with_spinner``, with no GIL involved (the control)."""
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.05)
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0
    finally:
        p.kill()
        p.wait()


def with_spinner(call: Callable[[], Any]) -> float:
    """Time of ``call()`` while a pure-Python thread spins (takes the GIL
    whenever it can)."""
    stop = threading.Event()
    spins = [0]

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1
        spins[0] = n

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.01)
    try:
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0
    finally:
        stop.set()
        t.join()


# ------------------------------------------------------------------- peers


def peers(
    base: np.ndarray, m: int, ef_construction: int, ef: int, k: int, build_threads: int
) -> dict[str, tuple[Search, Callable[[np.ndarray], Search]]]:
    """For each installed peer: (single-query search on ``base``, a function
    building the same kind of index on other rows and returning its search)."""
    out: dict[str, tuple[Search, Callable[[np.ndarray], Search]]] = {}
    for name, cls in peer_engines.PEERS.items():

        def make(x: np.ndarray, cls: type = cls) -> Search:
            p = cls("l2", x.shape[1], m, ef_construction, k=k)
            p.build(x, build_threads)
            p.set_ef(ef)
            return p.search

        try:
            out[name] = (make(base), make)
        except ImportError:
            pass
    return out


# -------------------------------------------------------------------- core


def core_binary(skip_build: bool) -> Path | None:
    """The Rust core timer, built from the current sources first (a no-op when
    it is up to date) so that it times the same core as the extension; without
    cargo (or with ``--no-core-build``), whatever was built before."""
    cargo = shutil.which("cargo")
    if cargo is None or skip_build:
        return CORE_BIN if CORE_BIN.exists() else None
    print("building the Rust core timer (benches/python/core_qps) ...", file=sys.stderr, flush=True)
    env = {**os.environ, "CARGO_TARGET_DIR": str(CORE_TARGET)}
    r = subprocess.run(
        [cargo, "build", "--release", "-q", "--manifest-path", str(CORE_DIR / "Cargo.toml")],
        env=env,
        check=False,
    )
    return CORE_BIN if r.returncode == 0 and CORE_BIN.exists() else None


def run_core(
    binary: Path, index_dir: Path, queries_file: Path, dim: int, k: int, ef: int, repeats: int, tiny_dir: Path
) -> dict[str, Any]:
    out = subprocess.run(
        [str(binary), str(index_dir), str(queries_file), str(dim), str(k), str(ef), str(repeats), str(tiny_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


# -------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="index rows (default 20000)")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=64, help="search beam, every library (default 64)")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=9, help="rounds per measurement; medians are reported")
    ap.add_argument("--calls", type=int, default=20_000, help="calls per round for the per-call cost")
    ap.add_argument("--core-rounds", type=int, default=5, help="interleaved Python / Rust rounds in (d) (default 5)")
    ap.add_argument("--no-peers", action="store_true", help="skip hnswlib / faiss / usearch")
    ap.add_argument("--no-core", action="store_true", help="skip the Rust core comparison")
    ap.add_argument(
        "--no-core-build",
        action="store_true",
        help="use the Rust core timer as built before (default: cargo build it first, a no-op when fresh)",
    )
    ap.add_argument("--json", type=Path, help="also write every number here")
    args = ap.parse_args()

    # Built (or found) first, so that no build runs during a measurement.
    binary = None if args.no_core else core_binary(args.no_core_build)
    rng = np.random.default_rng(42)
    dim, k, ef = args.dim, args.k, args.ef
    centers = (rng.standard_normal((64, dim)) * 4).astype(np.float32)
    base = clustered(rng, args.n, dim, centers)
    queries = clustered(rng, args.queries, dim, centers)
    rows = list(queries)  # 1-D rows, made once: slicing is not what is measured
    tiny_base = clustered(rng, 64, dim, centers)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    report: dict[str, Any] = {
        "setup": {
            "n": args.n,
            "dim": dim,
            "queries": args.queries,
            "k": k,
            "ef": ef,
            "m": args.m,
            "ef_construction": args.ef_construction,
            "cpus": cpus,
            "isa": sagevec.active_isa(),
            "python": sys.version.split()[0],
            "switch_interval_s": sys.getswitchinterval(),
        }
    }
    print(
        f"# sagevec {sagevec.__version__} ({sagevec.active_isa()}), Python {report['setup']['python']}, "
        f"{cpus} CPUs, load average {load_avg()}"
    )
    print(
        f"# index {args.n} x {dim} clustered, {args.queries} queries, k={k}, ef={ef}, "
        f"m={args.m}, ef_construction={args.ef_construction}, medians of {args.rounds} rounds\n"
    )

    work = Path(tempfile.mkdtemp(prefix="sagevec-bench-"))
    try:
        t0 = time.perf_counter()
        built = sagevec.Index(dim, m=args.m, ef_construction=args.ef_construction, ef_search=ef)
        built.add(base)
        built.wait_for_builds()
        build_s = time.perf_counter() - t0
        built.save(work / "index")
        # Python measures the index the Rust core loads: the same graph, links and all.
        ix = sagevec.Index.load(work / "index", ef_search=ef)
        ix.wait_for_builds()
        tiny = sagevec.Index(dim, ef_search=ef)
        tiny.add(tiny_base)
        tiny.save(work / "tiny")
        queries.tofile(work / "queries.f32")
        stats = ix.stats()
        print(f"sagevec build {build_s:.2f} s, graph {stats['graph']}")

        libs: dict[str, tuple[Search, Callable[[np.ndarray], Search]]] = {
            "sagevec": (lambda q: ix.search(q, k), lambda x: _tiny_sagevec(x, dim, ef, k)),
        }
        if not args.no_peers:
            t0 = time.perf_counter()
            libs.update(peers(base, args.m, args.ef_construction, ef, k, cpus or 1))
            print(
                f"peers built in {time.perf_counter() - t0:.1f} s: {', '.join(n for n in libs if n != 'sagevec') or 'none installed'}"
            )

        # Recall@k of each on these queries (so that speed compares like with like).
        # sagevec's exact kernel (tested against an f64 oracle): no faiss needed, so
        # `--no-peers` runs in a venv without the peers.
        truth, _ = sagevec.kernels.knn(queries, base, k=k)
        recall = {}
        for name, (search, _) in libs.items():
            recall[name] = peer_engines.recall([IDS_OF[name](search(q)) for q in rows], truth, k)

        # (a) threads
        print(
            f"\n## (a) single-query search from N Python threads vs one batch_search "
            f"({args.queries} queries; load average {load_avg()})\n"
        )
        print("| library | recall@10 | 1 thread QPS | 2 threads QPS | 2/1 | batch_search QPS |")
        print("|---|---|---|---|---|---|")
        a: dict[str, Any] = {}
        batch_qps = args.queries / statistics.median(timed(lambda: ix.batch_search(queries, k), args.rounds))
        for name, (search, _) in libs.items():
            q1, q2, ratio = thread_scaling(search, rows, args.rounds)
            a[name] = {"recall": recall[name], "qps_1": q1, "qps_2": q2, "ratio": ratio}
            shown = f"{batch_qps:,.0f}" if name == "sagevec" else "-"
            print(f"| {name} | {recall[name]:.3f} | {q1:,.0f} | {q2:,.0f} | {ratio:.2f}x | {shown} |")
        a["sagevec"]["batch_qps"] = batch_qps
        if binary is not None:
            # Control: the same searches from Rust threads, no Python at all.
            r = run_core(binary, work / "index", work / "queries.f32", dim, k, ef, args.rounds, work / "tiny")
            q1, q2 = statistics.median(r["threads_qps_1"]), statistics.median(r["threads_qps_2"])
            ratio = statistics.median(b / a for a, b in zip(r["threads_qps_1"], r["threads_qps_2"]))
            core_batch_qps = args.queries / statistics.median(r["batch_s"])
            a["rust_core"] = {"qps_1": q1, "qps_2": q2, "ratio": ratio, "batch_qps": core_batch_qps}
            print(
                f"| (control) sagevec Rust core, Rust threads | {recall['sagevec']:.3f} | {q1:,.0f} | {q2:,.0f} "
                f"| {ratio:.2f}x | {core_batch_qps:,.0f} |"
            )
        report["threads"] = a

        # (b) one call on a 64-vector index
        print(
            f"\n## (b) one single-query call on a 64-vector index (mean of {args.calls} calls, "
            f"median of {args.rounds} rounds, libraries in turn)\n"
        )
        print("| library | us per call |")
        print("|---|---|")
        # Round robin over the libraries, so that a burst of outside load does
        # not land on one library's measurements only.
        tiny_searches = {name: make(tiny_base) for name, (_, make) in libs.items()}
        samples: dict[str, list[float]] = {name: [] for name in libs}
        for _ in range(args.rounds):
            for name, search in tiny_searches.items():
                samples[name].append(per_call_us(search, rows[:64], args.calls, 1))
        b = {name: statistics.median(v) for name, v in samples.items()}
        for name, us in b.items():
            print(f"| {name} | {us:.2f} |")
        report["tiny_call_us"] = b

        # (c) a busy Python thread
        print(
            "\n## (c) batch_search while a pure-Python thread spins (takes the GIL whenever it can), "
            "and, as a control, while another process spins (same CPU demand, no GIL)\n"
        )
        print(
            "| pool | queries | alone ms | + Python thread ms | slowdown | + spinning process ms | slowdown | thread / process |"
        )
        print("|---|---|---|---|---|---|---|---|")
        c: list[dict[str, Any]] = []
        ix1 = sagevec.Index.load(work / "index", ef_search=ef, threads=1)
        big = np.ascontiguousarray(np.tile(queries, (8, 1)))
        for pool_name, index in ((f"all {cpus} cores", ix), ("threads=1", ix1)):
            for batch in (queries, big):
                alone, busy, proc = [], [], []
                index.batch_search(batch, k)
                call = lambda index=index, batch=batch: index.batch_search(batch, k)  # noqa: E731
                for _ in range(args.rounds if len(batch) == len(queries) else max(3, args.rounds // 3)):
                    alone.append(timed(call, 1)[0])
                    busy.append(with_spinner(call))
                    proc.append(with_spinning_process(call))
                ma, mb, mp = statistics.median(alone), statistics.median(busy), statistics.median(proc)
                c.append(
                    {
                        "pool": pool_name,
                        "queries": len(batch),
                        "alone_s": ma,
                        "busy_thread_s": mb,
                        "busy_process_s": mp,
                        "slowdown": mb / ma,
                        "slowdown_process": mp / ma,
                        "thread_vs_process": mb / mp,
                    }
                )
                print(
                    f"| {pool_name} | {len(batch)} | {ma * 1e3:.1f} | {mb * 1e3:.1f} | {mb / ma:.2f}x "
                    f"| {mp * 1e3:.1f} | {mp / ma:.2f}x | {mb / mp:.2f}x |"
                )
        report["busy_thread"] = c

        # (d) Python against the Rust core
        if not args.no_core:
            if binary is None:
                print("\n## (d) skipped: no cargo to build benches/python/core_qps (see README)")
            else:
                print(
                    f"\n## (d) the Python layer vs the Rust core, same saved index "
                    f"({args.core_rounds} interleaved rounds of {args.rounds} calls; load average {load_avg()})\n"
                )
                py_batch, py_single, py_tiny, core = [], [], [], []
                tiny_search = _tiny_sagevec(tiny_base, dim, ef, k)

                def python_side() -> None:
                    py_batch.extend(timed(lambda: ix.batch_search(queries, k), args.rounds))
                    py_single.append(per_call_us(lambda q: ix.search(q, k), rows, len(rows), 1))
                    py_tiny.append(per_call_us(tiny_search, rows[:64], args.calls, 3))

                def core_side() -> None:
                    core.append(
                        run_core(binary, work / "index", work / "queries.f32", dim, k, ef, args.rounds, work / "tiny")
                    )

                for turn in range(args.core_rounds):  # alternating which side goes first
                    for side in (python_side, core_side) if turn % 2 == 0 else (core_side, python_side):
                        side()
                core_batch = [s for r in core for s in r["batch_s"]]
                core_single = [s for r in core for s in r["single_us"]]
                core_tiny = [s for r in core for s in r["tiny_single_us"]]
                pb, cb = args.queries / statistics.median(py_batch), args.queries / statistics.median(core_batch)
                ps, cs = statistics.median(py_single), statistics.median(core_single)
                pt, ct = statistics.median(py_tiny), statistics.median(core_tiny)
                print("| measure | Python | Rust core | Python / core |")
                print("|---|---|---|---|")
                print(f"| batch_search QPS ({args.queries} queries) | {pb:,.0f} | {cb:,.0f} | {pb / cb:.3f}x |")
                print(
                    f"| single-query search, us per call ({args.n}-row index) | {ps:.2f} | {cs:.2f} | +{ps - cs:.2f} us |"
                )
                print(f"| single-query search, us per call (64-row index) | {pt:.2f} | {ct:.2f} | +{pt - ct:.2f} us |")
                report["python_vs_core"] = {
                    "batch_qps_python": pb,
                    "batch_qps_core": cb,
                    "batch_ratio": pb / cb,
                    "single_us_python": ps,
                    "single_us_core": cs,
                    "tiny_us_python": pt,
                    "tiny_us_core": ct,
                }

        # Targets (issue 6)
        print(f"\n## targets (issue 6; load average {load_avg()})\n")
        s = a["sagevec"]
        checks = [
            ("2 threads >= 1.95x one thread", f"{s['ratio']:.2f}x", s["ratio"] >= 1.95),
            ("one single-query call on a tiny index <= 3 us", f"{b['sagevec']:.2f} us", b["sagevec"] <= 3.0),
            (
                "busy Python thread slows a batch call < 1.1x (threads=1 pool, 8x batch)",
                f"{c[-1]['slowdown']:.2f}x (a spinning process: {c[-1]['slowdown_process']:.2f}x)",
                c[-1]["slowdown"] < 1.1,
            ),
        ]
        if "python_vs_core" in report:
            r = report["python_vs_core"]["batch_ratio"]
            checks.append(("batch_search from Python >= 0.95x the Rust core", f"{r:.3f}x", r >= 0.95))
        for what, measured, ok in checks:
            print(f"- {what}: {measured} -> {'met' if ok else 'NOT met'}")
        report["targets"] = [{"target": w, "measured": m, "met": ok} for w, m, ok in checks]
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _tiny_sagevec(x: np.ndarray, dim: int, ef: int, k: int) -> Search:
    t = sagevec.Index(dim, ef_search=ef)
    t.add(x)
    return lambda q: t.search(q, k)


if __name__ == "__main__":
    main()
