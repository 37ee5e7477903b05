#!/usr/bin/env bash
# The Windows build proven under Wine, beside the Linux build, inside a
# private network namespace (nothing leaves this machine):
#
#   0. the unit tests of every crate and the worker's install tests, on
#      Windows paths and file rules;
#   1. a Windows `serve` and a Linux `fetch`, and a Linux `serve` and a
#      Windows `fetch`, both installing, byte-identical both ways;
#   2. a swarm of a Linux seeder, a Windows and a Linux downloader, each
#      serving the other (per-peer bytes in their JSON progress);
#   3. the Windows app's supervisor (app-ui) spawning the Windows worker over
#      its named pipe: downloads started by IPC commands, the worker killed
#      mid-download and mid-install and restarted, the work resumed;
#   4. unbuffered writes (FILE_FLAG_NO_BUFFERING) into a game directory under
#      a user name with non-ASCII letters, at paths past 260 characters;
#   5. Play of a .bat in local/, and an update and an uninstall refused while
#      a game file is held open without FILE_SHARE_DELETE, done once closed;
#   6. mDNS between two Windows workers and a Linux worker, each in a host of
#      a lab of namespaces, with no --peer.
#
#   sudo scripts/windows-check.sh         all of it (about 10 minutes)
#   sudo scripts/windows-check.sh --ci    1 to 4 and 6 (what CI runs: no
#                                         Windows build of the test suites)
#
# Installs Wine, the MinGW linker and the Rust target when missing
# (scripts/wine-prefix.sh). What Wine cannot show is in installer/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "windows-check: needs root for packages and network namespaces" >&2; exit 1; }
mode=${1:-all}
case "$mode" in all | --ci) ;; *) echo "usage: $0 [--ci]" >&2; exit 2 ;; esac

target=x86_64-pc-windows-gnu
windows=(--target "$target")
export WINE=/usr/lib/wine/wine64 WINESERVER=/usr/lib/wine/wineserver
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$WINE
export LANSPREAD_WINDOWS_WORKER=$PWD/target/$target/debug/lanspread-worker.exe
# The Windows build without debug info: it links in half the time, and a
# failing test's message says what failed.
windows_cargo() { CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 cargo "$@"; }

if [ -z "${LANSPREAD_WINE_INSIDE:-}" ]; then
  # The Windows standard library comes from rustup's server, which CI may
  # not reach: there the check says SKIPPED rather than failing on it.
  if ! rustup target list --installed | grep -x "$target" >/dev/null && ! rustup target add "$target"; then
    [ "$mode" = --ci ] || { echo "windows-check: rustup cannot fetch the $target standard library" >&2; exit 1; }
    echo "windows-check: SKIPPED: rustup cannot fetch the $target standard library (static.rust-lang.org)"
    exit 0
  fi
  source scripts/wine-prefix.sh # Wine, MinGW, the prefix (exported for inside)
  # Everything is built out here, where crates can be fetched. The worker
  # keeps its test hooks (a seeder that answers slowly, for item 3).
  windows_cargo build "${windows[@]}" -p lanspread-worker --features test-hooks
  # The Linux tests as the test command builds them (the whole workspace's
  # features), so after it nothing is built again.
  cargo test --no-run --workspace --tests
  windows_cargo test --no-run "${windows[@]}" -p lanspread-app-ui --test supervisor
  if [ "$mode" = all ]; then
    windows_cargo test --no-run "${windows[@]}" -p lanspread-proto -p lanspread-worker -p lanspread-app-ui --lib
    windows_cargo test --no-run "${windows[@]}" -p lanspread-worker --test it
  fi
  # Wine's sockets belong to its wineserver: none may be left running out
  # here, or the Windows programs in the namespace would use this network.
  "$WINESERVER" -k 2>/dev/null || true
  exec unshare -n env LANSPREAD_WINE_INSIDE=1 "$0" "$@"
fi

ip link set lo up
trap '"$WINESERVER" -k 2>/dev/null || true' EXIT
proved() { echo "windows-check: proved $*"; }
# expect N COMMAND...: runs a test command that must run exactly N tests,
# all passing (a filter that matches nothing would pass with none).
expect() {
  local n=$1 log
  shift
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  grep "^test result: ok. $n passed" "$log" >/dev/null || { echo "windows-check: expected $n tests to pass" >&2; exit 1; }
  rm -f "$log"
}
# The Linux test binary drives the Windows worker (worker/tests/it/windows.rs).
interop() { cargo test --frozen -q --workspace --tests -- --ignored --exact "$@"; }

if [ "$mode" = all ]; then
  windows_cargo test --frozen -q "${windows[@]}" --no-fail-fast -p lanspread-proto -p lanspread-worker -p lanspread-app-ui --lib
  windows_cargo test --frozen -q "${windows[@]}" -p lanspread-worker --test it -- install::
  proved "0: the unit tests of every crate and the worker's install tests pass on Windows"
fi

expect 2 interop windows::a_windows_seeder_serves_a_linux_fetch_that_installs \
  windows::a_linux_seeder_serves_a_windows_fetch_into_a_long_non_ascii_path_that_installs
proved "1: a Windows serve and a Linux fetch, a Linux serve and a Windows fetch, both installing, byte-identical"
proved "4: the Windows fetch wrote into 'Jürgen Øster-Łukasiewicz/…' at paths past 260 characters," \
  "byte-identical; its whole chunks go through FILE_FLAG_NO_BUFFERING (that Wine takes it: step 0)"
expect 1 interop windows::a_windows_error_reaches_the_user_as_words
proved "1: a Windows error reaches the user as words ('WSAEADDRINUSE: the address is already in use …')"
expect 1 interop windows::a_windows_and_a_linux_downloader_serve_each_other_in_a_swarm
proved "2: a Windows and a Linux downloader got chunks from each other beside a Linux seeder, byte-identical"

windows_cargo test --frozen -q "${windows[@]}" -p lanspread-app-ui --test supervisor
proved "3: the Windows supervisor ran the Windows worker over its named pipe: downloads by IPC command," \
  "a worker killed mid-download and mid-install restarted, the download resumed from its journal"

if [ "$mode" = all ]; then
  expect 1 windows_cargo test --frozen -q "${windows[@]}" -p lanspread-app-ui --lib -- --exact \
    launch::tests::play_starts_the_program_in_its_folder_with_its_arguments
  expect 1 windows_cargo test --frozen -q "${windows[@]}" -p lanspread-worker --test it -- --exact \
    install::an_install_whose_files_a_running_game_holds_is_neither_updated_nor_uninstalled_until_they_are_closed
  proved "5: Play started a .bat in local/ in its folder with its arguments; an update and an uninstall" \
    "were refused while a game file was held open without FILE_SHARE_DELETE, the install kept, both done once closed"
fi

expect 1 interop windows::two_windows_workers_and_a_linux_one_find_each_other_over_mdns
proved "6: two Windows workers and a Linux worker in three namespaces found each other over mDNS, no --peer"
echo "windows-check: passed ($mode)"
