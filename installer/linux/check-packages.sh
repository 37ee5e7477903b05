#!/usr/bin/env bash
# Checks the Linux packages in target/dist/ (made by scripts/package.sh) the
# way a user meets them, on this machine, as root:
#
# 1. the .deb installs with dpkg -i (apt-get -f install for its depends),
#    lintian finds no error in it, its metainfo and menu entry validate, `lanspread-worker --version` prints the
#    workspace version, the seeder unit passes systemd-analyze verify, the
#    installed `lanspread` opens a window under Xvfb (a screenshot of more
#    than 50 colours) and starts the installed worker, and dpkg --purge
#    leaves no file of the package (nor its service user) behind;
# 2. the .rpm's file list and dependencies (rpm -qpl, rpm -qpR);
# 3. the tarball's install.sh into a temporary HOME, the installed programs
#    run, uninstall.sh leaves no file behind.
#
# The app runs in a private network namespace (no mDNS on this machine's
# network). Installs lintian, rpm, systemd, Xvfb, ImageMagick and xdotool
# when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "check-packages: needs root (dpkg, namespaces)" >&2; exit 1; }
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
dist=$PWD/target/dist
deb=$dist/lanspread_${version}_amd64.deb
rpm=$dist/lanspread-${version}-1.x86_64.rpm
tarball=$dist/lanspread-${version}-linux-x86_64.tar.gz
for f in "$deb" "$rpm" "$tarball"; do
  [ -f "$f" ] || { echo "check-packages: $f is missing; run scripts/package.sh first" >&2; exit 1; }
done

need=()
for p in lintian rpm systemd xvfb xauth imagemagick xdotool appstream desktop-file-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
xvfb_pid=""
cleanup() {
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
  pkill -f '^/usr/bin/lanspread' 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check-packages: FAILED: $*" >&2; exit 1; }
ok() { echo "check-packages: ok: $*"; }

# --- 1. the .deb -------------------------------------------------------------
lintian --tag-display-limit 0 "$deb" >"$work/lintian.txt" 2>&1 || true
if grep -q '^E: ' "$work/lintian.txt"; then
  cat "$work/lintian.txt" >&2
  fail "lintian reports errors"
fi
ok "lintian: no errors ($(grep -c '^W: ' "$work/lintian.txt" || true) warnings)"
appstreamcli validate --no-net installer/linux/io.github.lanspread.LanSpread.metainfo.xml >/dev/null \
  || fail "appstreamcli validate"
desktop-file-validate installer/linux/lanspread.desktop || fail "desktop-file-validate"
ok "the metainfo and the menu entry validate"

dpkg -i "$deb" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq >/dev/null
dpkg-query -W -f='${Status}' lanspread | grep -q "install ok installed" || fail "the .deb did not install"
dpkg -L lanspread | while read -r f; do if [ ! -d "$f" ]; then echo "$f"; fi; done >"$work/files"
[ "$(lanspread-worker --version)" = "lanspread-worker $version" ] || fail "lanspread-worker --version: $(lanspread-worker --version)"
getent passwd lanspread >/dev/null || fail "no service user lanspread"
systemd-analyze verify /usr/lib/systemd/system/lanspread-seeder.service 2>"$work/verify.txt" \
  || { cat "$work/verify.txt" >&2; fail "systemd-analyze verify"; }
ok "installed $(wc -l <"$work/files") files; lanspread-worker $version; the seeder unit verifies"

display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do DISPLAY=$display xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$work/home" "$work/games"
DISPLAY=$display HOME=$work/home unshare -n sh -c \
  "ip link set lo up; exec /usr/bin/lanspread --no-mdns --games '$work/games' --state '$work/state'" \
  >"$work/app.txt" 2>&1 &
window=""
for _ in $(seq 300); do
  window=$(DISPLAY=$display xdotool search --name '^LanSpread' 2>/dev/null | head -1) && [ -n "$window" ] && break
  sleep 0.1
done
[ -n "$window" ] || { cat "$work/app.txt" >&2; fail "no LanSpread window within 30 s"; }
worker=""
for _ in $(seq 100); do
  worker=$(pgrep -f '^/usr/bin/lanspread-worker ipc' | head -1) && [ -n "$worker" ] && break
  sleep 0.1
done
[ -n "$worker" ] || fail "the app did not start the installed worker"
[ "$(readlink "/proc/$worker/exe")" = /usr/bin/lanspread-worker ] || fail "the worker is not the installed one"
sleep 1 # let the first frames with the worker's data be drawn
DISPLAY=$display import -window root "$work/window.png"
colours=$(identify -format %k "$work/window.png")
[ "$colours" -gt 50 ] || fail "the screenshot has only $colours colours"
cp "$work/window.png" "$dist/deb-window.png"
ok "the window opened ($colours colours, $dist/deb-window.png) and started /usr/bin/lanspread-worker"
pkill -f '^/usr/bin/lanspread' || true
for _ in $(seq 100); do pgrep -f '^/usr/bin/lanspread' >/dev/null || break; sleep 0.1; done

dpkg --purge lanspread >/dev/null 2>&1
left=$(while read -r f; do if [ -e "$f" ]; then echo "$f"; fi; done <"$work/files")
[ -z "$left" ] || fail "dpkg --purge left: $left"
! getent passwd lanspread >/dev/null || fail "the service user is still there"
[ ! -e /var/lib/lanspread-seeder ] || fail "/var/lib/lanspread-seeder is still there"
ok "dpkg --purge left nothing behind"

# --- 2. the .rpm -------------------------------------------------------------
rpm -qpl "$rpm" >"$work/rpm-files" 2>/dev/null
for f in /usr/bin/lanspread /usr/bin/lanspread-worker /usr/share/applications/lanspread.desktop \
  /usr/share/icons/hicolor/256x256/apps/lanspread.png /usr/lib/systemd/system/lanspread-seeder.service \
  /usr/share/man/man1/lanspread-worker.1.gz /usr/share/metainfo/io.github.lanspread.LanSpread.metainfo.xml; do
  grep -qx "$f" "$work/rpm-files" || fail "the .rpm lacks $f"
done
rpm -qpR "$rpm" >"$work/rpm-requires" 2>/dev/null
for r in libX11 libxkbcommon libwayland-client libglvnd-egl fontconfig; do
  grep -q "^$r" "$work/rpm-requires" || fail "the .rpm does not require $r"
done
ok "the .rpm holds $(wc -l <"$work/rpm-files") files and requires $(wc -l <"$work/rpm-requires") packages"

# --- 3. the tarball ----------------------------------------------------------
mkdir -p "$work/tar" "$work/tar-home"
tar -C "$work/tar" -xzf "$tarball"
HOME=$work/tar-home "$work/tar/lanspread-${version}-linux-x86_64/install.sh" >/dev/null
[ "$("$work/tar-home/.local/bin/lanspread-worker" --version)" = "lanspread-worker $version" ] \
  || fail "the per-user lanspread-worker does not run"
grep -q "^Exec=$work/tar-home/.local/bin/lanspread$" "$work/tar-home/.local/share/applications/lanspread.desktop" \
  || fail "the per-user menu entry does not start the installed program"
[ -f "$work/tar-home/.local/share/icons/hicolor/256x256/apps/lanspread.png" ] || fail "no per-user icon"
HOME=$work/tar-home "$work/tar/lanspread-${version}-linux-x86_64/uninstall.sh" >/dev/null
left=$(find "$work/tar-home" -type f)
[ -z "$left" ] || fail "uninstall.sh left: $left"
ok "the tarball installs into ~/.local and uninstalls without a trace"
echo "check-packages: passed"
