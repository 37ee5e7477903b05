#!/usr/bin/env bash
# The test command: installs what is missing, builds the worker binary the
# UI-side tests spawn (cargo test does not build other packages' binaries),
# then runs every test of the workspace. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build -p lanspread-worker
cargo test --workspace "$@"
