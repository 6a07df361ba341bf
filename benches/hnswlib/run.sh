#!/usr/bin/env bash
# hnswlib with its own distance vs with sagevec's resolved kernel (the C ABI), on
# Fashion-MNIST (20 000 x 784, L2): build time and single-threaded QPS at
# recall@10 >= 0.95, for hnswlib compiled with -march=native, hnswlib compiled
# portably (no -march: what a distribution package gets), and both builds with
# sagevec_space.h instead of hnswlib's L2Space (the kernel is chosen at run time
# either way). The variants alternate within each round. hnswlib's headers come from its PyPI source
# distribution, fetched here (pip download) into target/, never committed.
#
#   benches/hnswlib/run.sh [--rounds 3] [--runs 3] [--data DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

rounds=3
runs=3
data=../shared/data/fashion-mnist-784-l2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
HNSWLIB_VERSION=0.8.0
work=target/hnswlib-bench
mkdir -p "$work"

if [ ! -f "$work/hnswlib-$HNSWLIB_VERSION/hnswlib/hnswlib.h" ]; then
  echo "fetching the hnswlib $HNSWLIB_VERSION source distribution (PyPI)"
  python3 -m pip download -q --no-deps --no-binary=hnswlib "hnswlib==$HNSWLIB_VERSION" -d "$work"
  tar xzf "$work/hnswlib-$HNSWLIB_VERSION.tar.gz" -C "$work"
fi
inc="$work/hnswlib-$HNSWLIB_VERSION"

bindings/c/build.sh
export PKG_CONFIG_PATH="$ROOT/target/capi/pkgconfig"
cxx=(c++ -std=c++17 -O3 -DNDEBUG -I "$inc" -I benches/hnswlib $(pkg-config --cflags sagevec))
libs=($(pkg-config --libs sagevec) -Wl,-rpath,"$ROOT/target/release" -pthread)
"${cxx[@]}" -march=native benches/hnswlib/bench.cpp "${libs[@]}" -o "$work/bench-native"
"${cxx[@]}" benches/hnswlib/bench.cpp "${libs[@]}" -o "$work/bench-portable"

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'); load: $(uptime | sed 's/.*load average: //')"
echo "sagevec ISA: ${SAGEVEC_ISA:-best} ($(target/release/sagevec info --isas 2>/dev/null | tr '\n' ' ' || true))"
results="$work/results.jsonl"
: >"$results"
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds"
  "$work/bench-native" --data "$data" --space hnswlib --runs "$runs" --label hnswlib-native | tee -a "$results"
  "$work/bench-portable" --data "$data" --space hnswlib --runs "$runs" --label hnswlib-portable | tee -a "$results"
  "$work/bench-portable" --data "$data" --space sagevec --runs "$runs" --label sagevec-portable | tee -a "$results"
  "$work/bench-native" --data "$data" --space sagevec --runs "$runs" --label sagevec-native | tee -a "$results"
done
echo "load after: $(uptime | sed 's/.*load average: //')"
python3 benches/hnswlib/summary.py "$results"
