#!/usr/bin/env bash
# Creates or updates the bench venv `.venv-bench` (repository root, ignored by git):
# the peers pinned in benches/compare/requirements.txt (faiss-cpu, hnswlib, usearch,
# simsimd, numkong, numpy, matplotlib, maturin), then the sagevec wheel built in
# release mode from this checkout and installed into it.
#
#   bash benches/compare/setup.sh                # the wheel from the working tree
#   bash benches/compare/setup.sh --commit HEAD  # the wheel from a clean export of a commit
#
# `--commit REF` builds from `git archive REF` unpacked under target/bench-src/, so
# uncommitted edits (others' work in progress) stay out of published numbers. What the
# wheel was built from is written to .venv-bench/.sagevec-wheel-source; compare.py
# records it.
#
# Idempotent and quick when nothing changed: pip runs only when requirements.txt
# changed (a hash stamp in the venv), cargo's build is a no-op when the sources are
# unchanged, and the wheel is reinstalled only when its bytes changed.
#
# Why a wheel and not `maturin develop` (what scripts/test.sh does for `.venv`):
# `maturin develop` writes the extension into bindings/python/python/sagevec/, the
# directory `.venv` imports from, so a bench build and a test build would overwrite
# each other. The wheel is installed into .venv-bench's site-packages, so a benchmark
# measures exactly the build this script made. It is built in its own target
# directory (target/bench-wheel) so cargo never rebuilds what others' builds in
# target/ left there (maturin passes each venv's interpreter to pyo3's build script).
# Release profile, no -C target-cpu: the wheel dispatches on the CPU at run time, as a
# published wheel does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

REF=""
while (($#)); do
  case "$1" in
    --commit) REF="${2:?--commit needs a git ref}"; shift 2 ;;
    --commit=*) REF="${1#--commit=}"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

VENV="$PWD/.venv-bench"
REQUIREMENTS=benches/compare/requirements.txt
WHEEL_DIR=target/bench-wheel/wheels
export CARGO_TARGET_DIR="$PWD/target/bench-wheel"

step() { printf '==> %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"

stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  # hnswlib builds from source here (compiled for this CPU): needs a C++ compiler.
  step "pip install -r $REQUIREMENTS"
  "$PY" -m pip install -q -r "$REQUIREMENTS"
  echo "$want" >"$stamp"
else
  step "requirements unchanged ($REQUIREMENTS)"
fi

if [ -n "$REF" ]; then
  sha=$(git rev-parse --verify "$REF^{commit}")
  SRC="$PWD/target/bench-src/$sha"
  if [ ! -d "$SRC" ]; then
    step "exporting $sha into target/bench-src/"
    rm -rf target/bench-src
    mkdir -p "$SRC"
    git archive "$sha" | tar -x -C "$SRC"
  fi
  SOURCE="commit $sha (clean export)"
else
  SRC="$PWD"
  SOURCE="working tree at $(git rev-parse HEAD) ($(git status --porcelain --untracked-files=no | wc -l) modified tracked files)"
fi

step "maturin build --release from the $SOURCE (cargo may wait for a lock while others build)"
rm -rf "$WHEEL_DIR"
"$VENV/bin/maturin" build --release --quiet -m "$SRC/bindings/python/Cargo.toml" \
  --interpreter "$PY" --out "$WHEEL_DIR"
wheel=$(ls "$WHEEL_DIR"/sagevec-*.whl)
[ "$(echo "$wheel" | wc -l)" -eq 1 ] || { echo "expected one wheel in $WHEEL_DIR, got: $wheel" >&2; exit 1; }

wheel_stamp="$VENV/.sagevec-wheel.sha256"
# A wheel's bytes carry file times and its SBOM a random serial number: hash the
# package files inside instead (not the .dist-info metadata).
have=$("$PY" - "$wheel" <<'EOF'
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    h = hashlib.sha256()
    for name in sorted(z.namelist()):
        if ".dist-info/" not in name:
            h.update(name.encode())
            h.update(z.read(name))
print(h.hexdigest())
EOF
)
if [ "$(cat "$wheel_stamp" 2>/dev/null || true)" != "$have" ] || ! "$PY" -c "import sagevec" 2>/dev/null; then
  step "pip install $(basename "$wheel")"
  "$PY" -m pip install -q --force-reinstall --no-deps "$wheel"
  echo "$have" >"$wheel_stamp"
else
  step "sagevec wheel unchanged"
fi
echo "$SOURCE" >"$VENV/.sagevec-wheel-source"

"$PY" -c "import sagevec; print('sagevec', sagevec.__version__, 'from', sagevec.__file__, '- ISA', sagevec.active_isa())"
