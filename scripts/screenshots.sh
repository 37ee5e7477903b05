#!/usr/bin/env bash
# Screenshots of the real LanSpread window, driven like a user would:
# Xvfb, two seeders and the app against a sample library, all inside a
# private network namespace (nothing leaves this machine). Saves PNGs of
#   0-library.png              the library as it opens: what is here first,
#                              covers (a local one, one a peer handed out),
#                              Play on the installed games
#   1-library-downloading.png  cards in several states, one downloading
#   2-detail-downloading.png   the detail view mid-download with Cancel
#   3-worker-restarting.png    the status bar right after kill -9 of the worker
#   4-library-resumed.png      the download going on with the new worker
#   5-settings.png             the settings panel
#   5b-settings-limits.png     its end: the bandwidth limits (an upload
#                              limit is saved before the app starts, so
#                              the status bar names it in every shot)
#   6-peers.png                the peer list (from the status bar), ids and Trust
#   7-peers-trusted.png        the same after Trust on one of them
#   8-detail-trusted.png       a game offered in two versions, its file list
#                              from the peer just trusted
#   9-library-stopped.png      the download cancelled: Resume with its percent
# then closes the window and checks that the worker ended with it, and
#   10-thousand-games.png      the grid of a 1,000-game catalog, in the size
#                              and place the first window closed with
#   11-first-run.png           an empty game directory and nobody around.
#   12-detail-disagreement.png two peers sending different file lists for one
#                              version: nothing downloaded, both lists named (Linux only)
#
#   sudo scripts/screenshots.sh [OUT_DIR]     (default target/screenshots)
#
# With --windows, the Windows build (lanspread.exe and its worker, under
# Wine) against the same Linux seeders takes 0, 1 and 2, then its window is
# closed and the app and its worker must end:
#
#   sudo scripts/screenshots.sh --windows [OUT_DIR]   (default target/screenshots/windows)
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOWS=""
if [ "${1:-}" = --windows ]; then WINDOWS=1; shift; fi
OUT=$(realpath -m "${1:-target/screenshots${WINDOWS:+/windows}}")

if [ -z "${LANSPREAD_SHOTS_INSIDE:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "screenshots: needs root for a private network namespace (sudo)" >&2; exit 2; }
  scripts/deps.sh
  need=()
  for tool in Xvfb:xvfb import:imagemagick xdotool:xdotool python3:python3; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # The seeders answer slowly (a test hook), so a download is caught mid-way.
  cargo build -q -p lanspread
  cargo build -q -p lanspread-worker --features test-hooks
  if [ -n "$WINDOWS" ]; then
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] ||
      apt-get install -y -qq --no-install-recommends fonts-dejavu-core >/dev/null
    source scripts/wine-prefix.sh
    cargo build -q --target x86_64-pc-windows-gnu -p lanspread -p lanspread-worker
    /usr/lib/wine/wineserver -k 2>/dev/null || true # none may run outside the namespace
  fi
  mkdir -p "$OUT"
  exec unshare -n env LANSPREAD_SHOTS_INSIDE=1 "$0" ${WINDOWS:+--windows} "$OUT"
fi

ip link set lo up
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -z "$WINDOWS" ] || WINEPREFIX=$WORK/wine-prefix /usr/lib/wine/wineserver -k 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- a sample library: a seeder with several games, a second with fewer ---
game() { # DIR ID VERSION MB [installed]
  mkdir -p "$1/$2/data"
  head -c "$(($4 * 1000 * 1000))" /dev/urandom > "$1/$2/data/pack.bin"
  echo "$3" > "$1/$2/version.ini"
  if [ "${5:-}" = installed ]; then mkdir -p "$1/$2/local" && echo "$3" > "$1/$2/local/README"; fi
}
cover() { # FILE FROM TO: a cover picture (a swirled gradient)
  convert -size 300x420 "gradient:$2-$3" -swirl 120 "$1"
}
game "$WORK/seed-a" armagetronad 0.2.9 320
cover "$WORK/seed-a/armagetronad/cover.png" '#1d3557' '#e63946'
game "$WORK/seed-a" 0ad 0.27 8
game "$WORK/seed-a" hedgewars 1.0.2 6
mkdir -p "$WORK/seed-b" # the same games byte for byte, so both peers serve them
cp -r "$WORK/seed-a/armagetronad" "$WORK/seed-a/0ad" "$WORK/seed-b/"
game "$WORK/seed-b" hedgewars 1.0.3 6 # a newer version from the other peer
game "$WORK/games" 0ad 0.26 5 installed
game "$WORK/games" assaultcube 1.3 4
game "$WORK/games" bzflag 2.4.26 3 installed
cover "$WORK/games/bzflag/cover.png" '#2a9d8f' '#e9c46a'
WORKER=target/debug/lanspread-worker
for seed in a:47475:lan-box b:47476:attic-pc; do
  IFS=: read -r name port label <<< "$seed"
  "$WORKER" serve --json --games "$WORK/seed-$name" --state "$WORK/state-$name" --test-chunk-delay-ms 400 \
    --listen "127.0.0.1:$port" --no-mdns --name "$label" > "$WORK/seed-$name.json" 2> "$WORK/seed-$name.log" &
  PIDS+=($!)
done
# Each seeder is ready once its first scan ended; one that did not start stops the script.
for name in a b; do
  for _ in $(seq 100); do grep -q '"event":"library"' "$WORK/seed-$name.json" && break; sleep 0.1; done
  grep -q '"event":"library"' "$WORK/seed-$name.json" || { cat "$WORK/seed-$name.log" >&2; exit 1; }
done

# --- the display and the app ---
export DISPLAY=:71 XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config"
Xvfb "$DISPLAY" -screen 0 1200x760x24 -nolisten tcp 2> /dev/null &
PIDS+=($!)
# Ready once it answers (its socket appears before it does).
for _ in $(seq 100); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done
if [ -n "$WINDOWS" ]; then
  export WINEPREFIX=$WORK/wine-prefix WINEDEBUG=-all
  source scripts/wine-window.sh
  winpath() { local p=$1; echo "Z:${p//\//\\}"; }
  /usr/lib/wine/wine64 target/x86_64-pc-windows-gnu/debug/lanspread.exe --games "$(winpath "$WORK/games")" \
    --state "$(winpath "$WORK/state")" --no-mdns --peer 127.0.0.1:47475 --peer 127.0.0.1:47476 &
else
  mkdir -p "$XDG_CONFIG_HOME/lanspread"
  echo '{"max_upload": 8000000}' > "$XDG_CONFIG_HOME/lanspread/settings.json"
  target/debug/lanspread --games "$WORK/games" --state "$WORK/state" --no-mdns \
    --peer 127.0.0.1:47475 --peer 127.0.0.1:47476 &
fi
APP=$!
PIDS+=($APP)
WID=""
# Only a mapped (visible) window can take the focus.
find_window() {
  WID=""
  for _ in $(seq 100); do WID=$(xdotool search --onlyvisible --name '^LanSpread$' 2>/dev/null | head -1) && [ -n "$WID" ] && break; sleep 0.2; done
  [ -n "$WID" ] || { echo "screenshots: the window did not appear" >&2; exit 1; }
}
find_window
# Closes the window as a window manager would (WM_DELETE_WINDOW); the app must exit.
close_window() {
  scripts/close-window.py "$WID"
  for _ in $(seq 100); do kill -0 "$APP" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$APP" 2>/dev/null; then echo "screenshots: the app did not exit when its window closed" >&2; exit 1; fi
}
# No window manager gives the window the keyboard; Escape must reach it.
xdotool windowfocus --sync "$WID"
sleep 5 # the worker scans, meets both seeders and lists their games

shot() { import -window root "$OUT/$1"; echo "screenshots: $OUT/$1"; }
# Wine places its window away from the corner: clicks are the window's own.
click() { xdotool mousemove ${WINDOWS:+--window "$WID"} "$1" "$2" click 1; sleep "${3:-0.5}"; }

# Three columns of cards about 314x138 at x = 12 + 326 * column and
# y = 56 + 12 + 150 * row, games here first: 0 A.D., AssaultCube, BZFlag,
# then those a peer offers, Armagetron Advanced, Hedgewars, then the rest.
shot 0-library.png
click 444 28 0.5         # the search box
xdotool type --delay 20 "armagetron"; sleep 0.5
click 285 180 5          # "Download" on the one card left
xdotool key ctrl+a BackSpace; sleep 1
shot 1-library-downloading.png
click 420 100 2          # Armagetron Advanced, now downloading (row 0, column 1): its detail view
shot 2-detail-downloading.png
if [ -n "$WINDOWS" ]; then
  close_window
  # This app's worker: its command line names this run's folder.
  worker_running() { pgrep -f "lanspread-worker\.exe.*${WORK##*/}" >/dev/null; }
  for _ in $(seq 100); do worker_running || break; sleep 0.1; done
  if worker_running; then echo "screenshots: the worker outlived the window" >&2; exit 1; fi
  echo "screenshots: closing the Windows window ended the app and its worker"
  exit 0
fi
click 791 65 1           # the detail view's Close
worker=$(pgrep -f "lanspread-worker ipc .*--games $WORK/games" | head -1)
kill -9 "$worker"
sleep 0.25
shot 3-worker-restarting.png
sleep 6
shot 4-library-resumed.png
click 420 100 2          # Armagetron Advanced, downloading again: its detail view
click 787 601 2          # Cancel (below the progress, beside Pause)
xdotool key Escape; sleep 1
shot 9-library-stopped.png
click 947 28 2           # Settings
shot 5-settings.png
xdotool mousemove 600 400
for _ in $(seq 15); do xdotool click 5; done
sleep 0.5
shot 5b-settings-limits.png
xdotool key Escape; sleep 0.5
click 35 662 1           # "2 peers" in the status bar
shot 6-peers.png
click 812 279 1          # Trust on lan-box (peers in name order: attic-pc, lan-box)
shot 7-peers-trusted.png
xdotool key Escape; sleep 0.5 # closes the peer list, though its Trust button has the focus
click 420 250 2          # Hedgewars (row 1, column 1): its detail view
shot 8-detail-trusted.png
xdotool key Escape; sleep 0.5

# Moved and resized first: the next window must open the same.
xdotool windowmove "$WID" 40 20 windowsize "$WID" 1040 700; sleep 1
close_window
sleep 1
if pgrep -f "lanspread-worker ipc .*--games $WORK/games" >/dev/null; then
  echo "screenshots: the worker outlived the window" >&2; exit 1
fi
echo "screenshots: closing the window ended the app and its worker"

# --- a thousand games ---
python3 - "$WORK/catalog.json" <<'PY'
import json, sys
genres = ["Shooter", "Strategy", "Racing", "Puzzle", "Sandbox", "Sports"]
entries = [{"id": f"game{i:04}", "name": f"Game {i:04}", "genre": genres[i % len(genres)], "max_players": 8}
           for i in range(1000)]
json.dump(entries, open(sys.argv[1], "w"))
PY
target/debug/lanspread --games "$WORK/games" --state "$WORK/state" --no-mdns --catalog "$WORK/catalog.json" \
  --peer 127.0.0.1:47475 --peer 127.0.0.1:47476 &
APP=$!
PIDS+=($APP)
find_window
sleep 4
shot 10-thousand-games.png
geometry=$(xdotool getwindowgeometry "$WID" | tr '\n' ' ')
case "$geometry" in
  *"Position: 40,20"*"Geometry: 1040x700"*) echo "screenshots: the window reopened where it was closed ($geometry)" ;;
  *) echo "screenshots: the window did not reopen where it was closed: $geometry" >&2; exit 1 ;;
esac
close_window

# --- the first run: nothing here, nobody around ---
mkdir -p "$WORK/empty"
target/debug/lanspread --games "$WORK/empty" --state "$WORK/state-empty" --no-mdns &
APP=$!
PIDS+=($APP)
find_window
sleep 3
shot 11-first-run.png
close_window

# --- two peers that send different file lists for one version ---
if [ -z "$WINDOWS" ]; then
  game "$WORK/seed-c" wesnoth 1.18 4
  game "$WORK/seed-d" wesnoth 1.18 4 # the same version, other bytes
  for seed in c:47477:party-box d:47478:stranger; do
    IFS=: read -r name port label <<< "$seed"
    "$WORKER" serve --json --games "$WORK/seed-$name" --state "$WORK/state-$name" \
      --listen "127.0.0.1:$port" --no-mdns --name "$label" > "$WORK/seed-$name.json" 2> "$WORK/seed-$name.log" &
    PIDS+=($!)
  done
  for name in c d; do
    for _ in $(seq 100); do grep -q '"event":"library"' "$WORK/seed-$name.json" && break; sleep 0.1; done
  done
  mkdir -p "$WORK/games-contested"
  target/debug/lanspread --games "$WORK/games-contested" --state "$WORK/state-contested" --no-mdns \
    --peer 127.0.0.1:47477 --peer 127.0.0.1:47478 &
  APP=$!
  PIDS+=($APP)
  find_window
  xdotool windowfocus --sync "$WID"
  sleep 5
  # The window opens where the last one closed (40,20): the first card is
  # Wesnoth, the only game offered.
  click 330 199 3 # "Download" on it: refused, nothing downloaded
  click 200 130 2 # the card: its detail view names both lists with Trust
  shot 12-detail-disagreement.png
  close_window
fi
