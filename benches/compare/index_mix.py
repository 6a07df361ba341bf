#!/usr/bin/env python3
"""90% search / 10% add from Python threads against hnswlib and usearch.

The peer side of `benches/benches/index.rs` (section `index_mix`): the same
clustered data bit for bit (SplitMix64 streams, vectorised in numpy), the same
graph parameters (M = 16, ef_construction = 200), the same rule for ef (the
smallest of the ladder whose recall@10 reaches 0.95 against exact search), and
the same operation schedule:

    each thread repeats a cycle of 10 operations: add one new vector (explicit
    id), search for that vector (the self-query: is its id among the 10 hits?),
    then 8 searches from the query set (k = 10). The read-only run replaces the
    add and the self-query by query-set searches. MIX_OPS operations per run in
    all, at 1 and 2 threads.

Printed per library and thread count: ops/s, search p50/p99/p99.9 and add
p50/p99 (time.perf_counter_ns around each call, so Python call overhead and GIL
waits are inside, as a Python service sees them), the mean thread CPU time of a
query-set search (time.thread_time_ns around the call: the library searches on
the calling OS thread with the GIL released, so this is the search's own cost,
without the other threads' share of the cores), the fraction of just-added
vectors found by their own self-query, the acknowledged adds that the library's
get returns after the run, and the calls that raised, per kind (counted; the run
goes on, and a failed add is not acknowledged). The index is rebuilt from the
base before each thread count, so every run starts from the same state.

Exact search (faiss IndexFlatL2 vs sagevec_index::knn) is in
`faiss_kernels.py --cases knn`, not here.

Run from the repository root:

    .venv-bench/bin/python benches/compare/index_mix.py            # ~3 minutes
    .venv-bench/bin/python benches/compare/index_mix.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import threading
import time
from dataclasses import dataclass, field

# The measured threads are ours; keep BLAS/OpenMP pools out of the way.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from peers import EF_CONSTRUCTION, Hnswlib, K, M, Usearch, exact_knn, recall  # noqa: E402

# Mirrors benches/src/index_data.rs and benches/benches/index.rs (K, M and
# EF_CONSTRUCTION come from peers.py, the same values).
DIM = 128
N_CLUSTERS = 64
SPREAD = np.float32(0.35)
CENTERS_SEED = 0x5A6E_1DE0_0000_0001
BASE_SEED = 0x5A6E_1DE0_0000_0002
QUERY_SEED = 0x5A6E_1DE0_0000_0003
RESERVE_SEED = 0x5A6E_1DE0_0000_0004
NOISE_XOR = 0xA5A5_A5A5_A5A5_A5A5
TARGET_RECALL = 0.95
EF_LADDER = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
MIX_CYCLE = 10

GAMMA = 0x9E37_79B9_7F4A_7C15


def splitmix_u64(seed: int, n: int) -> np.ndarray:
    """The first `n` outputs of SplitMix64(seed) (rng/src/lib.rs)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58_476D_1CE4_E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D0_49BB_1331_11EB)
        return z ^ (z >> np.uint64(31))


def splitmix_f32(seed: int, n: int) -> np.ndarray:
    """`SplitMix64::next_f32`: uniform in [-1, 1) from the top 24 bits."""
    top = (splitmix_u64(seed, n) >> np.uint64(40)).astype(np.float32)
    return top * np.float32(1.0 / (1 << 23)) - np.float32(1.0)


def clustered(centers: np.ndarray, n: int, seed: int) -> np.ndarray:
    labels = (splitmix_u64(seed, n) % np.uint64(N_CLUSTERS)).astype(np.int64)
    noise = splitmix_f32(seed ^ NOISE_XOR, n * DIM).reshape(n, DIM)
    return np.ascontiguousarray(centers[labels] + SPREAD * noise, dtype=np.float32)


# ---------------------------------------------------------------------------
# CPU time other processes used (the box is shared), as in the Rust bench.
# ---------------------------------------------------------------------------


def cpu_snapshot():
    try:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]
        t = os.times()
        own = (t.user + t.system) * 100.0  # USER_HZ ticks
        return time.perf_counter(), busy, own
    except OSError:
        return None


def others_since(snap) -> float:
    end = cpu_snapshot()
    if snap is None or end is None:
        return float("nan")
    ticks = max(0.0, (end[1] - snap[1]) - (end[2] - snap[2]))
    return ticks / 100.0 / (end[0] - snap[0])


def others_cell(cores: float) -> str:
    if math.isnan(cores):
        return "?"
    return f"{cores:.2f} !" if cores > 0.15 else f"{cores:.2f}"


# ---------------------------------------------------------------------------
# Peers behind one small interface.
# ---------------------------------------------------------------------------


# faiss IndexHNSWFlat has no concurrent add (peers.Faiss.add refuses).
PEERS = {"hnswlib": Hnswlib, "usearch": Usearch}


def choose_ef(peer, queries, truth, threads):
    print(f"   {peer.name}: recall@{K} vs ef (batch query, {threads} threads)")
    print(f"     {'ef':>5}  {'recall':>8}  {'QPS':>10}")
    chosen, last, past = None, None, 0
    for ef in EF_LADDER:
        peer.set_ef(ef)
        t0 = time.perf_counter()
        found = peer.batch(queries, threads)
        secs = time.perf_counter() - t0
        r = recall(found, truth)
        print(f"     {ef:>5}  {r:>8.4f}  {len(queries) / secs:>10.0f}")
        last = (ef, r)
        if chosen is None and r >= TARGET_RECALL:
            chosen = (ef, r)
        if chosen is not None:
            past += 1
            if past > 2:
                break
    ef, r = chosen or last
    print(f"   {peer.name}: ef = {ef} (recall@{K} = {r:.4f}; target {TARGET_RECALL})")
    return ef, r


def pct_us(sorted_ns: np.ndarray, p: float) -> float:
    if len(sorted_ns) == 0:
        return float("nan")
    rank = max(1, int(np.ceil(len(sorted_ns) * p / 100.0)))
    return sorted_ns[min(rank, len(sorted_ns)) - 1] / 1000.0


# The calls a run makes, as its failure counts name them: query-set searches, the
# self-query right after an add, and adds.
CALL_KINDS = ("search", "self_query", "add")


@dataclass
class Tally:
    """What one thread of a run records: latencies (ns), query-set searches' thread CPU
    time (ns), self-query hits, acknowledged rows, and the calls that failed, per kind,
    with the first error of each kind. A peer's call that raises (hnswlib's and
    usearch's searches can while adds run, hnswlib#29 / #562) is counted and the run
    goes on."""

    search_ns: list[int] = field(default_factory=list)
    add_ns: list[int] = field(default_factory=list)
    cpu_ns: list[int] = field(default_factory=list)
    found: int = 0
    rank0: int = 0
    total: int = 0
    acked: list[int] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CALL_KINDS, 0))
    first_error: dict[str, str] = field(default_factory=dict)

    def fail(self, kind: str, error: BaseException) -> None:
        self.failed[kind] += 1
        self.first_error.setdefault(kind, f"{type(error).__name__}: {error}")


def run_threads(worker, threads: int) -> tuple[list[Tally], float, float, float]:
    """Runs `worker(t, tally, barrier)` for t in 0..threads on as many threads, each with
    its own Tally, timed from their common start (all wait on `barrier`) to the last
    one's end; (tallies, wall s, other processes' cores, our process's CPU s)."""
    tallies = [Tally() for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    ts = [threading.Thread(target=worker, args=(t, tallies[t], barrier)) for t in range(threads)]
    for th in ts:
        th.start()
    snap = cpu_snapshot()
    c0 = os.times()
    barrier.wait()
    t0 = time.perf_counter()
    for th in ts:
        th.join()
    wall = time.perf_counter() - t0
    c1 = os.times()
    return tallies, wall, others_since(snap), (c1.user + c1.system) - (c0.user + c0.system)


def run_result(threads: int, write: bool, ops: int, timed) -> dict:
    """One run's figures from `run_threads`' result: every thread's samples merged and
    sorted, counts summed."""
    tallies, wall, others, cpu_s = timed

    def merged(name: str) -> np.ndarray:
        return np.sort(np.concatenate([np.asarray(getattr(t, name), dtype=np.int64) for t in tallies]))

    failed = {kind: sum(t.failed[kind] for t in tallies) for kind in CALL_KINDS}
    first_error: dict[str, str] = {}
    for t in tallies:
        for kind, msg in t.first_error.items():
            first_error.setdefault(kind, msg)
    return {
        "threads": threads,
        "write": write,
        "ops": ops,
        "wall": wall,
        "search": merged("search_ns"),
        "add": merged("add_ns"),
        "cpu": merged("cpu_ns"),
        "found": sum(t.found for t in tallies),
        "rank0": sum(t.rank0 for t in tallies),
        "total": sum(t.total for t in tallies),
        "failed": failed,
        "first_error": first_error,
        "errors": sum(failed.values()),
        "acked_rows": sorted(row for t in tallies for row in t.acked),
        "others": others,
        "cpu_s": cpu_s,
    }


def timed_add(peer, tally: Tally, key: int, v2d: np.ndarray, key_arr: np.ndarray) -> bool:
    """One add, timed into `tally`; whether it was acknowledged (returned)."""
    clock = time.perf_counter_ns
    t0 = clock()
    try:
        peer.add(key, v2d, key_arr)
    except Exception as e:  # noqa: BLE001 - any failure is counted (and its first message kept)
        tally.add_ns.append(clock() - t0)
        tally.fail("add", e)
        return False
    tally.add_ns.append(clock() - t0)
    return True


def run_mix(peer, queries, reserve, first_id, threads, ops, write):
    """One run of the schedule (module docstring) on `threads` Python threads: `ops`
    operations in all, adds of rows of `reserve` with ids from `first_id` when `write`,
    else query-set searches only. Every call is timed with perf_counter_ns; each
    query-set search also with the calling thread's CPU time (thread_time_ns, taken
    outside the wall-clock bracket: the library searches on that OS thread, one thread
    per call, with the GIL released). A call that raises is counted per kind
    (`failed`) and the run goes on; a failed add is not acknowledged (not in
    `acked_rows`, and its self-query is not counted)."""
    per_thread = ops // threads
    nq = len(queries)
    q_rows = [queries[i] for i in range(nq)]

    def worker(t: int, tally: Tally, barrier: threading.Barrier) -> None:
        peer.search(q_rows[0])
        barrier.wait()
        qi = t * nq // threads
        last = None
        clock, cpu = time.perf_counter_ns, time.thread_time_ns
        for j in range(per_thread):
            slot = j % MIX_CYCLE
            if write and slot == 0:
                row = (j // MIX_CYCLE) * threads + t
                key = first_id + row
                key_arr = np.array([key], dtype=np.uint64)
                acknowledged = timed_add(peer, tally, key, reserve[row : row + 1], key_arr)
                if acknowledged:
                    tally.acked.append(row)
                last = (key, reserve[row], acknowledged)
            elif write and slot == 1:
                key, v, acknowledged = last
                ids = None
                t0 = clock()
                try:
                    ids = peer.ids(peer.search(v))
                except Exception as e:  # noqa: BLE001
                    tally.fail("self_query", e)
                tally.search_ns.append(clock() - t0)
                if acknowledged:  # a failed self-query counts as not found
                    tally.total += 1
                    pos = np.flatnonzero(np.asarray(ids) == key) if ids is not None else []
                    if len(pos):
                        tally.found += 1
                        tally.rank0 += int(pos[0] == 0)
            else:
                q = q_rows[qi]
                qi = (qi + 1) % nq
                c0 = cpu()
                t0 = clock()
                try:
                    peer.search(q)
                except Exception as e:  # noqa: BLE001
                    tally.fail("search", e)
                t1 = clock()
                c1 = cpu()
                tally.search_ns.append(t1 - t0)
                tally.cpu_ns.append(c1 - c0)

    return run_result(threads, write, per_thread * threads, run_threads(worker, threads))


def run_adds(peer, reserve, first_id, threads, adds):
    """`adds` single-row adds (rows 0.. of `reserve`, ids from `first_id`) from `threads`
    Python threads and nothing else: the add throughput of an index that stays
    searchable. Same result layout as run_mix (no searches)."""
    per_thread = adds // threads

    def worker(t: int, tally: Tally, barrier: threading.Barrier) -> None:
        rows = [i * threads + t for i in range(per_thread)]
        args = [(first_id + row, reserve[row : row + 1], np.array([first_id + row], dtype=np.uint64)) for row in rows]
        barrier.wait()
        for row, (key, v2d, key_arr) in zip(rows, args):
            if timed_add(peer, tally, key, v2d, key_arr):
                tally.acked.append(row)

    return run_result(threads, True, per_thread * threads, run_threads(worker, threads))


def get_found(peer, reserve, first_id, rows, metric):
    """(found, mismatched) among the acknowledged adds `rows`: `peer.get` returns the
    vector that was added (unit-normalised under cosine; float32 tolerance), or
    returns a different one."""
    found = mismatched = 0
    for row in rows:
        got = peer.get(first_id + row)
        if got is None:
            continue
        want = reserve[row]
        if metric == "cosine":
            want, got = want / np.linalg.norm(want), got / np.linalg.norm(got)
        if got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=1e-6):
            found += 1
        else:
            mismatched += 1
    return found, mismatched


def mean_us(ns: np.ndarray) -> float:
    return float(np.mean(ns)) / 1000.0 if len(ns) else float("nan")


def failed_cell(failed: dict[str, int]) -> str:
    """`0`, or the failed calls per kind, e.g. `search 3, self_query 1`."""
    parts = [f"{kind} {n}" for kind, n in failed.items() if n]
    return ", ".join(parts) if parts else "0"


def print_rows(name, runs, ops, ef):
    print(
        f"\n   == {name}: 90% search / 10% add vs read-only (k = {K}, ef = {ef}, {ops} ops per run; "
        "s = search, a = add; s cpu = mean thread CPU time of a query-set search; self-found = "
        "just-added vector in its own top 10; get-found = acknowledged adds that get() returns after "
        "the run; failed = calls that raised, per kind)"
    )
    print(
        f"     {'run':<10} {'thr':>3} {'ops':>8} {'ops/s':>10} {'s p50 us':>9} {'s p99 us':>9} "
        f"{'s p999':>9} {'s cpu us':>9} {'a p50 us':>9} {'a p99 us':>9} {'self-found':>22} "
        f"{'get-found':>18} {'others':>7}  failed"
    )
    for r in runs:
        if r["write"]:
            sf = f"{100.0 * r['found'] / max(1, r['total']):.2f}% ({r['found']}/{r['total']})"
            gf = f"{r['get_found']}/{len(r['acked_rows'])}"
            a50, a99 = pct_us(r["add"], 50), pct_us(r["add"], 99)
        else:
            sf, gf, a50, a99 = "-", "-", float("nan"), float("nan")
        print(
            f"     {'90/10 mix' if r['write'] else 'read-only':<10} {r['threads']:>3} {r['ops']:>8} "
            f"{r['ops'] / r['wall']:>10.0f} {pct_us(r['search'], 50):>9.1f} {pct_us(r['search'], 99):>9.1f} "
            f"{pct_us(r['search'], 99.9):>9.1f} {mean_us(r['cpu']):>9.1f} {a50:>9.1f} {a99:>9.1f} {sf:>22} "
            f"{gf:>18} {others_cell(r['others']):>7}  {failed_cell(r['failed'])}"
        )
    for t in sorted({r["threads"] for r in runs}):
        ro = next((r for r in runs if r["threads"] == t and not r["write"]), None)
        mx = next((r for r in runs if r["threads"] == t and r["write"]), None)
        if ro and mx:
            print(
                f"     {t} thread(s): mix search p99 / read-only p99 = "
                f"{pct_us(mx['search'], 99) / pct_us(ro['search'], 99):.2f}; search CPU mix / read-only = "
                f"{mean_us(mx['cpu']) / mean_us(ro['cpu']):.2f}; mix ops/s "
                f"{mx['ops'] / mx['wall']:.0f}; self-found "
                f"{100.0 * mx['found'] / max(1, mx['total']):.2f}% (rank 0: "
                f"{100.0 * mx['rank0'] / max(1, mx['total']):.2f}%)"
            )
        for r in (ro, mx):
            for kind, msg in (r or {}).get("first_error", {}).items():
                print(f"     {t} thread(s), {'mix' if r['write'] else 'read-only'}: first failed {kind}: {msg}")
    print()


def fresh_peer(name: str, capacity: int, base: np.ndarray, cores: int):
    """Peer `name` built on `base` with room for `capacity` rows, its build time printed."""
    peer = PEERS[name]("l2", DIM, M, EF_CONSTRUCTION, capacity=capacity)
    snap = cpu_snapshot()
    t0 = time.perf_counter()
    peer.build(base, cores)
    secs = time.perf_counter() - t0
    print(
        f"   {name} {peer.version}: built {len(base)} rows (M {M}, efC {EF_CONSTRUCTION}, {cores} threads) "
        f"in {secs:.2f} s ({len(base) / secs:.0f} rows/s; others {others_cell(others_since(snap))})"
    )
    return peer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k base, 200 queries, 20k ops")
    ap.add_argument("--peers", default="hnswlib,usearch")
    ap.add_argument("--threads", default="1,2", help="thread counts of the mixed runs")
    args = ap.parse_args()
    n_base, n_queries, mix_ops = (10_000, 200, 20_000) if args.quick else (50_000, 1_000, 100_000)
    cores = len(os.sched_getaffinity(0))
    threads_list = [int(t) for t in args.threads.split(",")]

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"== index_mix.py: {cpu} ({cores} CPUs), Python {platform.python_version()}, numpy {np.__version__}")

    centers = splitmix_f32(CENTERS_SEED, N_CLUSTERS * DIM).reshape(N_CLUSTERS, DIM)
    base = clustered(centers, n_base, BASE_SEED)
    queries = clustered(centers, n_queries, QUERY_SEED)
    max_adds = mix_ops // MIX_CYCLE + 2
    reserve = clustered(centers, max_adds, RESERVE_SEED)
    print(
        f"   clustered checksum (must match the Rust bench): base[0][..3] = {base[0, :3].tolist()}, "
        f"sum(base) = {base.astype(np.float64).sum():.6f}, queries[0][0] = {queries[0, 0]}"
    )
    t0 = time.perf_counter()
    truth = exact_knn(base, queries)
    print(
        f"   clustered: {n_base} x {DIM}, {N_CLUSTERS} clusters, spread {SPREAD}; {n_queries} queries; "
        f"exact ground truth (faiss IndexFlatL2) {time.perf_counter() - t0:.2f} s"
    )

    for name in args.peers.split(","):
        capacity = n_base + max_adds + 16
        peer = fresh_peer(name, capacity, base, cores)
        ef, _ = choose_ef(peer, queries, truth, cores)
        runs = []
        for i, threads in enumerate(threads_list):
            if i > 0:
                peer = fresh_peer(name, capacity, base, cores)
            peer.set_ef(ef)
            for write in (False, True):
                run = run_mix(peer, queries, reserve, n_base, threads, mix_ops, write)
                if write:
                    run["get_found"], _ = get_found(peer, reserve, n_base, run["acked_rows"], "l2")
                runs.append(run)
        print_rows(name, runs, mix_ops, ef)


if __name__ == "__main__":
    main()
