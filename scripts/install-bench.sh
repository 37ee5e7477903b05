#!/usr/bin/env bash
# Install benchmark: a game of plain (not archived) files installed into
# local/ with `lanspread-worker install`, on ext4 (a copy) and on XFS with
# reflinks (a copy-on-write clone): the time it takes and the disk space
# the install adds, from df before and after.
#
#   sudo scripts/install-bench.sh [--size MB]     (default 400)
#
# Needs root (it mounts a loop-backed XFS image under a temporary folder)
# and installs xfsprogs if missing. Nothing is left mounted.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=400
while [ $# -gt 0 ]; do
  case $1 in
    --size) SIZE_MB=$2; shift 2 ;;
    *) echo "install-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install-bench: needs root to mount an XFS image" >&2; exit 2; }
command -v mkfs.xfs >/dev/null || apt-get install -y -qq --no-install-recommends xfsprogs >/dev/null
cargo build -q --release -p lanspread-worker
WORKER=target/release/lanspread-worker

WORK=$(mktemp -d)
cleanup() {
  mountpoint -q "$WORK/xfs" && umount "$WORK/xfs"
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/xfs" "$WORK/plain"
truncate -s "$((SIZE_MB * 3 + 300))M" "$WORK/xfs.img"
mkfs.xfs -q -f "$WORK/xfs.img"
mount -o loop "$WORK/xfs.img" "$WORK/xfs"

used_bytes() { sync; df --block-size=1 --output=used "$1" | tail -1; }
measure() { # LABEL DIR
  local games="$2/games"
  mkdir -p "$games/openarena/data"
  head -c "$((SIZE_MB * 1000 * 1000))" /dev/urandom > "$games/openarena/data/pak0.bin"
  echo 0.8.8 > "$games/openarena/version.ini"
  local before after start end
  before=$(used_bytes "$2")
  start=$(date +%s.%N)
  "$WORKER" install --games "$games" openarena > /dev/null 2>&1
  end=$(date +%s.%N)
  after=$(used_bytes "$2")
  cmp -s "$games/openarena/data/pak0.bin" "$games/openarena/local/data/pak0.bin" \
    || { echo "install-bench: $1: the installed file differs" >&2; exit 1; }
  awk -v label="$1" -v s="$start" -v e="$end" -v b="$before" -v a="$after" \
    'BEGIN { printf "%-22s %8.2f s  %10.1f MB added on disk\n", label, e - s, (a - b) / 1e6 }'
}
echo "install-bench: a ${SIZE_MB} MB plain file installed into local/"
measure "$(df --output=fstype "$WORK/plain" | tail -1) (copy)" "$WORK/plain"
measure "xfs (reflink)" "$WORK/xfs"
