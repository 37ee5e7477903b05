#!/usr/bin/env bash
# kill -9 of `lanspread-worker fetch` (which downloads, then installs) at
# random moments, over and over, checking what is on disk after every kill:
# - `version.ini` present => every payload file is byte-identical to the seed;
# - `local/` present without an intent log => it holds the whole unpacked
#   game (the archive's content and the plain files).
# The next run resumes or recovers; a finished game is uninstalled and removed
# so the following runs start over. A last run must finish and leave a clean
# root (no reserved directory, intent log or temporary file).
#
#   scripts/chaos.sh [--runs N] [--size MB]     (defaults: 40 runs, 100 MB)
#
# Two seeders on loopback with static peers and no mDNS; release build.
# Exits non-zero on the first broken invariant.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=40 SIZE_MB=100
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --size) SIZE_MB=$2; shift 2 ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
  esac
done

cargo build --release -q -p lanspread-worker
WORKER=$PWD/target/release/lanspread-worker
WORK=$(mktemp -d)
SEEDERS=()
cleanup() {
  for pid in "${SEEDERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# A game of one large file, a zip (installed into local/) and small maps.
SEED=$WORK/seed/openarena
mkdir -p "$SEED/maps" "$WORK/expected"
python3 - "$SEED" "$WORK/expected" "$SIZE_MB" <<'EOF'
import os, sys, zipfile
seed, expected, size_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(os.path.join(expected, "maps"))
def write(rel, data):  # a plain payload file is copied into local/ as it is
    for top in (seed, expected):
        with open(os.path.join(top, rel), "wb") as f:
            f.write(data)
write("pak0.pk3", os.urandom(size_mb * 800_000))
for i in range(50):
    write(os.path.join("maps", f"m{i:02}.bsp"), os.urandom(1000 + i * 3000))
with zipfile.ZipFile(os.path.join(seed, "extra.zip"), "w", zipfile.ZIP_STORED) as z:
    z.writestr("extra/data.bin", os.urandom(size_mb * 200_000))
    z.writestr("extra/readme.txt", "chaos\n")
    z.extractall(expected)
EOF
echo 0.8.8 > "$SEED/version.ini"

for n in 1 2; do
  "$WORKER" serve --json --games "$WORK/seed" --state "$WORK/seed-state-$n" --listen 127.0.0.1:0 --no-mdns \
    --name "seeder-$n" > "$WORK/seeder-$n.json" 2> "$WORK/seeder-$n.log" &
  SEEDERS+=($!)
done
PEERS=()
for n in 1 2; do
  # Ready once its first library scan ended (the "library" event).
  for _ in $(seq 100); do
    grep -q '"event":"library"' "$WORK/seeder-$n.json" && break
    sleep 0.1
  done
  addr=$(grep -o '"event":"listening","addr":"[0-9.:]*"' "$WORK/seeder-$n.json" | head -1 | cut -d'"' -f8 || true)
  [ -n "$addr" ] || { echo "chaos: seeder $n did not start" >&2; cat "$WORK/seeder-$n.log" >&2; exit 1; }
  PEERS+=(--peer "$addr")
done

GAMES=$WORK/games
ROOT=$GAMES/openarena
LOCAL=(--games "$GAMES" --state "$WORK/state")
fail() { echo "chaos: run $1: $2" >&2; ls -A "$ROOT" >&2; exit 1; }

check() { # run
  if [ -f "$ROOT/version.ini" ]; then
    (cd "$SEED" && find . -type f ! -name version.ini) | while read -r file; do
      cmp -s "$SEED/$file" "$ROOT/$file" || { echo "$file"; break; }
    done | grep -q . && fail "$1" "version.ini is there but a payload file differs"
  fi
  if [ -d "$ROOT/local" ] && [ ! -e "$ROOT/.lanspread.json" ]; then
    diff -rq "$WORK/expected" "$ROOT/local" >&2 || fail "$1" "local/ is there, no intent log, but it is not whole"
  fi
  return 0
}

declare -A landed=()
for run in $(seq "$RUNS"); do
  "$WORKER" fetch openarena "${LOCAL[@]}" "${PEERS[@]}" --no-mdns --json > "$WORK/fetch.log" 2>&1 &
  pid=$!
  sleep "$(printf '0.%03d' $((RANDOM % 400 + 5)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  phase=$(grep -o '"phase":"[a-z]*"' "$WORK/fetch.log" | tail -1 | cut -d'"' -f4 || true)
  grep -q '"event":"installed"' "$WORK/fetch.log" && phase=finished
  landed[${phase:-starting}]=$(( ${landed[${phase:-starting}]:-0} + 1 ))
  check "$run"
  if [ -f "$ROOT/.lanspread-installed" ] && [ ! -e "$ROOT/.lanspread.json" ]; then
    "$WORKER" uninstall openarena "${LOCAL[@]}" >/dev/null
    "$WORKER" remove openarena "${LOCAL[@]}" >/dev/null
  fi
done

"$WORKER" fetch openarena "${LOCAL[@]}" "${PEERS[@]}" --no-mdns > "$WORK/fetch.log" 2>&1 ||
  { cat "$WORK/fetch.log" >&2; fail last "the last fetch failed"; }
check last
diff -rq "$WORK/expected" "$ROOT/local" >&2 || fail last "local/ is not whole"
left=$(cd "$ROOT" && ls -A | grep -E '^\.local\.|\.tmp$|^\.lanspread\.json$|^\.lanspread-download$' || true)
[ -z "$left" ] || fail last "left behind: $left"
echo -n "chaos: $RUNS kills, by the phase they hit:"
for phase in "${!landed[@]}"; do echo -n " $phase ${landed[$phase]}"; done
echo "; every state on disk was consistent and the last fetch finished clean"
