#!/usr/bin/env bash
# The main job: set up, build in release, and run the sagevec demo on built-in data.
# `sagevec demo` builds an index on generated clustered vectors, searches it
# (recall@10, QPS), then searches while writing; `--quick` makes it smaller.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
cargo build --release -p sagevec-cli
target/release/sagevec info
target/release/sagevec demo "$@"
