#!/usr/bin/env bash
# One-time, idempotent set-up for a fresh Debian machine (root or sudo): system
# packages, and (once the Python bindings exist) a venv with maturin, numpy, pytest.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# libhwloc-dev + libudev-dev: the scheduler's topology (hwlocality links -ludev).
# pkg-config: how hwlocality-sys finds hwloc. qemu-user: run the test suite on
# emulated older CPUs (Nehalem, Haswell). valgrind: memcheck over the AVX2 kernels.
APT_PACKAGES=(pkg-config libhwloc-dev libudev-dev qemu-user valgrind python3-venv)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo not found (install Rust stable >= 1.89 with rustup)" >&2; exit 1; }
if ! command -v cargo-nextest >/dev/null; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

if [ -d bindings/python ]; then
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r bindings/python/requirements-dev.txt
fi
