"""compare.py's plots (matplotlib, Agg backend), drawn from the results dictionary.

Small PNGs (dpi 100, a few colours, no transparency) so the published ones stay
well under 100 KB each.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

KERNELS_PNG = "kernels.png"
EXACT_PNG = "exact.png"
BUILD_PNG = "hnsw_build.png"
THREADS_PNG = "threads.png"
MIX_PNG = "mix.png"
DPI = 100
COLOURS = {
    "sagevec": "#d62728",
    "hnswlib": "#1f77b4",
    "faiss": "#2ca02c",
    "usearch": "#ff7f0e",
    "numpy": "#7f7f7f",
    "simsimd": "#9467bd",
    "numkong": "#8c564b",
}


def recall_png(dataset: str) -> str:
    return f"hnsw_{dataset}.png"


def colour(name: str) -> str:
    return COLOURS.get(name.split()[0], "#17becf")


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    """Writes `fig` as a palette PNG (64 colours: a few times smaller than RGBA)."""
    from PIL import Image

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    pyplot().close(fig)
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(colors=64).save(path, optimize=True)


def grouped_bars(
    ax: Any,
    groups: list[str],
    series: dict[str, list[float | None]],
    ylabel: str,
    log: bool = False,
    colours: dict[str, str] | None = None,
) -> None:
    """One bar per series in each group (None: no bar); colours by series name."""
    n = max(1, len(series))
    width = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        ys = [v if v is not None else 0.0 for v in values]
        ax.bar(xs, ys, width, label=name, color=(colours or {}).get(name, colour(name)))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)


def plot_kernels(sec: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    cases = list(dict.fromkeys(r["case"] for r in sec["rows"]))
    fig, axes = plt.subplots(1, len(cases), figsize=(11, 4.2), squeeze=False)
    for ax, case in zip(axes[0], cases):
        rows = [r for r in sec["rows"] if r["case"] == case]
        names = [r["impl"] for r in rows]
        ax.barh(range(len(rows)), [r["gbps"] for r in rows], color=[colour(n) for n in names])
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([n[:44] for n in names], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("GB/s (base bytes read per call / time)")
        ax.set_title(case.split(",")[0] + ", one thread", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    save(fig, path)


def plot_exact(sec: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    rows = sec["rows"]
    groups = list(dict.fromkeys((r["dim"], r["threads"]) for r in rows))
    labels = {
        "sagevec": "sagevec kernels.knn",
        "BLAS": "faiss IndexFlatL2, BLAS path",
        "SIMD scan": "faiss IndexFlatL2, SIMD path",
    }
    colours = {labels["sagevec"]: COLOURS["sagevec"], labels["BLAS"]: COLOURS["faiss"], labels["SIMD scan"]: "#98df8a"}
    series: dict[str, list[float | None]] = {}
    for key, label in labels.items():
        series[label] = [
            next(
                (
                    r["qps"]
                    for r in rows
                    if (r["dim"], r["threads"]) == g
                    and (r["engine"] == key or (r["engine"] == "faiss" and r["path"] == key))
                ),
                None,
            )
            for g in groups
        ]
    fig, ax = plt.subplots(figsize=(8, 4))
    grouped_bars(ax, [f"d={d}, {t} thr" for d, t in groups], series, "queries / s", log=True, colours=colours)
    ax.set_title(f"exact k={sec['k']} search, {sec['queries']} x {sec['base']:,}", fontsize=10)
    save(fig, path)


def plot_recall(name: str, ds: dict[str, Any], target: float, path: Path) -> None:
    plt = pyplot()
    sweeps = ds["sweeps"]
    fig, axes = plt.subplots(1, len(sweeps), figsize=(5 * len(sweeps), 4), squeeze=False)
    for ax, (t, curves) in zip(axes[0], sweeps.items()):
        for engine, points in curves.items():
            ax.plot(
                [p["recall"] for p in points],
                [p["qps"] for p in points],
                marker="o",
                ms=3,
                label=engine,
                color=colour(engine),
                lw=2 if engine == "sagevec" else 1.2,
            )
        ax.axvline(target, color="#999999", ls="--", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries / s (batch)")
        d = ds["data"]
        ax.set_title(f"{name} {d['n']:,} x {d['dim']}, {t} thread(s)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, path)


def plot_builds(sec: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    groups, series = [], {}
    for name, ds in sec["datasets"].items():
        for t in dict.fromkeys(b["threads"] for b in ds["builds"]):
            groups.append(f"{name}\n{t} thread(s)")
            for b in ds["builds"]:
                if b["threads"] == t:
                    series.setdefault(b["engine"], []).append(b["seconds"])
    fig, ax = plt.subplots(figsize=(8, 4))
    grouped_bars(ax, groups, series, "build seconds (lower is better)")
    ax.set_title(f"HNSW build, M={sec['m']}, ef_construction={sec['ef_construction']}", fontsize=10)
    save(fig, path)


def plot_threads(sec: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    counts = [str(t) for t in sec["thread_counts"]]
    datasets = sec["datasets"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    for ax, (name, ds) in zip(axes[0], datasets.items()):
        engines = [r["engine"] for r in ds["rows"]]
        n = len(counts)
        for i, t in enumerate(counts):
            xs = [e + (i - (n - 1) / 2) * 0.8 / n for e in range(len(engines))]
            ax.bar(
                xs,
                [r["qps"][t] for r in ds["rows"]],
                0.8 / n,
                label=f"{t} Python thread(s)",
                color=["#9ecae1", "#3182bd", "#08519c"][i % 3],
            )
        for e, r in enumerate(ds["rows"]):
            ax.text(e, r["qps"][counts[-1]], f"{r['ratio']:.2f}x", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(engines)))
        ax.set_xticklabels(engines, fontsize=8)
        ax.set_ylabel("single-query searches / s")
        ax.set_title(f"{name}: single-query search, recall@10 >= 0.95", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, path)


def plot_mix(sec: dict[str, Any], path: Path, cpu_goal: float | None = None) -> None:
    plt = pyplot()
    groups: list[str] = []
    ops: dict[str, list[float | None]] = {}
    p99: dict[str, list[float | None]] = {}
    cpu: dict[str, list[float | None]] = {}
    for name, ds in sec["datasets"].items():
        for t in dict.fromkeys(r["threads"] for r in ds["rows"]):
            groups.append(f"{name}\n{t} thr")
            for r in ds["rows"]:
                if r["threads"] == t:
                    ops.setdefault(r["engine"], []).append(r["mix"]["ops_per_s"])
                    p99.setdefault(r["engine"], []).append(r["mix"]["search_p99_us"])
                    cpu.setdefault(r["engine"], []).append(r.get("search_cpu_ratio"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    grouped_bars(axes[0], groups, ops, "operations / s (higher is better)")
    axes[0].set_title("90/10 search/add mix: throughput", fontsize=9)
    grouped_bars(axes[1], groups, p99, "search p99, µs (lower is better)", log=True)
    axes[1].set_title("90/10 search/add mix: search p99 latency", fontsize=9)
    grouped_bars(axes[2], groups, cpu, "search thread CPU, mix ÷ read-only (lower is better)")
    if cpu_goal is not None:
        axes[2].axhline(cpu_goal, color="#999999", ls="--", lw=0.8, label=f"target <= {cpu_goal}x")
        axes[2].legend(fontsize=7)
    axes[2].axhline(1.0, color="#cccccc", lw=0.8)
    axes[2].set_title("a search's own CPU time while adds run", fontsize=9)
    save(fig, path)


def make_all(results: dict[str, Any], out_dir: Path, cpu_goal: float | None = None) -> list[str]:
    """Every plot the results have data for, written into `out_dir`; their names.
    `cpu_goal`: the mix's search-CPU target, drawn as a line."""
    secs = {n: s for n, s in results.get("sections", {}).items() if "seconds" in s}
    made = []
    if "kernels" in secs and secs["kernels"].get("rows"):
        plot_kernels(secs["kernels"], out_dir / KERNELS_PNG)
        made.append(KERNELS_PNG)
    if "exact" in secs and secs["exact"].get("rows"):
        plot_exact(secs["exact"], out_dir / EXACT_PNG)
        made.append(EXACT_PNG)
    if "hnsw" in secs and secs["hnsw"].get("datasets"):
        for name, ds in secs["hnsw"]["datasets"].items():
            plot_recall(name, ds, secs["hnsw"]["target_recall"], out_dir / recall_png(name))
            made.append(recall_png(name))
        plot_builds(secs["hnsw"], out_dir / BUILD_PNG)
        made.append(BUILD_PNG)
    if "threads" in secs and secs["threads"].get("datasets"):
        plot_threads(secs["threads"], out_dir / THREADS_PNG)
        made.append(THREADS_PNG)
    if "mix" in secs and secs["mix"].get("datasets"):
        plot_mix(secs["mix"], out_dir / MIX_PNG, cpu_goal)
        made.append(MIX_PNG)
    return made
