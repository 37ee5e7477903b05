#!/usr/bin/env bash
# UI benchmark: the real window (release build) under Xvfb with a 1,000-game
# catalog and a seeder on loopback, inside a private network namespace.
# Prints, for the UI process (the download shaped to 200 Mbit/s) (`lanspread`, not its worker):
#   - the time from start to the window mapped (first frame), to the first
#     card's "Installed" badge drawn (three games are installed here), and
#     to the free space drawn in the status bar; on a first start (no state
#     yet) and on a start after the window was closed (the usual one);
#   - its CPU idle, in % of one core over --secs seconds;
#   - its CPU while a download runs at full speed, with the grid and with the
#     download's detail view open;
#   - how long a search takes to show: from one key typed in the search box
#     to the grid on screen changing (scripts/screen-probe.py reads the
#     screen's pixels a few milliseconds apart).
# Software rendering here: drawing costs more than with a GPU.
#
#   sudo scripts/ui-bench.sh [--games N] [--size MB] [--secs S] [--backend B]
#     (defaults: 1000 games, a 1024 MB game to download, 10 s per figure,
#     Slint's default backend; `--backend winit-software` draws with Slint's
#     own software renderer, which redraws only what changed)
set -euo pipefail
cd "$(dirname "$0")/.."

GAMES=1000 SIZE_MB=1024 SECS=10 BACKEND=""
while [ $# -gt 0 ]; do
  case $1 in
    --games) GAMES=$2; shift 2 ;;
    --size) SIZE_MB=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
  esac
done

if [ -z "${LANSPREAD_UI_BENCH_INSIDE:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "ui-bench: needs root for a private network namespace" >&2; exit 2; }
  scripts/deps.sh
  need=()
  for tool in Xvfb:xvfb import:imagemagick xdotool:xdotool; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  cargo build -q --release -p lanspread -p lanspread-worker
  exec unshare -n env LANSPREAD_UI_BENCH_INSIDE=1 "$0" --games "$GAMES" --size "$SIZE_MB" --secs "$SECS" \
    ${BACKEND:+--backend "$BACKEND"}
fi

ip link set lo up
# The issue's scene: a download at about 200 Mbit/s (loopback unshaped would
# finish a gigabyte in seconds).
tc qdisc add dev lo root tbf rate 200mbit burst 256kb latency 50ms
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
TICKS=$(getconf CLK_TCK)

# A catalog of GAMES games ("bench0000" …), one of which a seeder offers.
python3 - "$WORK/catalog.json" "$GAMES" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
entries = [{"id": f"bench{i:04}", "name": f"Bench Game {i:04}", "genre": "Benchmark", "max_players": 8}
           for i in range(n)]
json.dump(entries, open(path, "w"))
PY
mkdir -p "$WORK/seed/bench0000/data" "$WORK/games"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$WORK/seed/bench0000/data/pack.bin"
echo 1.0 > "$WORK/seed/bench0000/version.ini"
# Three games installed here, as a player's PC has: their badges lead the grid.
for id in bench0001 bench0002 bench0003; do
  mkdir -p "$WORK/games/$id/local"
  head -c 1000000 /dev/urandom > "$WORK/games/$id/pack.bin"
  echo 1.0 > "$WORK/games/$id/version.ini"
  echo 1.0 > "$WORK/games/$id/local/readme.txt"
done
WORKER=target/release/lanspread-worker
"$WORKER" serve --json --games "$WORK/seed" --state "$WORK/seed-state" --listen 127.0.0.1:47475 --no-mdns \
  --catalog "$WORK/catalog.json" --name seeder > "$WORK/seed.json" 2> "$WORK/seed.log" &
PIDS+=($!)
for _ in $(seq 600); do grep -q '"event":"library"' "$WORK/seed.json" && break; sleep 0.1; done

export DISPLAY=:72 XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config"
Xvfb "$DISPLAY" -screen 0 1100x720x24 -nolisten tcp 2> /dev/null &
PIDS+=($!)
# Ready once it answers (its socket appears before it does).
for _ in $(seq 100); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done

[ -n "$BACKEND" ] && export SLINT_BACKEND=$BACKEND
# Starts the app with two screen probes timed from its start, into
# badges$1.ms and free$1.ms: the first card's badge row turning "Installed"
# green (#2e8b57), and the free space's first digits (muted #9aa3b5) where
# the status bar puts them.
start_app() {
  local started
  started=$(date +%s.%N)
  scripts/screen-probe.py color "$started" 110 165 220 30 2e8b57 > "$WORK/badges$1.ms" &
  BADGES=$!
  scripts/screen-probe.py color "$started" 276 655 12 15 9aa3b5 > "$WORK/free$1.ms" &
  FREE=$!
  target/release/lanspread --games "$WORK/games" --state "$WORK/state" --no-mdns --peer 127.0.0.1:47475 \
    --catalog "$WORK/catalog.json" 2>> "$WORK/app.log" &
  APP=$!
  PIDS+=($APP)
}
started=$(date +%s.%N)
start_app ""
WID=""
for _ in $(seq 300); do WID=$(xdotool search --onlyvisible --name '^LanSpread$' 2>/dev/null | head -1) && [ -n "$WID" ] && break; sleep 0.02; done
mapped=$(date +%s.%N)
[ -n "$WID" ] || { echo "ui-bench: the window did not appear" >&2; exit 1; }
xdotool windowfocus --sync "$WID"

# CPU of the UI process over SECS seconds, in % of one core.
cpu() {
  local before after
  before=$(awk '{print $14 + $15}' "/proc/$APP/stat")
  sleep "$SECS"
  after=$(awk '{print $14 + $15}' "/proc/$APP/stat")
  echo "scale=1; 100 * ($after - $before) / $TICKS / $SECS" | bc
}
click() { xdotool mousemove "$1" "$2" click 1; sleep "${3:-0.5}"; }

wait "$BADGES" "$FREE" || true
sleep 3 # the worker meets the seeder
idle=$(cpu)

# Ready first: the three installed games, then the one a peer offers (row
# 1, column 0): its Download.
click 285 330 1
grid=$(cpu)
click 170 250 1 # its card: the detail view
detail=$(cpu)
xdotool key Escape; sleep 0.5

# Search: one key in the search box, then time until the grid changes.
click 444 28 0.3
searches=()
for key in 9 8 7; do
  searches+=("$(scripts/screen-probe.py change 0 60 1000 580 xdotool key "$key")")
  sleep 0.5
done

# Closed and started again, as a player does: the worker knows its library.
scripts/close-window.py "$WID"
for _ in $(seq 100); do kill -0 "$APP" 2>/dev/null || break; sleep 0.1; done
for _ in $(seq 100); do pgrep -f "lanspread-worker ipc" >/dev/null || break; sleep 0.1; done
start_app -again
wait "$BADGES" "$FREE" || true

echo "ui-bench: $GAMES games, a $SIZE_MB MB download at 200 Mbit/s, $SECS s per CPU figure, backend ${BACKEND:-the app default, Slint software renderer}"
echo "| figure | value |"
echo "|---|---|"
echo "| start to window mapped | $(echo "scale=0; ($mapped - $started) * 1000 / 1" | bc) ms |"
echo "| first start to local badges drawn | $(cat "$WORK/badges.ms" 2>/dev/null || echo 'not seen') ms |"
echo "| first start to free space drawn | $(cat "$WORK/free.ms" 2>/dev/null || echo 'not seen') ms |"
echo "| next start to local badges drawn | $(cat "$WORK/badges-again.ms" 2>/dev/null || echo 'not seen') ms |"
echo "| next start to free space drawn | $(cat "$WORK/free-again.ms" 2>/dev/null || echo 'not seen') ms |"
echo "| UI CPU idle | $idle % of a core |"
echo "| UI CPU during a download, grid | $grid % |"
echo "| UI CPU during a download, detail view open | $detail % |"
echo "| a key in the search box to the grid changed on screen (3 keys) | ${searches[*]} ms |"
