#!/usr/bin/env python3
"""Read-only HNSW batch QPS of whichever sagevec wheel runs this script, for A/B runs.

Builds Fashion-MNIST (20,000 x 784, L2, M = 16, ef_construction = 200) with one `add`
and `wait_for_builds()`, then times `batch_search` of the 1,000 queries at a few ef
values: 7 blocks of at least 0.25 s each, median QPS printed. Run it alternately with
two venvs' interpreters (an old wheel and a new one) on the same machine, so drift
hits both:

    for t in 1 2; do
      OLD/.venv-bench/bin/python benches/compare/hnsw_ab.py --threads $t --label old
      .venv-bench/bin/python benches/compare/hnsw_ab.py --threads $t --label new
    done
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import sagevec

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--label", default=sagevec.__version__)
    ap.add_argument("--ef", default="10,16,48", help="ef values, comma-separated")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "fashion-mnist-784-l2")
    args = ap.parse_args()
    base = np.load(args.data_dir / "base.npy").astype(np.float32)
    queries = np.load(args.data_dir / "queries.npy").astype(np.float32)
    ix = sagevec.Index(base.shape[1], "l2", m=16, ef_construction=200, threads=args.threads)
    ix.add(base)
    ix.wait_for_builds()
    out = []
    for ef in (int(e) for e in args.ef.split(",")):
        ix.batch_search(queries, k=10, ef=ef)
        qps = []
        for _ in range(7):
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < 0.25:
                ix.batch_search(queries, k=10, ef=ef)
                n += 1
            qps.append(n * len(queries) / (time.perf_counter() - t0))
        out.append(f"ef={ef} {statistics.median(qps):,.0f}")
    print(args.label, f"t={args.threads}", " ".join(out))


if __name__ == "__main__":
    main()
