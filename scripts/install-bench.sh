#!/usr/bin/env bash
# Install benchmark: a game of plain (not archived) files installed into
# local/ with `lanspread-worker install`, on ext4 (a copy) and on XFS with
# reflinks (a copy-on-write clone): the time it takes and the disk space
# the install adds, from df before and after.
#
#   sudo scripts/install-bench.sh [--size MB]     (default 400)
#   sudo scripts/install-bench.sh --files N       (many files, e.g. 20000)
#
# With --files, a game of N small files (1-60 KB) and three of 95 MB
# instead: a seeder's first scan of it (read, hash, file list; with the page
# cache dropped, then warm), and its install from a stored zip and from a
# .tar.zst of the same files, with the bytes read from each archive.
#
# Needs root (it mounts a loop-backed XFS image under a temporary folder)
# and installs xfsprogs if missing. Nothing is left mounted.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=400 FILES=0
while [ $# -gt 0 ]; do
  case $1 in
    --size) SIZE_MB=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    *) echo "install-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install-bench: needs root to mount an XFS image" >&2; exit 2; }
command -v mkfs.xfs >/dev/null || apt-get install -y -qq --no-install-recommends xfsprogs >/dev/null
cargo build -q --release -p lanspread-worker
WORKER=target/release/lanspread-worker

# many_files: the --files scenario: the scan on the machine's own disk, each
# install on a fresh loop-mounted ext4.
many_files() {
  local game start end
  work=$(mktemp -d /var/tmp/lanspread-install-bench.XXXXXX)
  trap 'mountpoint -q "$work/games" && umount "$work/games"; rm -rf "$work"' EXIT
  game=$work/src/openarena
  python3 - "$game" "$FILES" <<'PY'
import os, sys
game, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    d = os.path.join(game, "data", "set%02d" % (i % 40))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.dat" % i), "wb") as f:
        f.write(os.urandom((i * 7919) % 60417 + 1024))
for i in range(3):
    with open(os.path.join(game, "pak%d.pk3" % i), "wb") as f:
        for _ in range(95):
            f.write(os.urandom(1 << 20))
open(os.path.join(game, "version.ini"), "w").write("1.0\n")
PY
  echo "install-bench: a game of $(du -sb --apparent-size "$game" | cut -f1) bytes in $(find "$game" -type f | wc -l) files"
  scan() { # LABEL
    rm -rf "$work/state"
    start=$(date +%s.%N)
    "$WORKER" serve --json --games "$work/src" --listen 127.0.0.1:0 --no-mdns --state "$work/state" > "$work/serve.json" 2>/dev/null &
    local pid=$!
    until grep -q '"event":"library"' "$work/serve.json" 2>/dev/null; do sleep 0.02; done
    end=$(date +%s.%N)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    awk -v label="$1" -v s="$start" -v e="$end" 'BEGIN { printf "%-34s %8.2f s\n", label, e - s }'
  }
  sync; echo 3 > /proc/sys/vm/drop_caches
  scan "first scan, cold page cache"
  scan "first scan, warm page cache"
  # Each install on a fresh ext4 of its own: ext4 passes over inodes freed
  # lately when it makes files, so an install right after deleting the last
  # one's 20,000 files would pay for that.
  install_from() { # LABEL ARCHIVE
    local games=$work/games root
    mkdir -p "$games"
    truncate -s 4G "$work/ext4.img"
    mkfs.ext4 -q -F "$work/ext4.img"
    mount -o loop "$work/ext4.img" "$games"
    root=$games/openarena
    mkdir -p "$root"
    cp "$2" "$root/"
    echo 1.0 > "$root/version.ini"
    start=$(date +%s.%N)
    "$WORKER" install --games "$games" --json openarena > "$work/install.json" 2>/dev/null
    end=$(date +%s.%N)
    diff -rq "$game" "$root/local" -x version.ini > /dev/null || { echo "install-bench: $1: local/ differs" >&2; exit 1; }
    local read
    read=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    v = json.loads(l)
    if v["event"] == "installed": print(v["archive_bytes_read"])' "$work/install.json")
    awk -v label="install from $1" -v s="$start" -v e="$end" -v r="$read" -v a="$(stat -c %s "$root/$(basename "$2")")" \
      'BEGIN { printf "%-34s %8.2f s  (%.2f of the archive read)\n", label, e - s, r / a }'
    umount "$games"
    rm -f "$work/ext4.img"
  }
  (cd "$game" && zip -q -0 -r "$work/pack.zip" . -x version.ini)
  install_from "a stored zip" "$work/pack.zip"
  (cd "$game" && tar --exclude=./version.ini -cf - . | zstd -q -3 -o "$work/pack.tar.zst")
  install_from "a .tar.zst" "$work/pack.tar.zst"
}
if [ "$FILES" -gt 0 ]; then many_files; exit 0; fi

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
