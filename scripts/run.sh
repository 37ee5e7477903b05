#!/usr/bin/env bash
# Builds LanSpread (release) and starts the desktop app. Arguments go to the
# app: --games DIR, --state DIR, --peer HOST:PORT, --no-mdns, --catalog FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release -p lanspread-worker -p lanspread
exec target/release/lanspread "$@"
