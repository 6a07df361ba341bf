"""compare.py's report: the target checks, report.md, and publishing into BENCHMARKS.md.

Everything here reads the results dictionary that compare.py writes to results.json,
so `compare.py --report-only` can redo the report and plots without measuring.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import plots

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
PEER_NAMES = ("hnswlib", "faiss", "usearch")
THREADS_GOAL = 1.95  # issues 6 and 19: 2 Python threads of single-query search >= 1.95x one
HNSW_GOAL = 1.2  # issue 14: batch QPS at recall@10 = 0.95 >= 1.2x the best peer
BUILD_GOAL = 1.25  # issue 5: an HNSW build in <= 0.8x hnswlib's time
PEER_GOAL = 1.2  # DEVELOPERS.md: 1.2x the best peer where no issue says otherwise
KERNEL_HOT_GOAL = 1.2  # issue 15: one-to-many in L2 >= 1.2x simsimd/numkong
EXACT_GOAL_128 = 1.2  # issue 15: exact knn at d = 128 >= 1.2x faiss's BLAS path
EXACT_GOAL_784_AVX512 = 1.1  # issue 15: at d = 784 on AVX-512 machines
# Issue 14's targets for the 90/10 mix, each against hnswlib in the same run.
MIX_OPS_GOAL = 1.2  # mix ops/s >= 1.2x hnswlib's at every thread count, on every data set
MIX_SELF_FOUND_GOAL = 0.999  # found by a graph self-query right after its add
MIX_CPU_GOAL = 1.25  # a search's thread CPU time in the mix <= 1.25x its read-only cost


# ----------------------------------------------------------------------------- targets


def target(
    section: str,
    dataset: str,
    threads: Any,
    measure: str,
    sagevec: float | None,
    peer: str,
    peer_value: float | None,
    ratio: float | None,
    goal: str,
    met: bool | None,
    unit: str,
) -> dict[str, Any]:
    return {
        "section": section,
        "dataset": dataset,
        "threads": threads,
        "measure": measure,
        "sagevec": sagevec,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": ratio,
        "goal": goal,
        "met": met,
        "unit": unit,
    }


def ratio_of(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def kernel_targets(sec: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Issue 15's one-to-many targets at d = 768, for the first (allocating) sagevec
    call of each case: in L2 >= KERNEL_HOT_GOAL x simsimd/numkong (the same kind of
    kernel), from memory >= 1.0x them; and, from Python in L2, l2 >= 1.0x faiss's
    `fvec_L2sqr_ny`. Other peers (numpy, faiss's other paths) are in the tables."""
    rows = sec.get("rows", [])
    for case in dict.fromkeys(r["case"] for r in rows):
        hot = case.startswith("hot")
        for metric in ("l2", "dot"):
            here = [r for r in rows if r["case"] == case and r["metric"] == metric]
            mine = [r for r in here if r["impl"].startswith("sagevec")]
            if not mine:
                continue
            kernels = [r for r in here if r["impl"].split()[0] in ("simsimd", "numkong")]
            goal = KERNEL_HOT_GOAL if hot else 1.0
            if kernels:
                best = max(kernels, key=lambda r: r["gbps"])
                ratio = ratio_of(mine[0]["gbps"], best["gbps"])
                yield target(
                    "kernels",
                    case.split(":")[0],
                    1,
                    f"one-to-many {metric}, GB/s",
                    mine[0]["gbps"],
                    best["impl"],
                    best["gbps"],
                    ratio,
                    f">= {goal}x simsimd/numkong (issue 15)",
                    ratio is not None and ratio >= goal,
                    "GB/s",
                )
            faiss = next((r for r in here if r["impl"] == "faiss fvec_L2sqr_ny"), None)
            if hot and metric == "l2" and faiss:
                ratio = ratio_of(mine[0]["gbps"], faiss["gbps"])
                yield target(
                    "kernels",
                    case.split(":")[0],
                    1,
                    "one-to-many l2 from Python, GB/s",
                    mine[0]["gbps"],
                    faiss["impl"],
                    faiss["gbps"],
                    ratio,
                    ">= 1.0x faiss fvec_L2sqr_ny (issue 15)",
                    ratio is not None and ratio >= 1.0,
                    "GB/s",
                )


def exact_goal(dim: int, isa: str) -> tuple[float | None, str]:
    """Issue 15's exact-knn target against faiss IndexFlatL2's BLAS path: 1.2x at
    d = 128; at d = 784, 1.1x on AVX-512 machines and 90% of peak FMA on AVX2-only
    ones (which compare.py does not measure: `sagevec bench kernels` does)."""
    if dim <= 128:
        return EXACT_GOAL_128, f">= {EXACT_GOAL_128}x faiss BLAS (issue 15)"
    if isa == "avx512":
        return EXACT_GOAL_784_AVX512, f">= {EXACT_GOAL_784_AVX512}x faiss BLAS on AVX-512 (issue 15)"
    return None, ">= 90% of peak FMA on AVX2 (issue 15; see `sagevec bench kernels`)"


def exact_targets(sec: dict[str, Any], isa: str) -> Iterable[dict[str, Any]]:
    rows = sec.get("rows", [])
    for key in dict.fromkeys((r["dim"], r["threads"]) for r in rows):
        group = [r for r in rows if (r["dim"], r["threads"]) == key]
        mine = next(r for r in group if r["engine"] == "sagevec")
        peer = next((r for r in group if r["engine"] == "faiss" and r["path"] == "BLAS"), None)
        if peer is None:
            continue
        goal, stated = exact_goal(key[0], isa)
        ratio = ratio_of(mine["qps"], peer["qps"])
        yield target(
            "exact",
            f"uniform d={key[0]}",
            key[1],
            f"kernels.knn {mine['queries']} x {sec['base'] // 1000}k, k={sec['k']}, QPS",
            mine["qps"],
            "faiss IndexFlatL2 (BLAS path)",
            peer["qps"],
            ratio,
            stated,
            None if goal is None else ratio is not None and ratio >= goal,
            "QPS",
        )


def hnsw_targets(sec: dict[str, Any]) -> Iterable[dict[str, Any]]:
    goal_recall = sec.get("target_recall", 0.95)
    for name, ds in sec.get("datasets", {}).items():
        for t, engines in ds["at_target"].items():
            mine = (engines.get("sagevec") or {}).get("qps")
            peers = {n: v["qps"] for n, v in engines.items() if n != "sagevec" and v}
            best = max(peers, key=peers.get) if peers else "-"
            ratio = ratio_of(mine, peers.get(best))
            yield target(
                "hnsw",
                name,
                int(t),
                f"batch QPS at recall@10 = {goal_recall}",
                mine,
                best,
                peers.get(best),
                ratio,
                f">= {HNSW_GOAL}x the best peer",
                ratio is not None and ratio >= HNSW_GOAL,
                "QPS",
            )
        for t in dict.fromkeys(b["threads"] for b in ds["builds"]):
            mine = next(b["seconds"] for b in ds["builds"] if b["engine"] == "sagevec" and b["threads"] == t)
            peer = next(b["seconds"] for b in ds["builds"] if b["engine"] == "hnswlib" and b["threads"] == t)
            ratio = ratio_of(peer, mine)
            yield target(
                "hnsw",
                name,
                t,
                "build time, s (ratio: hnswlib s / sagevec s)",
                mine,
                "hnswlib",
                peer,
                ratio,
                f">= {BUILD_GOAL}x (<= 0.8x hnswlib's time, issue 5)",
                ratio is not None and ratio >= BUILD_GOAL,
                "s",
            )


def threads_targets(sec: dict[str, Any]) -> Iterable[dict[str, Any]]:
    counts = sec.get("thread_counts", [1, 2])
    hi = str(max(counts))
    for name, ds in sec.get("datasets", {}).items():
        mine = next(r for r in ds["rows"] if r["engine"] == "sagevec")
        peers = [r for r in ds["rows"] if r["engine"] != "sagevec"]
        best_ratio = max(peers, key=lambda r: r["ratio"]) if peers else None
        yield target(
            "threads",
            name,
            f"1 → {hi}",
            f"single-query search, {hi} Python threads ÷ 1",
            mine["ratio"],
            best_ratio["engine"] if best_ratio else "-",
            best_ratio["ratio"] if best_ratio else None,
            None,
            f">= {THREADS_GOAL}x",
            mine["ratio"] >= THREADS_GOAL,
            "x",
        )
        best = max(peers, key=lambda r: r["qps"][hi]) if peers else None
        ratio = ratio_of(mine["qps"][hi], best["qps"][hi] if best else None)
        yield target(
            "threads",
            name,
            int(hi),
            "single-query QPS at recall@10 >= 0.95",
            mine["qps"][hi],
            best["engine"] if best else "-",
            best["qps"][hi] if best else None,
            ratio,
            f">= {PEER_GOAL}x the best peer",
            ratio is not None and ratio >= PEER_GOAL,
            "QPS",
        )


def mix_targets(sec: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Issue 14's mix targets, in its words, for each data set and thread count."""
    for name, ds in sec.get("datasets", {}).items():
        for t in dict.fromkeys(r["threads"] for r in ds["rows"]):
            rows = {r["engine"]: r for r in ds["rows"] if r["threads"] == t}
            mine, peer = rows.get("sagevec"), rows.get("hnswlib")
            if not mine or not peer:
                continue
            yield from mix_targets_at(name, t, mine, peer)


def mix_targets_at(name: str, t: int, mine: dict[str, Any], peer: dict[str, Any]) -> Iterable[dict[str, Any]]:
    m, p = mine["mix"], peer["mix"]
    ops = ratio_of(m["ops_per_s"], p["ops_per_s"])
    adds = ratio_of(mine["add_only"]["adds_per_s"], peer["add_only"]["adds_per_s"])
    self_found = m["self_found"]
    # (measure, sagevec, hnswlib, ratio, target as issue 14 states it, met, unit)
    rows: list[tuple[str, Any, Any, float | None, str, bool, str]] = [
        ("90/10 mix ops/s", m["ops_per_s"], p["ops_per_s"], ops, f">= {MIX_OPS_GOAL}x hnswlib's ops/s",
         ops is not None and ops >= MIX_OPS_GOAL, "ops/s"),
        ("search p99 in the mix, µs (ratio: hnswlib ÷ sagevec)", m["search_p99_us"], p["search_p99_us"],
         ratio_of(p["search_p99_us"], m["search_p99_us"]), "<= hnswlib's",
         m["search_p99_us"] <= p["search_p99_us"], "us"),
        ("failed calls (searches, self-queries, adds; read-only, mix and add-only runs)", mine["failed_calls"],
         peer["failed_calls"], None, "no failed call", mine["failed_calls"] == 0, "n"),
        ("acknowledged adds found by `get` right after each run", mine["get_found"], peer["get_found"], None,
         "every acknowledged add found by `get`", mine["get_found"] == 1.0, "%"),
        ("just-added vectors found by a graph self-query right after the add (k = 10, same ef)", self_found,
         p["self_found"], None, f">= {100 * MIX_SELF_FOUND_GOAL:.1f}%",
         self_found is not None and self_found >= MIX_SELF_FOUND_GOAL, "%"),
        ("search thread CPU time, mix ÷ read-only (same index, same ef)", mine["search_cpu_ratio"],
         peer["search_cpu_ratio"], None, f"<= {MIX_CPU_GOAL}x its read-only cost",
         mine["search_cpu_ratio"] <= MIX_CPU_GOAL, "x"),
        (f"add throughput into a searchable graph: single-row adds from {t} Python thread(s), adds/s",
         mine["add_only"]["adds_per_s"], peer["add_only"]["adds_per_s"], adds,
         ">= hnswlib's `add_items` with the same threads", adds is not None and adds >= 1.0, "adds/s"),
    ]  # fmt: skip
    for measure, a, b, ratio, goal, met, unit in rows:
        yield target("mix", name, t, measure, a, "hnswlib", b, ratio, goal, met, unit)


def baseline_of(before: dict[str, Any], source: str) -> dict[str, Any]:
    """What the 'no worse than before' targets need from an earlier run's results.json:
    sagevec's build seconds and QPS at the target recall per data set and thread count,
    and where the run came from."""
    hnsw = before.get("sections", {}).get("hnsw", {})
    per_ds = {}
    for name, ds in hnsw.get("datasets", {}).items():
        per_ds[name] = {
            "build_s": {str(b["threads"]): b["seconds"] for b in ds["builds"] if b["engine"] == "sagevec"},
            "qps_at_target": {t: (e.get("sagevec") or {}).get("qps") for t, e in ds["at_target"].items()},
        }
    return {
        "source": source,
        "date": before.get("date"),
        "mode": before.get("mode"),
        "commit": before.get("git", {}).get("commit", ""),
        "wheel_source": before.get("git", {}).get("wheel_source", "?"),
        "cpu": before.get("machine", {}).get("lscpu", {}).get("Model name", "?"),
        "hnsw": per_ds,
    }


def baseline_targets(sec: dict[str, Any], base: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Issue 14: bulk build time and read-only QPS at recall 0.95 no worse than compare.py's
    figures before the change, measured back to back on the same machine (`--baseline`)."""
    before = f"sagevec before ({base['commit'][:12] or base['source']})"
    goal = "no worse than before this change"
    for name, ds in sec.get("datasets", {}).items():
        old = base["hnsw"].get(name)
        if old is None:
            continue
        for b in ds["builds"]:
            prev = old["build_s"].get(str(b["threads"]))
            if b["engine"] != "sagevec" or prev is None:
                continue
            ratio = ratio_of(prev, b["seconds"])
            yield target(
                "hnsw",
                name,
                b["threads"],
                "bulk build time, s (ratio: before ÷ now)",
                b["seconds"],
                before,
                prev,
                ratio,
                goal,
                ratio is not None and ratio >= 1.0,
                "s",
            )
        for t, engines in ds["at_target"].items():
            now, prev = (engines.get("sagevec") or {}).get("qps"), old["qps_at_target"].get(t)
            if prev is None:
                continue
            ratio = ratio_of(now, prev)
            yield target(
                "hnsw",
                name,
                int(t),
                f"read-only batch QPS at recall@10 = {sec.get('target_recall', 0.95)}",
                now,
                before,
                prev,
                ratio,
                goal,
                ratio is not None and ratio >= 1.0,
                "QPS",
            )


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target row the results have data for (a section's rows, then the next's)."""
    sections = results.get("sections", {})
    makers: list[tuple[str, Callable[[dict[str, Any]], Iterable[dict[str, Any]]]]] = [
        ("kernels", kernel_targets),
        ("exact", lambda sec: exact_targets(sec, results.get("machine", {}).get("sagevec_isa", ""))),
        ("hnsw", hnsw_targets),
        ("threads", threads_targets),
        ("mix", mix_targets),
    ]
    base = results.get("baseline")
    if base:
        makers.insert(3, ("hnsw", lambda sec: baseline_targets(sec, base)))
    out: list[dict[str, Any]] = []
    for name, make in makers:
        if name in sections and "seconds" in sections[name]:
            try:
                out.extend(make(sections[name]))
            except (KeyError, StopIteration, TypeError) as e:  # a section cut short
                out.append(target(name, "-", "-", f"(incomplete: {e!r})", None, "-", None, None, "-", None, ""))
    return out


# ----------------------------------------------------------------------------- formatting


def num(x: float | None, unit: str = "") -> str:
    if x is None or math.isnan(x):
        return "–"
    if unit == "n":
        return f"{x:,}"
    if unit == "%":
        return f"{100 * x:.2f}%"
    if unit == "x":
        return f"{x:.2f}x"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def table(header: list[str], rows: Iterable[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def met_cell(met: bool | None) -> str:
    return "–" if met is None else ("yes" if met else "**no**")


def targets_md(rows: list[dict[str, Any]]) -> list[str]:
    return table(
        [
            "section",
            "data",
            "threads",
            "measure",
            "sagevec",
            "best peer (or named one)",
            "peer",
            "sagevec vs peer",
            "target",
            "met?",
        ],
        (
            [
                r["section"],
                r["dataset"],
                r["threads"],
                r["measure"],
                num(r["sagevec"], r["unit"]),
                r["peer"],
                num(r["peer_value"], r["unit"]),
                num(r["ratio"], "x"),
                r["goal"],
                met_cell(r["met"]),
            ]
            for r in rows
        ),
    )


def kernels_md(sec: dict[str, Any]) -> list[str]:
    rows = sec["rows"]
    out = [
        (
            f"One query against many rows, d = {sec['dim']}, one thread, median of "
            f"{rows[0]['runs'] if rows else '?'} interleaved runs. GB/s = base bytes read per call / time."
        ),
        "",
    ]
    return out + table(
        ["case", "implementation", "µs / call", "GB/s", "GFLOP/s", "note"],
        (
            [
                r["case"],
                ("**" + r["impl"] + "**") if r["impl"].startswith("sagevec") else r["impl"],
                f"{r['seconds'] * 1e6:,.1f}",
                f"{r['gbps']:.1f}",
                f"{r['gflops']:.1f}",
                r["note"],
            ]
            for r in rows
        ),
    )


def exact_md(sec: dict[str, Any]) -> list[str]:
    rows = sec["rows"]
    runs = max((r["runs"] for r in rows), default="?")
    out = [
        (
            f"Exact k = {sec['k']} search, {sec['queries']} queries x {sec['base']:,} rows ({sec['data']}), "
            f"median of {runs} interleaved runs (a call over 20 s: timed once). faiss takes BLAS when "
            f"nq·d >= {sec['blas_threshold']:,}; its SIMD path is timed on fewer queries in batches below "
            "that. *cores busy*: CPU time / wall time of one call (spinning OpenMP workers count)."
        ),
        "",
    ]
    sv = {(r["dim"], r["threads"]): r["qps"] for r in rows if r["engine"] == "sagevec"}
    return out + table(
        [
            "d",
            "threads",
            "implementation",
            "queries timed",
            "QPS",
            "GFLOP/s",
            "runs",
            "cores busy",
            "sagevec ÷ this",
            "sagevec ids = faiss ids",
        ],
        (
            [
                r["dim"],
                r["threads"],
                r["impl"],
                r["queries"],
                num(r["qps"]),
                f"{r['gflops']:.1f}",
                r["runs"],
                r.get("cores_busy", "–"),
                "–" if r["engine"] == "sagevec" else num(sv[(r["dim"], r["threads"])] / r["qps"], "x"),
                num(r["ids_agree_with_faiss"], "%") if r["ids_agree_with_faiss"] is not None else "",
            ]
            for r in rows
        ),
    )


def hnsw_md(sec: dict[str, Any], img_prefix: str) -> list[str]:
    block = sec.get("block_s")
    timing = (
        f"each timed block repeats one engine's batch call of all queries (on its own threads) for at "
        f"least {block} s after an untimed call, i.e. warm steady state as ann-benchmarks times it"
        if block
        else "one batch call of all queries on the engine's own threads"
    )
    out = [
        (
            f"M = {sec['m']}, ef_construction = {sec['ef_construction']}, k = {sec['k']}. QPS: {timing} "
            f"(median of {sec['runs']} interleaved runs; "
            f"builds: median of {sec['build_runs']}). QPS at recall {sec['target_recall']} is interpolated "
            "(log QPS, linear in recall) between the two ef points around it. sagevec's build = one `add` "
            "of every row + `wait_for_builds()` (checked: the live graph then holds a slot for every row); "
            "its index's `threads=` sets both build and search workers."
        ),
        "",
    ]
    for name, ds in sec["datasets"].items():
        d = ds["data"]
        out += [f"**{name}** ({d['n']:,} x {d['dim']}, {d.get('metric', 'l2')}, {d['queries']} queries)", ""]
        at = ds["at_target"]
        out += table(
            ["engine"]
            + [f"QPS @ {sec['target_recall']}, {t} thr" for t in at]
            + [f"build s, {b} thr" for b in dict.fromkeys(x["threads"] for x in ds["builds"])],
            (
                [e]
                + [num((at[t].get(e) or {}).get("qps")) for t in at]
                + [num(b["seconds"]) for b in ds["builds"] if b["engine"] == e]
                for e in ds["sweeps"][next(iter(ds["sweeps"]))]
            ),
        )
        for t, curves in ds["sweeps"].items():
            engines = list(curves)
            efs = sorted({p["ef"] for c in curves.values() for p in c})
            out += [f"recall@10 / QPS, {t} thread(s):", ""]
            out += table(["ef"] + engines, ([ef] + [cell(curves[e], ef) for e in engines] for ef in efs))
        out += [f"![recall vs QPS, {name}]({img_prefix}{plots.recall_png(name)})", ""]
    out += [f"![build time]({img_prefix}{plots.BUILD_PNG})", ""]
    return out


def cell(curve: list[dict[str, Any]], ef: int) -> str:
    p = next((p for p in curve if p["ef"] == ef), None)
    return "" if p is None else f"{p['recall']:.3f} / {p['qps']:,.0f}"


def threads_md(sec: dict[str, Any]) -> list[str]:
    counts = [str(t) for t in sec["thread_counts"]]
    out = [
        (
            f"Single-query `search` from 1 and {counts[-1]} Python threads (benches/python/threads.py's "
            f"`threads_qps`: each thread loops over its share of the queries), on the graphs built with "
            f"{sec['built_with_threads']} threads, each engine at the smallest ef of the ladder reaching "
            f"recall@10 >= 0.95 in batch; median of {sec['rounds']} rounds, engines and thread counts "
            "interleaved."
        ),
        "",
    ]
    rows = []
    for name, ds in sec["datasets"].items():
        for r in ds["rows"]:
            rows.append(
                [name, r["engine"], r["ef"], f"{r['recall']:.3f}"]
                + [num(r["qps"][t]) for t in counts]
                + [num(r["ratio"], "x")]
            )
    return out + table(
        ["data", "engine", "ef", "recall@10"] + [f"{t} thr QPS" for t in counts] + [f"{counts[-1]}/{counts[0]}"], rows
    )


def mix_md(sec: dict[str, Any]) -> list[str]:
    add_only = sec.get("add_only_per_run", "?")
    out = [
        (
            f"index_mix.py's schedule from Python threads: each thread repeats add one new vector, search "
            f"for it (self-query), 8 searches from the query set (k = 10); {sec['ops_per_run']:,} operations "
            f"per run. Each of {sec['rounds']} rounds runs, per engine (engines interleaved, a different one "
            f"first each round): a read-only run (query-set searches only), the mix run, and an add-only "
            f"run ({add_only:,} single-row adds split over the threads, nothing else); medians over the "
            "rounds. For each thread count every engine's index is built anew from the same base (on every "
            "core); its rounds then run one after another, so the adds of earlier rounds stay in the index "
            "that later rounds search. Each engine uses the smallest ef reaching recall@10 >= 0.95 on the "
            "base, in every run. Latencies: `perf_counter_ns` around each call (Python overhead and GIL "
            "waits inside). *search CPU*: mean thread CPU time of a query-set search (`thread_time_ns` "
            "around the call, on the calling thread, where each library searches with the GIL released); "
            "*CPU mix ÷ r-o*: each round's mix run against its read-only run just before, median. "
            "*add-only adds/s*: adds ÷ (run time + sagevec's wait for background work after it), with the "
            "process's cores busy meanwhile. *self-found*: the just-acknowledged vector is in its own next "
            "search's top 10; *get-found*: acknowledged adds (mix and add-only runs) whose vector the "
            "engine's `get` (hnswlib `get_items`, usearch `contains` + `get`) returns right after each run; "
            "*search-found after*: all of them searched again (one batch) after the last round. *failed*: "
            "calls that raised, per kind, over all runs (counted, the run goes on; a failed add is not "
            "acknowledged). *drain*: sagevec's `wait_for_builds()` after each mix run (not in ops/s)."
        ),
        "",
    ]
    for name, ds in sec["datasets"].items():
        d = ds["data"]
        out += [
            (
                f"**{name}** ({d['n']:,} x {d['dim']}, {d.get('metric', 'l2')}; the index starts from "
                f"{ds['base']:,} rows and adds from {ds['reserve']:,} more)"
            ),
            "",
        ]
        rows, notes = [], []
        for r in ds["rows"]:
            m, ro, ad = r["mix"], r["read_only"], r["add_only"]
            rows.append(
                [
                    r["threads"],
                    r["engine"],
                    r["ef"],
                    num(m["ops_per_s"]),
                    num(ro["ops_per_s"]),
                    f"{num(m['search_p50_us'])} / {num(m['search_p99_us'])}",
                    f"{num(ro['search_p50_us'])} / {num(ro['search_p99_us'])}",
                    f"{num(m['search_cpu_mean_us'])} / {num(ro['search_cpu_mean_us'])}",
                    num(r["search_cpu_ratio"], "x"),
                    f"{num(m['add_p50_us'])} / {num(m['add_p99_us'])}",
                    f"{num(ad['adds_per_s'])} ({ad['cores_busy']:.2f})",
                    f"{num(ad['add_p50_us'])} / {num(ad['add_p99_us'])}",
                    num(m["self_found"], "%"),
                    num(r["get_found"], "%"),
                    num(r["search_found_after"], "%"),
                    failed_md(r["failed"]),
                    " ".join(f"{c:.2f}" for c in m["others_cores"]),
                    " ".join(f"{x:.2f}" for x in r["drain_s"]) if r["engine"] == "sagevec" else "–",
                ]
            )
            for kind, msg in r.get("first_error", {}).items():
                notes.append(f"- {r['engine']}, {r['threads']} thread(s), first failed {kind}: `{msg[:200]}`")
            before_after = r.get("storage_rows_before_after")
            if before_after and before_after[1] != before_after[0]:
                notes.append(
                    f"- {r['engine']}, {r['threads']} thread(s): its `add` grew the index's storage from "
                    f"{before_after[0]:,} to {before_after[1]:,} rows while other threads searched (usearch's "
                    "Python API has no `reserve`)."
                )
        out += table(
            [
                "threads",
                "engine",
                "ef",
                "mix ops/s",
                "read-only ops/s",
                "mix search p50 / p99 µs",
                "read-only p50 / p99 µs",
                "search CPU µs, mix / r-o",
                "CPU mix ÷ r-o",
                "mix add p50 / p99 µs",
                "add-only adds/s (cores)",
                "add-only p50 / p99 µs",
                "self-found",
                "get-found",
                "search-found after",
                "failed",
                "other procs' cores",
                "drain s",
            ],
            rows,
        )
        out += notes + ([""] if notes else [])
    return out


def failed_md(failed: dict[str, int]) -> str:
    """`0`, or the failed calls per kind (e.g. `search 3, self-query 1`)."""
    parts = [f"{kind.replace('_', '-')} {n}" for kind, n in failed.items() if n]
    return ", ".join(parts) if parts else "0"


def meta_md(results: dict[str, Any]) -> list[str]:
    m, v, g = results["machine"], results["versions"], results["git"]
    cpu = m["lscpu"]
    dirty = f" + {len(g['dirty_files'])} uncommitted file(s)" if g.get("dirty_files") else ""
    out = [
        f"- **Run**: {results['mode']}, {results['date']}, {results.get('total_seconds', '?')} s in all.",
        f"- **Command**: `{results['command']}`",
        (
            f"- **Machine**: {cpu.get('Model name', '?')}, {cpu.get('CPU(s)', '?')} CPUs "
            f"({cpu.get('Thread(s) per core', '?')} thread/core), L2 {cpu.get('L2 cache', '?')}, "
            f"L3 {cpu.get('L3 cache', '?')}, {m['mem_gib']} GiB, {cpu.get('Hypervisor vendor', 'bare metal')} "
            f"guest; {cpu.get('SIMD flags', '')}; sagevec ISA {m['sagevec_isa']}."
        ),
        "- **Versions**: "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + f"; faiss {m['faiss_compile']}; numpy BLAS {m['numpy_blas']}.",
        (
            f"- **Commit**: `{g['commit'][:12]}`{dirty}; the sagevec wheel was built from the "
            f"{g.get('wheel_source', 'working tree')}."
        ),
    ]
    base = results.get("baseline")
    if base:
        out.append(
            f"- **Baseline** (the 'no worse than before' rows): `{base['source']}`, a {base['mode']} run of "
            f"{base['date']} on {base['cpu']}, commit `{base['commit'][:12]}`, wheel from the {base['wheel_source']}."
        )
    secs = results.get("sections", {})
    out += ["", "Machine load per section (1-min load average before; cores other processes used during it):", ""]
    out += table(
        ["section", "load before", "other processes (cores)", "seconds"],
        ([n, s["load_before"][0], s.get("other_processes_cores", "?"), s.get("seconds", "?")] for n, s in secs.items()),
    )
    return out


def body_md(results: dict[str, Any], img_prefix: str, level: int) -> list[str]:
    h = "#" * level
    secs = {n: s for n, s in results.get("sections", {}).items() if "seconds" in s}
    out = meta_md(results)
    out += [f"{h} Targets", "", "sagevec vs peer > 1 means sagevec is ahead (for times: peer ÷ sagevec).", ""]
    out += targets_md(results.get("targets", []))
    renderers: list[tuple[str, str, Callable[[dict[str, Any]], list[str]], list[str]]] = [
        ("kernels", "Kernel throughput", kernels_md, [plots.KERNELS_PNG]),
        ("exact", "Exact batch search", exact_md, [plots.EXACT_PNG]),
        ("hnsw", "HNSW: recall@10 vs QPS, build time", lambda s: hnsw_md(s, img_prefix), []),
        ("threads", "Single-query search from Python threads", threads_md, [plots.THREADS_PNG]),
        ("mix", "90/10 search/add mix", mix_md, [plots.MIX_PNG]),
    ]
    for key, title, render, pngs in renderers:
        if key not in secs:
            continue
        out += [f"{h} {title}", ""] + render(secs[key])
        out += [f"![{title}]({img_prefix}{p})" for p in pngs] + ([""] if pngs else [])
    return out


def write(results: dict[str, Any], out_dir: Path) -> list[str]:
    """report.md and the plots in `out_dir`; returns the plot file names."""
    pngs = plots.make_all(results, out_dir, MIX_CPU_GOAL)
    text = [f"# sagevec vs faiss / hnswlib / usearch / simsimd / numkong ({results['mode']} run)", ""]
    text += body_md(results, "", 2)
    (out_dir / "report.md").write_text("\n".join(text))
    return pngs


def publish(results: dict[str, Any], out_dir: Path, pngs: list[str], root: Path) -> None:
    """The tables into BENCHMARKS.md between its markers, the plots into benches/results/."""
    dest = root / "benches" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.png"):
        old.unlink()
    for png in pngs:
        shutil.copy(out_dir / png, dest / png)
    bench_md = root / "BENCHMARKS.md"
    text = bench_md.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{bench_md}: no {BEGIN} / {END} markers to publish between")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    label = (
        ""
        if results["mode"] == "full"
        else "\n> **This is a `--quick` run** (small sizes, one run per timing): it shows the script works; "
        "its figures are not the published comparison.\n"
    )
    block = "\n".join(body_md(results, "benches/results/", 3))
    bench_md.write_text(
        f"{head}{BEGIN}\n<!-- written by compare.py --publish; edit the text outside the "
        f"markers -->\n{label}\n{block}\n{END}{tail}"
    )
