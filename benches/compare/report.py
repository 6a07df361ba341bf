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
THREADS_GOAL = 1.95  # issue 6: 2 Python threads of single-query search >= 1.95x one


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
    rows = sec.get("rows", [])
    for case in dict.fromkeys(r["case"] for r in rows):
        for metric in ("l2", "dot"):
            mine = [r for r in rows if r["case"] == case and r["metric"] == metric and r["impl"].startswith("sagevec")]
            peers = [
                r for r in rows if r["case"] == case and r["metric"] == metric and not r["impl"].startswith("sagevec")
            ]
            if not mine or not peers:
                continue
            best = max(peers, key=lambda r: r["gbps"])
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
                ">= 1.0x best peer",
                ratio is not None and ratio >= 1.0,
                "GB/s",
            )


def exact_targets(sec: dict[str, Any]) -> Iterable[dict[str, Any]]:
    rows = sec.get("rows", [])
    for key in dict.fromkeys((r["dim"], r["threads"]) for r in rows):
        group = [r for r in rows if (r["dim"], r["threads"]) == key]
        mine = next(r for r in group if r["engine"] == "sagevec")
        for path in ("BLAS", "SIMD scan"):
            peer = next((r for r in group if r["engine"] == "faiss" and r["path"] == path), None)
            if peer is None:
                continue
            ratio = ratio_of(mine["qps"], peer["qps"])
            yield target(
                "exact",
                f"uniform d={key[0]}",
                key[1],
                f"kernels.knn {mine['queries']} x {sec['base'] // 1000}k, k={sec['k']}, QPS",
                mine["qps"],
                f"faiss IndexFlatL2 ({path} path)",
                peer["qps"],
                ratio,
                ">= 1.0x",
                ratio is not None and ratio >= 1.0,
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
                ">= 1.0x best peer",
                ratio is not None and ratio >= 1.0,
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
                ">= 1.0x (as fast)",
                ratio is not None and ratio >= 1.0,
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
            ">= 1.0x best peer",
            ratio is not None and ratio >= 1.0,
            "QPS",
        )


def mix_targets(sec: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for name, ds in sec.get("datasets", {}).items():
        for t in dict.fromkeys(r["threads"] for r in ds["rows"]):
            rows = {r["engine"]: r for r in ds["rows"] if r["threads"] == t}
            mine, peer = rows.get("sagevec"), rows.get("hnswlib")
            if not mine or not peer:
                continue
            ratio = ratio_of(mine["mix"]["ops_per_s"], peer["mix"]["ops_per_s"])
            yield target(
                "mix",
                name,
                t,
                "90/10 mix ops/s",
                mine["mix"]["ops_per_s"],
                "hnswlib",
                peer["mix"]["ops_per_s"],
                ratio,
                ">= 1.0x hnswlib",
                ratio is not None and ratio >= 1.0,
                "ops/s",
            )
            found = mine["mix"]["self_found"]
            yield target(
                "mix",
                name,
                t,
                "acknowledged writes found by the next search",
                found,
                "hnswlib",
                peer["mix"]["self_found"],
                None,
                "100%",
                found == 1.0,
                "%",
            )
            p99 = ratio_of(peer["mix"]["search_p99_us"], mine["mix"]["search_p99_us"])
            yield target(
                "mix",
                name,
                t,
                "search p99 in the mix, µs (ratio: hnswlib ÷ sagevec)",
                mine["mix"]["search_p99_us"],
                "hnswlib",
                peer["mix"]["search_p99_us"],
                p99,
                "(no target)",
                None,
                "us",
            )


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    sections = results.get("sections", {})
    makers: dict[str, Callable[[dict[str, Any]], Iterable[dict[str, Any]]]] = {
        "kernels": kernel_targets,
        "exact": exact_targets,
        "hnsw": hnsw_targets,
        "threads": threads_targets,
        "mix": mix_targets,
    }
    out: list[dict[str, Any]] = []
    for name, make in makers.items():
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
            "of every row + `wait_for_builds()` (one graph segment, checked); its index's `threads=` sets "
            "both build and search workers."
        ),
        "",
    ]
    for name, ds in sec["datasets"].items():
        d = ds["data"]
        out += [f"**{name}** ({d['n']:,} x {d['dim']}, {d['queries']} queries)", ""]
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
    out = [
        (
            f"index_mix.py's schedule from Python threads: each thread repeats add one new vector, search "
            f"for it (self-query), 8 searches from the query set; {sec['ops_per_run']:,} operations per run, "
            f"{sec['rounds']} rounds of (read-only run, mix run) per engine, engines interleaved; medians over "
            "the rounds. For each thread count every engine's index is built anew from the same base (on every "
            "core); its rounds then run one after another, so the adds of earlier rounds stay in the index "
            "that later rounds search. Each engine uses the smallest ef reaching recall@10 >= 0.95 on the base. *self-found*: the just-acknowledged vector is in "
            "its own next search's top 10; *found after*: all added vectors searched again after the runs. "
            "sagevec seals and builds graphs in the background during the mix; *drain* is the wait for those "
            "builds after each mix run (not in ops/s)."
        ),
        "",
    ]
    rows = []
    for name, ds in sec["datasets"].items():
        for r in ds["rows"]:
            m, ro = r["mix"], r["read_only"]
            rows.append(
                [
                    name,
                    r["threads"],
                    r["engine"],
                    r["ef"],
                    num(m["ops_per_s"]),
                    num(ro["ops_per_s"]),
                    num(m["search_p99_us"]),
                    num(ro["search_p99_us"]),
                    num(m["add_p99_us"]),
                    num(m["self_found"], "%"),
                    num(r["acknowledged_found"], "%"),
                    m["errors"],
                    " ".join(f"{c:.2f}" for c in m["others_cores"]),
                    " ".join(f"{d:.1f}" for d in r["drain_s"]) or "–",
                ]
            )
    return out + table(
        [
            "data",
            "threads",
            "engine",
            "ef",
            "mix ops/s",
            "read-only ops/s",
            "mix search p99 µs",
            "read-only p99 µs",
            "add p99 µs",
            "self-found",
            "found after",
            "errors",
            "other procs' cores",
            "drain s",
        ],
        rows,
    )


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
    pngs = plots.make_all(results, out_dir)
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
