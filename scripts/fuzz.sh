#!/usr/bin/env bash
# Fuzzes everything LanSpread reads from a peer, the IPC socket or the disk
# (fuzz/fuzz_targets: peer and IPC frames, manifests, the download journal,
# the intent log, the catalog and settings files, names and paths, game
# packs in every archive format, installed for real) with
# cargo fuzz (libFuzzer), one target after the other, and prints how many
# inputs each ran.
#
#   scripts/fuzz.sh [SECS]        each target for SECS seconds (default 60)
#   scripts/fuzz.sh --runs N      each target for N inputs
#   TARGETS="manifest names" scripts/fuzz.sh 30
#
# Needs a nightly toolchain (cargo fuzz builds with sanitizers); installs
# cargo-fuzz when missing. Not run by CI. A crash stops the run and leaves
# its input in fuzz/artifacts/TARGET/; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-max_total_time="${1:-60}")
if [ "${1:-}" = "--runs" ]; then
  limit=(-runs="${2:?--runs needs a number}")
fi
rustup toolchain list | grep -q '^nightly' || {
  echo "fuzz: needs a nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
targets=${TARGETS:-$(cargo +nightly fuzz list)}
cargo +nightly fuzz build
printf '%-12s %14s %8s %12s\n' target inputs seconds inputs/s
for target in $targets; do
  log=$(mktemp)
  start=$(date +%s)
  if ! cargo +nightly fuzz run "$target" -- "${limit[@]}" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  secs=$(( $(date +%s) - start ))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  printf '%-12s %14s %8s %12s\n' "$target" "$runs" "$secs" "$(( runs / (secs > 0 ? secs : 1) ))"
  rm -f "$log"
done
