"""Summarises benches/hnswlib/run.sh's JSON lines: median build time and QPS per
variant, at the smallest ef where every variant reaches recall@10 >= 0.95, with the
ratios of sagevec's kernel to hnswlib's (>1 is faster with sagevec)."""

import json
import statistics
import sys
from collections import defaultdict

TARGET = 0.95
# Each of ours against each of hnswlib's own.
OURS = ("sagevec-portable", "sagevec-native")


def main(path: str) -> None:
    builds: dict[str, list[float]] = defaultdict(list)
    qps: dict[tuple[str, int], list[float]] = defaultdict(list)
    recall: dict[tuple[str, int], list[float]] = defaultdict(list)
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if "build_s" in row:
                builds[row["label"]].append(row["build_s"])
            else:
                key = (row["label"], row["ef"])
                qps[key].append(row["qps"])
                recall[key].append(row["recall"])
    labels = sorted(builds)
    efs = sorted({ef for _, ef in qps})
    reached = [ef for ef in efs if all(min(recall.get((lab, ef), [0.0])) >= TARGET for lab in labels)]
    if not reached:
        sys.exit(f"no ef reaches recall {TARGET} for every variant")
    ef = reached[0]
    print(f"\nmedians over {len(builds[labels[0]])} rounds; ef = {ef} (first with recall >= {TARGET})")
    print(f"{'variant':<18} {'build s':>9} {'recall@10':>10} {'QPS':>9}")
    med = {}
    for lab in labels:
        b = statistics.median(builds[lab])
        q = statistics.median(qps[(lab, ef)])
        med[lab] = (b, q)
        print(f"{lab:<18} {b:>9.3f} {statistics.median(recall[(lab, ef)]):>10.4f} {q:>9.0f}")
    for ours in (o for o in OURS if o in med):
        for lab in (lab for lab in labels if lab not in OURS):
            (b0, q0), (b1, q1) = med[lab], med[ours]
            print(f"{ours} vs {lab}: build {b0 / b1:.2f}x faster, QPS {q1 / q0:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1])
