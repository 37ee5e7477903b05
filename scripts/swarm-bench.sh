#!/usr/bin/env bash
# LAN-party benchmark: one seeder and N downloaders that start together,
# LanSpread's swarm against BitTorrent (aria2c with a private torrent from
# mktorrent and opentracker as the tracker; DHT, PEX and LPD off) and plain
# HTTP (curl from nginx on the seeder: no swarm), on tbf-shaped links (both
# directions of every host) in a private network-namespace lab.
#
#   sudo scripts/swarm-bench.sh [--downloaders N] [--rate R] [--seeder-rate R]
#                               [--size MB] [--runs N] [--write]
#
#   --downloaders N  downloaders started together (default 6)
#   --rate R         every downloader's link, tc units (default 100mbit)
#   --seeder-rate R  the seeder's link (default: --rate)
#   --size MB        game size (default 150)
#   --runs N         interleaved runs; medians are printed (default 3)
#   --write          add the results to BENCHMARKS.md (before the latest
#                    scripts/bench.sh run)
#   --only TOOLS     run only these of "lanspread bittorrent http" (quick looks)
#   --keep DIR       copy LanSpread's JSON lines and logs of each run to DIR/run-N
#
# For each tool: one downloader alone, then N together (time until the last
# is done: LanSpread's `fetch` exits once `version.ini` is committed), the
# ratio N/one and the ratio of one alone to the link ceiling (iperf3). Also
# the CPU idle of the machine while LanSpread's N run. Needs root; installs
# what it misses. Traffic stays inside the lab: the switch has no uplink.
set -euo pipefail
cd "$(dirname "$0")/.."

N=6 RATE=100mbit SEEDER_RATE="" SIZE_MB=150 RUNS=3 WRITE=0 TOOLS="lanspread bittorrent http" KEEP=
while [ $# -gt 0 ]; do
  case $1 in
    --downloaders) N=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --seeder-rate) SEEDER_RATE=$2; shift 2 ;;
    --size) SIZE_MB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --write) WRITE=1; shift ;;
    --only) TOOLS=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    *) sed -n '2,24p' "$0"; exit 2 ;;
  esac
done
SEEDER_RATE=${SEEDER_RATE:-$RATE}
[ "$(id -u)" = 0 ] || { echo "swarm-bench: needs root for network namespaces" >&2; exit 1; }

need=()
for p in nginx-light aria2 mktorrent opentracker iperf3 curl iproute2 python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -q -p lanspread-worker --bin lanspread-worker
WORKER=$PWD/target/release/lanspread-worker

PFX="lsw$$"
SUBNET=10.231.10
SEEDER=$SUBNET.10
WORK=$(mktemp -d /tmp/lanspread-swarm.XXXXXX)
chmod 755 "$WORK"
HOSTS=(h0)
for i in $(seq 1 "$N"); do HOSTS+=("h$i"); done

ns() { echo "$PFX-$1"; }
in_host() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }
addr_of() { echo "$SUBNET.$((10 + ${1#h}))"; }

cleanup() {
  for h in "${HOSTS[@]}" sw; do
    for pid in $(ip netns pids "$(ns "$h")" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$(ns "$h")" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the lab: h0 seeds, h1..hN download; one bridge, no uplink ---
ip netns add "$(ns sw)"
ip -n "$(ns sw)" link set lo up
ip -n "$(ns sw)" link add br0 type bridge
ip -n "$(ns sw)" link set br0 up
for h in "${HOSTS[@]}"; do
  i=${h#h}
  ip netns add "$(ns "$h")"
  ip -n "$(ns sw)" link add "port$i" type veth peer name eth0 netns "$(ns "$h")"
  ip -n "$(ns sw)" link set "port$i" master br0 up
  ip -n "$(ns "$h")" link set lo up
  ip -n "$(ns "$h")" addr add "$(addr_of "$h")/24" dev eth0
  ip -n "$(ns "$h")" link set eth0 up
done
# shape HOST RATE: tbf on the host's way out and on its switch port (its way in).
shape() {
  local i=${1#h}
  in_host "$1" tc qdisc add dev eth0 root tbf rate "$2" burst 256kb latency 50ms
  ip netns exec "$(ns sw)" tc qdisc add dev "port$i" root tbf rate "$2" burst 256kb latency 50ms
}
shape h0 "$SEEDER_RATE"
for i in $(seq 1 "$N"); do shape "h$i" "$RATE"; done
sleep 1

# --- the game: four large incompressible files and a few small ones ---
GAME=$WORK/src/openarena
mkdir -p "$GAME/data" "$GAME/maps"
for i in 1 2 3 4; do head -c $((SIZE_MB * 1024 * 1024 / 4)) /dev/urandom > "$GAME/data/pak$i.pk3"; done
for i in $(seq 1 20); do head -c $((i * 1999)) /dev/urandom > "$GAME/maps/map$i.bsp"; done
echo "0.8.10" > "$GAME/version.ini"
chmod -R a+rX "$WORK/src"
TOTAL=$(du -sb --apparent-size "$GAME" | cut -f1)
echo "swarm-bench: a game of $TOTAL bytes; 1 seeder at $SEEDER_RATE, $N downloaders at $RATE" >&2

# --- the seeder: LanSpread, nginx, opentracker and a seeding aria2c ---
in_host h0 env RUST_LOG="${SEEDER_LOG:-info}" "$WORKER" serve --json --games "$WORK/src" --listen "$SEEDER:47474" --no-mdns \
  --state "$WORK/state-seeder" --name seeder > "$WORK/seeder.json" 2> "$WORK/seeder.log" &
cat > "$WORK/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  server { listen $SEEDER:8080; root $WORK/src; }
}
CONF
in_host h0 nginx -c "$WORK/nginx.conf"
in_host h0 iperf3 -s -D -B "$SEEDER" -p 5201
mktorrent -p -l 22 -a "http://$SEEDER:6969/announce" -o "$WORK/game.torrent" "$GAME" > /dev/null
# Debian's opentracker serves only the torrents its whitelist names.
aria2c -S "$WORK/game.torrent" | awk '/^Info Hash:/ { print $3 }' > "$WORK/whitelist"
chmod 644 "$WORK/whitelist"
(cd "$WORK" && in_host h0 opentracker -i "$SEEDER" -p 6969 -P 6969 -d "$WORK" -w whitelist > "$WORK/tracker.log" 2>&1 &)
BT_OPTS=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false
  --file-allocation=none --console-log-level=error --summary-interval=0 --download-result=hide --quiet=true)
in_host h0 aria2c "${BT_OPTS[@]}" -V --seed-ratio=0.0 --dir="$WORK/src" --listen-port=6881 \
  --bt-external-ip="$SEEDER" "$WORK/game.torrent" > "$WORK/bt-seeder.log" 2>&1 &
for _ in $(seq 300); do grep -q '"event":"library"' "$WORK/seeder.json" && break; sleep 0.1; done
sleep 2

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
cpu_idle_jiffies() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }

ceiling() {
  in_host h1 iperf3 -c "$SEEDER" -p 5201 -R -t 6 -O 1 -J > "$WORK/iperf.json"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6)' "$WORK/iperf.json"
}

# run_together TOOL HOSTS...: starts TOOL on every host at once; prints the
# seconds until the last is done. Each copy is compared with the seeder's
# afterwards, outside the time.
run_together() {
  local tool=$1 pids=() h start took
  shift
  start=$(now)
  for h in "$@"; do "$tool" "$h" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || { echo "swarm-bench: a $tool run failed" >&2; exit 1; }; done
  took=$(elapsed "$start")
  for h in "$@"; do
    diff -rq "$GAME" "$(copy_of "$tool" "$h")" > /dev/null || { echo "swarm-bench: $h's $tool copy differs" >&2; exit 1; }
  done
  echo "$took"
}

copy_of() {
  case $1 in
    lanspread) echo "$WORK/out-$2/openarena" ;;
    bittorrent) echo "$WORK/bt-$2/openarena" ;;
    http) echo "$WORK/http-$2/openarena" ;;
  esac
}

lanspread() {
  local h=$1
  rm -rf "$WORK/out-$h" "$WORK/state-$h"
  in_host "$h" "$WORKER" fetch openarena --games "$WORK/out-$h" --no-mdns --no-install --wait 10 --json \
    --state "$WORK/state-$h" --listen "$(addr_of "$h"):47474" --name "$h" --peer "$SEEDER:47474" \
    > "$WORK/fetch-$h.json" 2> "$WORK/fetch-$h.log" || { tail -5 "$WORK/fetch-$h.log" >&2; return 1; }
}

bittorrent() {
  local h=$1
  rm -rf "$WORK/bt-$h"; mkdir -p "$WORK/bt-$h"
  in_host "$h" aria2c "${BT_OPTS[@]}" --seed-time=0 --dir="$WORK/bt-$h" --listen-port=6881 \
    --bt-external-ip="$(addr_of "$h")" "$WORK/game.torrent" > "$WORK/bt-$h.log" 2>&1 || { tail -5 "$WORK/bt-$h.log" >&2; return 1; }
}

http() {
  local h=$1
  rm -rf "$WORK/http-$h"; mkdir -p "$WORK/http-$h"
  (cd "$WORK/src" && find openarena -type f) | awk -v base="http://$SEEDER:8080/" -v out="$WORK/http-$h/" \
    '{ printf "url = \"%s%s\"\noutput = \"%s%s\"\n", base, $0, out, $0 }' > "$WORK/curl-$h.cfg"
  in_host "$h" curl -s --create-dirs -K "$WORK/curl-$h.cfg"
}

DOWNLOADERS=()
for i in $(seq 1 "$N"); do DOWNLOADERS+=("h$i"); done
CEILING=$(ceiling)
echo "swarm-bench: link ceiling $CEILING Mbit/s (iperf3)" >&2
for run in $(seq 1 "$RUNS"); do
  for tool in $TOOLS; do
    one=$(run_together "$tool" h1)
    read -r idle0 total0 < <(cpu_idle_jiffies)
    many=$(run_together "$tool" "${DOWNLOADERS[@]}")
    read -r idle1 total1 < <(cpu_idle_jiffies)
    idle=$(awk -v i=$((idle1 - idle0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.0f", 100 * i / t }')
    echo "$one $many $idle" >> "$WORK/$tool.runs"
    echo "swarm-bench: run $run, $tool: one alone ${one} s, $N together ${many} s (CPU idle ${idle}%)" >&2
    if [ -n "$KEEP" ] && [ "$tool" = lanspread ]; then
      mkdir -p "$KEEP/run-$run"
      cp "$WORK"/fetch-* "$WORK/seeder.json" "$WORK/seeder.log" "$KEEP/run-$run/"
    fi
  done
done

col() { awk -v c="$2" '{ print $c }' "$WORK/$1.runs" | median; }
IDEAL=$(awk -v b="$TOTAL" -v c="$CEILING" 'BEGIN { printf "%.2f", b * 8 / (c * 1e6) }')
RESULTS=$WORK/results.md
{
  echo "1 seeder at $SEEDER_RATE, $N downloaders at $RATE, a game of $TOTAL bytes; ceiling $CEILING Mbit/s"
  echo "(one copy at the ceiling: $IDEAL s); medians of $RUNS interleaved runs."
  echo
  echo "| tool | one alone s | one alone / ceiling time | $N together s (last done) | $N together / one alone | $N together / ceiling time | CPU idle during the $N |"
  echo "|---|---|---|---|---|---|---|"
  for tool in $TOOLS; do
    label=$tool
    [ "$tool" = lanspread ] && label="LanSpread"
    [ "$tool" = bittorrent ] && label="BitTorrent (aria2c, opentracker)"
    [ "$tool" = http ] && label="HTTP (curl from nginx)"
    printf '| %s | %s | %s | %s | %s | %s | %s%% |\n' "$label" "$(col "$tool" 1)" "$(ratio "$(col "$tool" 1)" "$IDEAL")" \
      "$(col "$tool" 2)" "$(ratio "$(col "$tool" 2)" "$(col "$tool" 1)")" "$(ratio "$(col "$tool" 2)" "$IDEAL")" "$(col "$tool" 3)"
  done
} > "$RESULTS"
cat "$RESULTS"
if [ "$WRITE" = 1 ]; then
  # Before the results that scripts/bench.sh rewrites.
  {
    sed '/^## Latest run$/,$d' BENCHMARKS.md
    echo "### Swarm, $(date -u +%Y-%m-%d): \`sudo scripts/swarm-bench.sh --downloaders $N --rate $RATE --seeder-rate $SEEDER_RATE --size $SIZE_MB --runs $RUNS\`"
    echo
    cat "$RESULTS"
    echo
    sed -n '/^## Latest run$/,$p' BENCHMARKS.md
  } > "$WORK/BENCHMARKS.md"
  cp "$WORK/BENCHMARKS.md" BENCHMARKS.md
  echo "swarm-bench: BENCHMARKS.md updated" >&2
fi
