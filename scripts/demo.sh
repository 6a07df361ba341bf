#!/usr/bin/env bash
# The main job: set up, build in release, and run the sagevec demo on built-in data.
# Until `sagevec demo` exists, that is `sagevec info` and a quick kernel benchmark.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
cargo build --release -p sagevec-cli
target/release/sagevec info
target/release/sagevec bench kernels --quick "$@"
