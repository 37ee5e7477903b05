#!/usr/bin/env bash
# The test command: installs what is missing, builds the worker binary the
# UI-side tests spawn (cargo test does not build other packages' binaries;
# with its test hooks, which those tests use to slow a seeder down),
# then runs every test of the workspace (extra arguments go to `cargo test`)
# and, as root, the Windows build under Wine beside the Linux one
# (scripts/windows-check.sh --ci), and builds the Linux packages and checks
# them by installing them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build -p lanspread-worker --features test-hooks
cargo test --workspace "$@"
# The Windows build under Wine beside the Linux one: serve, fetch, install,
# the swarm, the supervisor over its named pipe, mDNS (a debug cross build).
if [ "$(id -u)" = 0 ]; then
  scripts/windows-check.sh --ci
else
  echo "SKIPPED the Windows interop check: its network namespace needs root"
fi
# The Linux packages, built from debug binaries (quicker) and installed,
# run and removed as a user would (installer/README.md).
if [ "$(id -u)" = 0 ]; then
  PROFILE=dev scripts/package.sh linux
  installer/linux/check-packages.sh
else
  echo "SKIPPED the package checks: installing a .deb needs root"
fi
