#!/usr/bin/env bash
# Every test, after all set-up: formatting, lints (two feature sets), the workspace
# test suite, the kernel tests once per ISA this CPU has, the same tests on emulated
# older CPUs (qemu-user: Nehalem has no AVX, Haswell no AVX-512), valgrind memcheck
# over the AVX2 kernels, docs with warnings denied, benchmarks compiled, and the
# Python tests once the wheel exists. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh

step() { printf '\n==> %s\n' "$*"; }
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (default features, then no default features)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --no-default-features -- -D warnings
# The index's library as its users build it: without `test-hooks` (its tests,
# and so every --all-targets build above, turn the feature on).
cargo clippy -p sagevec-index --lib -- -D warnings

step "workspace tests (optimised test profile)"
cargo nextest run --workspace --profile ci
cargo test --workspace --doc

# Paths of the kernel test binaries (the `test` profile, as nextest built them);
# extra environment (e.g. RUSTFLAGS for the emulated-AVX-512 build) passes through.
kernel_test_binaries() {
  cargo test -p sagevec-kernels --tests --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"] \
       and m["target"]["name"] in ("parity", "knn", "guard", "stored", "chunked", "int8", "bits", "scaled"):
        print(m["executable"])
'
}
mapfile -t KERNEL_TESTS < <(kernel_test_binaries)
[ "${#KERNEL_TESTS[@]}" -eq 8 ] || { echo "expected 8 kernel test binaries, found ${#KERNEL_TESTS[@]}" >&2; exit 1; }

ISAS=$(cargo run -q --release -p sagevec-cli -- info --isas)
for isa in $ISAS; do
  step "kernel parity/knn/guard/stored/chunked/int8/bits/scaled tests with SAGEVEC_ISA=$isa"
  for t in "${KERNEL_TESTS[@]}"; do SAGEVEC_ISA=$isa "$t" -q; done
done

if ! echo "$ISAS" | grep -qw avx512; then
  # The AVX-512 kernels' logic (bounds, masked tails, lane order, blends, NaN
  # operand order) on scalar stand-ins for the intrinsics, with x86 semantics.
  # Real AVX-512 hardware runs them natively in the loop above instead.
  step "AVX-512 kernels on emulated intrinsics (this CPU has no AVX-512)"
  RUSTFLAGS="--cfg sagevec_avx512_emu" CARGO_TARGET_DIR=target/avx512-emu \
    cargo clippy -q -p sagevec-kernels --all-targets -- -D warnings
  mapfile -t EMU_TESTS < <(RUSTFLAGS="--cfg sagevec_avx512_emu" CARGO_TARGET_DIR=target/avx512-emu kernel_test_binaries)
  [ "${#EMU_TESTS[@]}" -eq 8 ] || { echo "expected 8 emulated kernel test binaries, found ${#EMU_TESTS[@]}" >&2; exit 1; }
  for t in "${EMU_TESTS[@]}"; do SAGEVEC_ISA=avx512 "$t" -q; done
fi

# The scheduler's pointer swap (src/generational.rs) under every interleaving loom
# explores; its own target directory, since the cfg rebuilds every dependency.
step "loom model of the NumaPool pointer swap (sagevec-scheduler)"
SCHED_LOOM=(-q -p sagevec-scheduler --release --no-default-features --test loom_pool)
RUSTFLAGS="--cfg sagevec_loom" CARGO_TARGET_DIR=target/loom cargo clippy "${SCHED_LOOM[@]}" -- -D warnings
RUSTFLAGS="--cfg sagevec_loom" CARGO_TARGET_DIR=target/loom cargo test "${SCHED_LOOM[@]}"

# The live graph's insert/publish protocol (index/src/live/loom_model.rs): the
# production insertion over loom atomics, two writers and a reader.
step "loom model of the live graph's insert/publish protocol (sagevec-index)"
INDEX_LOOM=(-q -p sagevec-index --release --no-default-features --lib)
RUSTFLAGS="--cfg sagevec_loom" CARGO_TARGET_DIR=target/loom cargo clippy "${INDEX_LOOM[@]}" --tests -- -D warnings
RUSTFLAGS="--cfg sagevec_loom" CARGO_TARGET_DIR=target/loom cargo test "${INDEX_LOOM[@]}" loom

step "sagevec demo --quick (the README's main job, small), on every ISA"
for isa in $ISAS; do
  echo "SAGEVEC_ISA=$isa"
  SAGEVEC_ISA=$isa target/release/sagevec demo --quick --n 5000 --queries 200 --seconds 0.5 | tail -n +2
done

step "older CPUs under qemu-user (baseline code must not execute wide instructions)"
if command -v qemu-x86_64 >/dev/null; then
  SV=target/release/sagevec
  out=$(qemu-x86_64 -cpu Nehalem "$SV" info --isas)
  [ "$out" = "scalar" ] || { echo "Nehalem: expected only scalar, got: $out" >&2; exit 1; }
  set +e
  SAGEVEC_ISA=avx2 qemu-x86_64 -cpu Nehalem "$SV" info >/dev/null 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || { echo "Nehalem with SAGEVEC_ISA=avx2: expected exit 2, got $rc" >&2; exit 1; }
  out=$(qemu-x86_64 -cpu Haswell "$SV" info --isas | tr '\n' ' ')
  [ "$out" = "scalar avx2 " ] || { echo "Haswell: expected scalar avx2, got: $out" >&2; exit 1; }
  for cpu in Nehalem Haswell; do
    for t in "${KERNEL_TESTS[@]}"; do
      echo "qemu -cpu $cpu $(basename "$t")"
      PROPTEST_CASES=24 qemu-x86_64 -cpu "$cpu" "$t" -q 2>&1 | grep -v "TCG doesn't support"
    done
  done
else
  echo "SKIP: qemu-x86_64 not available"
  [ "${CI:-}" != "true" ] || { echo "CI needs qemu-user" >&2; exit 1; }
fi

step "valgrind memcheck over the kernel tests (AVX2: valgrind 3.19 cannot decode AVX-512)"
if echo "$ISAS" | grep -qw avx2; then
  for t in "${KERNEL_TESTS[@]}"; do
    case "$t" in */guard-*) continue ;; esac # mprotect'd pages: covered natively above
    echo "valgrind $(basename "$t")"
    SAGEVEC_ISA=avx2 PROPTEST_CASES=4 valgrind -q --error-exitcode=1 "$t" -q
  done
else
  echo "SKIP: no AVX2 on this CPU"
fi

step "C ABI: exports, header as C99/C++, C tests on the shared and static library, valgrind"
bindings/c/tests/run.sh

step "docs (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace -q

step "benchmarks compile"
cargo bench --workspace --no-run -q

step "python bench scripts: ruff check, ruff format --check, their tests (index_mix's data = the Rust bench's; the mix's accounting)"
.venv/bin/ruff check benches scripts bindings
.venv/bin/ruff format --check benches scripts bindings
.venv/bin/python -m pytest -q benches/compare/test_index_data.py benches/compare/test_index_mix.py

if [ -d bindings/python ]; then
  step "python: build the extension into .venv (maturin), pytest, stubtest"
  VENV="$PWD/.venv"
  (cd bindings/python && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" maturin develop --release -q)
  set +e
  "$VENV/bin/python" -m pytest -q bindings/python/tests
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || { echo "pytest failed (exit $rc; 5 means no test ran)" >&2; exit 1; }
  "$VENV/bin/python" -m mypy.stubtest sagevec._native
fi

printf '\nscripts/test.sh: every step passed\n'
