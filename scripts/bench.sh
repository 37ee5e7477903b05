#!/usr/bin/env bash
# Download benchmark: LanSpread's `fetch` against aria2c (multi-source HTTP
# from nginx on the same sources), curl and rsync (one source each) and
# iperf3 (the link ceiling), on tbf-shaped links in a private
# network-namespace lab.
#
#   sudo scripts/bench.sh [--size MB] [--small N] [--runs N] [--write]
#   sudo scripts/bench.sh --windows [--size MB] [--small N] [--runs N]
#   sudo scripts/bench.sh --play [--runs N]
#
#   --size MB   game size (default 256; a few hundred MB is the reference,
#               1024 for the unshaped scenario's CPU figures)
#   --small N   number of small files (1-61 KB) in it (default 300; the
#               many-files scenario is --small 20000 --size 927)
#   --runs N    runs of the unshaped scenario, interleaved (default 3)
#   --write     replace the results section of BENCHMARKS.md
#   --windows   only the Windows worker (release, cross-built, under Wine)
#               fetching from one 100 Mbit/s source, beside the Linux worker
#               in the same runs (interleaved): Mbit/s, ratio to the ceiling,
#               the fetching process's CPU s/GB and Wine's own (its
#               wineserver's) apart; printed, not written
#
# Scenarios: one source at 100 Mbit/s; two at 100 + 100; two at 100 + 20;
# and unshaped on one host's loopback, LanSpread beside raw quinn (the
# `raw_quinn` example: the same QUIC config moving bytes from memory to
# nowhere), with each side's CPU seconds per GB and peak RSS (medians).
# Prints Mbit/s and the ratio to the iperf3 ceiling for each tool, and the
# fetching worker's CPU seconds per GB and peak RSS. Needs root (network
# namespaces); installs nginx, aria2, iperf3, curl, rsync and GNU time if
# missing.
# Traffic stays inside the lab: the switch namespace has no uplink.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=256 SMALL=300 RUNS=3 WRITE=0 WINDOWS=0 PLAY=0
while [ $# -gt 0 ]; do
  case $1 in
    --windows) WINDOWS=1; shift ;;
    --play) PLAY=1; shift ;;
    --size) SIZE_MB=$2; shift 2 ;;
    --small) SMALL=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --write) WRITE=1; shift ;;
    *) sed -n '2,30p' "$0"; exit 2 ;;
  esac
done
[ "$WINDOWS" = 0 ] || [ "$WRITE" = 0 ] || { echo "bench: --windows prints its figures; it does not --write" >&2; exit 2; }
[ "$PLAY" = 0 ] || [ "$WRITE" = 0 ] || { echo "bench: --play prints its figures; it does not --write" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench: needs root for network namespaces" >&2; exit 1; }

need=()
for p in nginx-light aria2 iperf3 curl rsync time iproute2; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -q -p lanspread-worker --bin lanspread-worker --example raw_quinn
WORKER=$PWD/target/release/lanspread-worker
RAW_QUINN=$PWD/target/release/examples/raw_quinn
if [ "$WINDOWS" = 1 ]; then
  source scripts/wine-prefix.sh
  cargo build --release -q --target x86_64-pc-windows-gnu -p lanspread-worker --bin lanspread-worker
  WINDOWS_WORKER=$PWD/target/x86_64-pc-windows-gnu/release/lanspread-worker.exe
  WINE_PREFIX_SOURCE=$WINEPREFIX
  /usr/lib/wine/wineserver -k 2>/dev/null || true # none may run outside the lab
fi

PFX="lsb$$"
SUBNET=10.231.9
WORK=$(mktemp -d /tmp/lanspread-bench.XXXXXX)
chmod 755 "$WORK"

ns() { echo "$PFX-$1"; }
in_host() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }

cleanup() {
  for h in h1 h2 h3 sw; do
    for pid in $(ip netns pids "$(ns $h)" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$(ns $h)" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the lab: h1 and h2 are sources, h3 fetches; one bridge, no uplink ---
ip netns add "$(ns sw)"
ip -n "$(ns sw)" link set lo up
ip -n "$(ns sw)" link add br0 type bridge
ip -n "$(ns sw)" link set br0 up
for i in 1 2 3; do
  ip netns add "$(ns h$i)"
  ip -n "$(ns sw)" link add "port$i" type veth peer name eth0 netns "$(ns h$i)"
  ip -n "$(ns sw)" link set "port$i" master br0 up
  ip -n "$(ns h$i)" link set lo up
  ip -n "$(ns h$i)" addr add "$SUBNET.$i/24" dev eth0
  ip -n "$(ns h$i)" link set eth0 up
done
sleep 1

# shape HOST RATE: tbf both ways on the host's link ("" clears).
shape() {
  local i=${1#h} rate=$2
  in_host "$1" tc qdisc del dev eth0 root 2>/dev/null || true
  ip netns exec "$(ns sw)" tc qdisc del dev "port$i" root 2>/dev/null || true
  [ -z "$rate" ] && return
  in_host "$1" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
  ip netns exec "$(ns sw)" tc qdisc add dev "port$i" root tbf rate "$rate" burst 256kb latency 50ms
}

# --- the game: large incompressible files and many small ones ---
GAME=$WORK/src/openarena
mkdir -p "$GAME/data"
small_total=0
for i in $(seq 1 "$SMALL"); do
  d="$GAME/maps/set$((i % 8))"; mkdir -p "$d"
  n=$(( (i * 7919) % 61440 + 1024 )); small_total=$((small_total + n))
  head -c "$n" /dev/urandom > "$d/map$i.bsp"
done
big=$(( (SIZE_MB * 1024 * 1024 - small_total) / 4 ))
for i in 1 2 3 4; do head -c "$big" /dev/urandom > "$GAME/data/pak$i.pk3"; done
echo "0.8.10" > "$GAME/version.ini"
chmod -R a+rX "$WORK/src"
TOTAL=$(du -sb --apparent-size "$GAME" | cut -f1)
(cd "$WORK/src" && find openarena -type f | sort) > "$WORK/files"
echo "bench: game of $TOTAL bytes in $(wc -l < "$WORK/files") files"

# --- servers on both sources ---
declare -A SERVE_PID
for i in 1 2; do
  in_host "h$i" "$WORKER" serve --json --games "$WORK/src" --listen "$SUBNET.$i:47474" --no-mdns \
    --state "$WORK/state-h$i" --name "source$i" > "$WORK/serve-h$i.json" 2> "$WORK/serve-h$i.log" &
  cat > "$WORK/nginx-h$i.conf" <<CONF
user root;
worker_processes 1;
pid $WORK/nginx-h$i.pid;
error_log $WORK/nginx-h$i.err;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  server { listen $SUBNET.$i:8080; root $WORK/src; }
}
CONF
  in_host "h$i" nginx -c "$WORK/nginx-h$i.conf"
  printf 'uid = root\ngid = root\nuse chroot = no\npid file = %s\n[game]\npath = %s\nread only = yes\n' \
    "$WORK/rsyncd-h$i.pid" "$WORK/src" > "$WORK/rsyncd-h$i.conf"
  in_host "h$i" rsync --daemon --config="$WORK/rsyncd-h$i.conf" --address="$SUBNET.$i" --port=8873
  in_host "h$i" iperf3 -s -D -B "$SUBNET.$i" -p 5201
done
for i in 1 2; do
  # Ready once its first library scan ended (the "library" event).
  for _ in $(seq 100); do grep -q '"event":"library"' "$WORK/serve-h$i.json" && break; sleep 0.1; done
  # The worker itself (not the shell that started it), for its CPU figures.
  SERVE_PID[$i]=$(pgrep -n -f -- "--state $WORK/state-h$i ")
done

mbit() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b * 8 / s / 1e6 }'; }
ratio() { awk -v a="$1" -v c="$2" 'BEGIN { printf "%.3f", a / c }'; }

# ceiling SOURCES...: summed iperf3 TCP rate of the sources into h3, run together.
ceiling() {
  local pids=() i
  for i in "$@"; do
    in_host h3 iperf3 -c "$SUBNET.$i" -p 5201 -R -t 6 -O 1 -J > "$WORK/iperf-$i.json" & pids+=($!)
  done
  wait "${pids[@]}"
  for i in "$@"; do
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"])' "$WORK/iperf-$i.json"
  done | awk '{ s += $1 } END { printf "%.1f", s / 1e6 }'
}

lanspread() {
  rm -rf "$WORK/out"; mkdir -p "$WORK/out"
  local peers=() i
  for i in "$@"; do peers+=(--peer "$SUBNET.$i:47474"); done
  in_host h3 /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$WORKER" fetch openarena --games "$WORK/out" \
    --no-mdns --no-install --state "$WORK/state-h3" --json "${peers[@]}" > "$WORK/fetch.json" 2> "$WORK/fetch.log" ||
    { echo "bench: LanSpread's fetch failed:" >&2; tail -5 "$WORK/fetch.log" >&2; exit 1; }
  diff -rq "$GAME" "$WORK/out/openarena" > /dev/null || { echo "bench: LanSpread's copy differs" >&2; exit 1; }
  [ -z "${BENCH_KEEP:-}" ] || cp "$WORK/fetch.json" "$WORK/fetch.log" "$BENCH_KEEP/" 
  read -r wall user sys rss < "$WORK/time"
  echo "bench: LanSpread transfer alone: $(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    v = json.loads(l)
    if v["event"] == "finished": print("%.1f Mbit/s in %.2f s of %s s" % (v["bytes_total"] * 8 / v["seconds"] / 1e6, v["seconds"], sys.argv[2]))' "$WORK/fetch.json" "$wall")" >&2
  echo "$wall $(awk -v u="$user" -v s="$sys" -v b="$TOTAL" 'BEGIN { printf "%.2f", (u + s) / (b / 1e9) }') $((rss / 1024))"
}

aria() {
  rm -rf "$WORK/out-aria"; mkdir -p "$WORK/out-aria"
  local n=0 f i uris
  : > "$WORK/aria.list"
  while read -r f; do
    uris=()
    for i in "$@"; do uris+=("http://$SUBNET.$i:8080/$f"); done
    # Rotate the mirror order per file so every source gets first picks.
    local k=$(( n % ${#uris[@]} )); n=$((n + 1))
    printf '%s\t' "${uris[@]:k}" "${uris[@]:0:k}" | sed 's/\t$//' >> "$WORK/aria.list"
    printf '\n  out=%s\n' "$f" >> "$WORK/aria.list"
  done < "$WORK/files"
  local start end
  start=$(date +%s.%N)
  # aria2c at its best here (../shared/BUILD-NOTES.md): -j4 -s2 -x1 -k1M.
  in_host h3 aria2c --input-file="$WORK/aria.list" --dir="$WORK/out-aria" --max-concurrent-downloads=4 \
    --split=2 --min-split-size=1M --max-connection-per-server=1 --file-allocation=none \
    --console-log-level=error --summary-interval=0 --download-result=hide --quiet=true
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

curl_one() {
  rm -rf "$WORK/out-curl"; mkdir -p "$WORK/out-curl"
  awk -v base="http://$SUBNET.1:8080/" -v out="$WORK/out-curl/" '{ printf "url = \"%s%s\"\noutput = \"%s%s\"\n", base, $0, out, $0 }' \
    "$WORK/files" > "$WORK/curl.cfg"
  local start end
  start=$(date +%s.%N)
  in_host h3 curl -s --create-dirs -K "$WORK/curl.cfg"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

# rsync_one: the whole game from the first source's rsync daemon, whole
# files (nothing to compare against), no compression.
rsync_one() {
  rm -rf "$WORK/out-rsync"; mkdir -p "$WORK/out-rsync"
  local start end
  start=$(date +%s.%N)
  in_host h3 rsync -a --whole-file "rsync://$SUBNET.1:8873/game/openarena" "$WORK/out-rsync/"
  end=$(date +%s.%N)
  diff -rq "$GAME" "$WORK/out-rsync/openarena" > /dev/null || { echo "bench: rsync's copy differs" >&2; exit 1; }
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

RESULTS=$WORK/results.md
{
  echo "| scenario | ceiling Mbit/s | LanSpread Mbit/s (ratio) | aria2c Mbit/s (ratio) | curl, one source Mbit/s (ratio) | rsync, one source Mbit/s (ratio) | LanSpread CPU s/GB | LanSpread peak RSS MB |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$RESULTS"

scenario() {
  local name=$1 r1=$2 r2=$3 sources=(1)
  shape h1 "$r1"; shape h2 "$r2"; shape h3 ""
  [ -n "$r2" ] && sources=(1 2)
  local ceil ls_wall ls_cpu ls_rss aria_s curl_s rsync_s
  ceil=$(ceiling "${sources[@]}")
  read -r ls_wall ls_cpu ls_rss < <(lanspread "${sources[@]}")
  aria_s=$(aria "${sources[@]}")
  curl_s=$(curl_one)
  rsync_s=$(rsync_one)
  local ls_m aria_m curl_m rsync_m
  ls_m=$(mbit "$TOTAL" "$ls_wall"); aria_m=$(mbit "$TOTAL" "$aria_s"); curl_m=$(mbit "$TOTAL" "$curl_s")
  rsync_m=$(mbit "$TOTAL" "$rsync_s")
  printf '| %s | %s | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s | %s |\n' "$name" "$ceil" \
    "$ls_m" "$(ratio "$ls_m" "$ceil")" "$aria_m" "$(ratio "$aria_m" "$ceil")" "$curl_m" "$(ratio "$curl_m" "$ceil")" \
    "$rsync_m" "$(ratio "$rsync_m" "$ceil")" "$ls_cpu" "$ls_rss" | tee -a "$RESULTS"
}

echo "bench: running (each scenario moves the game three times)"
# BENCH_ONLY="1 3" runs only those scenarios (for quick looks).
want() { [ "$WINDOWS" = 0 ] && [ "$PLAY" = 0 ] && { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }; }
want 1 && scenario "1 source, 100 Mbit/s" 100mbit ""
want 2 && scenario "2 sources, 100 + 100 Mbit/s" 100mbit 100mbit
want 3 && scenario "2 sources, 100 + 20 Mbit/s" 100mbit 20mbit

# --- unshaped: one host's loopback, LanSpread against raw quinn ---
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
per_gb() { awk -v s="$1" -v b="$TOTAL" 'BEGIN { printf "%.2f", s / (b / 1e9) }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
HZ=$(getconf CLK_TCK)

# raw_run: prints "seconds fetch_cpu fetch_rss_mb serve_cpu serve_rss_mb" for raw quinn.
raw_run() {
  rm -rf "$WORK/raw-state"
  in_host h1 /usr/bin/time -f "%e %U %S %M" -o "$WORK/raw-serve.time" "$RAW_QUINN" serve 127.0.0.1:47600 \
    "$WORK/raw-state" > "$WORK/raw-serve.out" 2>&1 &
  local spid=$!
  for _ in $(seq 100); do grep -q "listening on" "$WORK/raw-serve.out" && break; sleep 0.05; done
  in_host h1 /usr/bin/time -f "%e %U %S %M" -o "$WORK/raw-fetch.time" "$RAW_QUINN" fetch 127.0.0.1:47600 "$TOTAL" \
    > "$WORK/raw-fetch.json"
  wait "$spid"
  local secs fu fs fm su ss sm
  secs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$WORK/raw-fetch.json")
  read -r _ fu fs fm < "$WORK/raw-fetch.time"; read -r _ su ss sm < "$WORK/raw-serve.time"
  echo "$secs $(per_gb "$(awk -v a="$fu" -v b="$fs" 'BEGIN { print a + b }')") $((fm / 1024)) $(per_gb "$(awk -v a="$su" -v b="$ss" 'BEGIN { print a + b }')") $((sm / 1024))"
}

# lanspread_run: the same figures for `fetch` from h1's own seeder, on loopback.
lanspread_run() {
  rm -rf "$WORK/out-lo" "$WORK/state-lo"; mkdir -p "$WORK/out-lo"
  local spid=${SERVE_PID[1]} before after fu fs fm
  before=$(cpu_ticks "$spid")
  in_host h1 /usr/bin/time -f "%e %U %S %M" -o "$WORK/lo.time" "$WORKER" fetch openarena --games "$WORK/out-lo" \
    --no-mdns --no-install --state "$WORK/state-lo" --json --peer "$SUBNET.1:47474" > "$WORK/lo.json" 2> "$WORK/lo.log" ||
    { echo "bench: LanSpread's unshaped fetch failed:" >&2; tail -5 "$WORK/lo.log" >&2; exit 1; }
  after=$(cpu_ticks "$spid")
  read -r _ fu fs fm < "$WORK/lo.time"
  local secs
  secs=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    v = json.loads(l)
    if v["event"] == "finished": print(v["seconds"])' "$WORK/lo.json")
  local serve_rss
  serve_rss=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$spid/status")
  echo "$secs $(per_gb "$(awk -v a="$fu" -v b="$fs" 'BEGIN { print a + b }')") $((fm / 1024)) $(per_gb "$(awk -v t="$((after - before))" -v hz="$HZ" 'BEGIN { print t / hz }')") $serve_rss"
}

unshaped() {
  : > "$WORK/raw.runs"; : > "$WORK/ls.runs"
  local run
  for run in $(seq "$RUNS"); do
    raw_run >> "$WORK/raw.runs"
    lanspread_run >> "$WORK/ls.runs"
  done
  col() { awk -v c="$2" '{ print $c }' "$1" | median; }
  local name
  {
    echo
    echo "Unshaped, on one host's loopback (both ends on the same 2 cores), medians of $RUNS interleaved runs:"
    echo
    echo "| transfer | MB/s | fetching side CPU s/GB | fetching side peak RSS MB | serving side CPU s/GB | serving side peak RSS MB |"
    echo "|---|---|---|---|---|---|"
  } >> "$RESULTS"
  for name in raw ls; do
    local label="raw quinn (same config, memory to nowhere)"
    [ "$name" = ls ] && label="LanSpread fetch (disk to disk, verified)"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" \
      "$(awk -v b="$TOTAL" -v s="$(col "$WORK/$name.runs" 1)" 'BEGIN { printf "%.0f", b / s / 1e6 }')" \
      "$(col "$WORK/$name.runs" 2)" "$(col "$WORK/$name.runs" 3)" "$(col "$WORK/$name.runs" 4)" "$(col "$WORK/$name.runs" 5)" |
      tee -a "$RESULTS"
  done
  printf '| ratio LanSpread / raw quinn | | %s | | %s | |\n' \
    "$(ratio "$(col "$WORK/ls.runs" 2)" "$(col "$WORK/raw.runs" 2)")" \
    "$(ratio "$(col "$WORK/ls.runs" 4)" "$(col "$WORK/raw.runs" 4)")" | tee -a "$RESULTS"
}
want 4 && { shape h1 ""; unshaped; }

# --- the Windows worker under Wine beside the Linux worker ---
# Wine's sockets belong to its wineserver: h3 gets a prefix of its own and a
# wineserver started there, kept for the whole scenario so its CPU time
# (Wine's own work: sockets, file handles, waits) is read apart.
windows_fetch() {
  rm -rf "$WORK/out-win" "$WORK/state-win"; mkdir -p "$WORK/out-win"
  local before after user sys rss secs
  before=$(cpu_ticks "$WINESERVER_PID")
  in_host h3 env WINEPREFIX="$WORK/wine-h3" WINEDEBUG=-all /usr/bin/time -f "%e %U %S %M" -o "$WORK/win.time" \
    /usr/lib/wine/wine64 "$WINDOWS_WORKER" fetch openarena --games "Z:${WORK//\//\\}\\out-win" --no-mdns --no-install \
    --state "Z:${WORK//\//\\}\\state-win" --json --peer "$SUBNET.1:47474" > "$WORK/win.json" 2> "$WORK/win.log" ||
    { echo "bench: the Windows fetch failed:" >&2; tail -5 "$WORK/win.log" >&2; exit 1; }
  after=$(cpu_ticks "$WINESERVER_PID")
  diff -rq "$GAME" "$WORK/out-win/openarena" > /dev/null || { echo "bench: the Windows worker's copy differs" >&2; exit 1; }
  read -r _ user sys rss < "$WORK/win.time"
  secs=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    v = json.loads(l)
    if v["event"] == "finished": print(v["seconds"])' "$WORK/win.json")
  echo "$secs $(per_gb "$(awk -v a="$user" -v b="$sys" 'BEGIN { print a + b }')") $((rss / 1024)) $(per_gb "$(awk -v t="$((after - before))" -v hz="$HZ" 'BEGIN { print t / hz }')")"
}

# linux_fetch: the same figures for the Linux worker (no wineserver: 0).
linux_fetch() {
  local wall cpu rss secs
  read -r wall cpu rss < <(lanspread 1)
  secs=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    v = json.loads(l)
    if v["event"] == "finished": print(v["seconds"])' "$WORK/fetch.json")
  echo "$secs $cpu $rss 0"
}

windows_scenario() {
  shape h1 100mbit; shape h2 ""; shape h3 ""
  cp -a --reflink=auto "$WINE_PREFIX_SOURCE" "$WORK/wine-h3"
  in_host h3 env WINEPREFIX="$WORK/wine-h3" /usr/lib/wine/wineserver -p
  local pid
  WINESERVER_PID=""
  for pid in $(ip netns pids "$(ns h3)"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = wineserver64 ] && WINESERVER_PID=$pid
  done
  [ -n "$WINESERVER_PID" ] || { echo "bench: no wineserver in h3" >&2; exit 1; }
  local ceil run
  ceil=$(ceiling 1)
  : > "$WORK/linux.runs"; : > "$WORK/windows.runs"; : > "$RESULTS"
  for run in $(seq "$RUNS"); do
    linux_fetch >> "$WORK/linux.runs"
    windows_fetch >> "$WORK/windows.runs"
  done
  WINEPREFIX="$WORK/wine-h3" /usr/lib/wine/wineserver -k 2>/dev/null || true
  col() { awk -v c="$2" '{ print $c }' "$1" | median; }
  {
    echo
    echo "One source at 100 Mbit/s (ceiling $ceil Mbit/s), medians of $RUNS interleaved runs, transfer time:"
    echo
    echo "| fetching worker | Mbit/s (ratio) | fetch process CPU s/GB | Wine's wineserver CPU s/GB | fetch process peak RSS MB |"
    echo "|---|---|---|---|---|"
  } >> "$RESULTS"
  local name label m
  for name in linux windows; do
    label="Linux (native)"
    [ "$name" = windows ] && label="Windows, under Wine 8"
    m=$(mbit "$TOTAL" "$(col "$WORK/$name.runs" 1)")
    printf '| %s | %s (%s) | %s | %s | %s |\n' "$label" "$m" "$(ratio "$m" "$ceil")" \
      "$(col "$WORK/$name.runs" 2)" "$(col "$WORK/$name.runs" 4)" "$(col "$WORK/$name.runs" 3)" | tee -a "$RESULTS"
  done
}
if [ "$WINDOWS" = 1 ]; then windows_scenario; cat "$RESULTS"; fi

# --- time to Play: the download alone, then the install, or both at once ---
# play_pack KIND DIR: the game tree packed as KIND (zip or tar.zst) into DIR/openarena.
play_pack() {
  local root=$2/openarena
  mkdir -p "$root"
  case $1 in
    zip) (cd "$WORK/play-tree" && zip -q -0 -r "$root/pack.zip" .) ;;
    tar.zst) (cd "$WORK/play-tree" && tar -cf - . | zstd -q -1 -T0 -o "$root/pack.tar.zst") ;;
  esac
  echo 1.0 > "$root/version.ini"
  chmod -R a+rX "$2"
}

# play_run HOST PEER MODE: seconds from the fetch's start to Play: "alone"
# (fetch --no-install), "then" (fetch --no-install, then install) or
# "streamed" (fetch, which installs as the bytes come).
play_run() {
  local host=$1 peer=$2 mode=$3 start end
  rm -rf "$WORK/play-out" "$WORK/play-state"; mkdir -p "$WORK/play-out"
  local args=(fetch openarena --games "$WORK/play-out" --no-mdns --state "$WORK/play-state" --json --peer "$peer")
  [ "$mode" = streamed ] || args+=(--no-install)
  # ext4 passes over inodes freed in the last 5 s when it makes files: a run
  # right after deleting the last one's thousands would pay for that.
  sync; sleep 6
  start=$(date +%s.%N)
  in_host "$host" "$WORKER" "${args[@]}" > "$WORK/play.json" 2> "$WORK/play.log" ||
    { echo "bench: the $mode fetch failed:" >&2; tail -5 "$WORK/play.log" >&2; exit 1; }
  if [ "$mode" = then ]; then
    in_host "$host" "$WORKER" install openarena --games "$WORK/play-out" > /dev/null 2>> "$WORK/play.log"
  fi
  end=$(date +%s.%N)
  if [ "$mode" != alone ]; then
    diff -rq "$WORK/play-tree" "$WORK/play-out/openarena/local" > /dev/null ||
      { echo "bench: the $mode install differs" >&2; exit 1; }
  fi
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

play_scenario() {
  mkdir -p "$WORK/play-tree/data"
  local i
  for i in $(seq 1 8); do head -c $((96 * 1024 * 1024)) /dev/urandom > "$WORK/play-tree/data/pak$i.pk3"; done
  python3 - "$WORK/play-tree" <<'PY'
import os, sys
for i in range(2000):
    d = os.path.join(sys.argv[1], "maps", "set%02d" % (i % 20))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "m%04d.bsp" % i), "wb") as f:
        f.write(os.urandom((i * 7919) % 60417 + 1024))
PY
  echo "bench: time to Play, a game of $(du -sb --apparent-size "$WORK/play-tree" | cut -f1) bytes in $(find "$WORK/play-tree" -type f | wc -l) files"
  : > "$RESULTS"
  {
    echo "| pack | link | download alone s | download then install s | installed as it comes s | ratio to the download alone |"
    echo "|---|---|---|---|---|---|"
  } >> "$RESULTS"
  local kind link host peer pid mode run
  for kind in zip tar.zst; do
    rm -rf "$WORK/play-src" "$WORK/play-serve.json"; play_pack "$kind" "$WORK/play-src"
    in_host h1 "$WORKER" serve --json --games "$WORK/play-src" --listen "$SUBNET.1:47475" --no-mdns \
      --state "$WORK/play-serve-state" --name play > "$WORK/play-serve.json" 2> "$WORK/play-serve.log" &
    pid=$!
    for _ in $(seq 600); do grep -q '"event":"library"' "$WORK/play-serve.json" && break; sleep 0.1; done
    for link in loopback 1gbit; do
      if [ "$link" = loopback ]; then host=h1; shape h1 ""; shape h3 ""; else host=h3; shape h1 1gbit; shape h3 ""; fi
      peer="$SUBNET.1:47475"
      : > "$WORK/play-alone.runs"; : > "$WORK/play-then.runs"; : > "$WORK/play-streamed.runs"
      for run in $(seq "$RUNS"); do
        for mode in alone then streamed; do play_run "$host" "$peer" "$mode" >> "$WORK/play-$mode.runs"; echo >> "$WORK/play-$mode.runs"; done
      done
      local alone then streamed
      alone=$(median < "$WORK/play-alone.runs"); then=$(median < "$WORK/play-then.runs")
      streamed=$(median < "$WORK/play-streamed.runs")
      printf '| %s | %s | %s | %s | %s | %s |\n' ".$kind" "$link" "$alone" "$then" "$streamed" \
        "$(ratio "$streamed" "$alone")" | tee -a "$RESULTS"
    done
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    rm -rf "$WORK/play-serve-state"
  done
}
if [ "$PLAY" = 1 ]; then play_scenario; cat "$RESULTS"; fi

if [ "$WRITE" = 1 ]; then
  {
    sed '/^<!-- results -->$/q' BENCHMARKS.md
    echo
    echo "Run of $(date -u +%Y-%m-%d) on $(nproc) cores: \`sudo scripts/bench.sh --size $SIZE_MB --small $SMALL --write\`,"
    echo "a game of $TOTAL bytes in $(wc -l < "$WORK/files") files; whole-command wall time, release build."
    echo
    cat "$RESULTS"
  } > "$WORK/BENCHMARKS.md"
  cp "$WORK/BENCHMARKS.md" BENCHMARKS.md
  echo "bench: BENCHMARKS.md updated"
fi
