#!/usr/bin/env bash
# Smoke test of the Windows setup under Wine, after `scripts/package.sh
# windows`:
#
#   sudo scripts/windows-package-check.sh
#
# A silent install (/S) into Program Files; the files, the Start menu
# shortcut and the uninstall key (with its display version and quiet
# uninstall string) are there; installing again leaves one entry and one
# shortcut; the installed `lanspread-worker.exe
# --version` prints the workspace version; an install / uninstall / remove
# round trip on a small zip game works from the installed location; a silent
# uninstall leaves nothing in Program Files, the registry or the Start menu.
# Not in CI (it takes minutes). What Wine cannot judge here: the firewall
# rule (Wine's netsh is a stub). The window and the network are proven by
# scripts/screenshots.sh --windows and scripts/windows-check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "windows-package-check: needs root to install packages" >&2; exit 1; }
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
setup=$PWD/target/dist/LanSpread-${version}-setup-x64.exe
[ -f "$setup" ] || { echo "windows-package-check: $setup is missing; run scripts/package.sh windows" >&2; exit 1; }
source scripts/wine-prefix.sh
wine=/usr/lib/wine/wine64
fail() { echo "windows-package-check: FAILED: $*" >&2; exit 1; }
ok() { echo "windows-package-check: ok: $*"; }

program_files="$WINEPREFIX/drive_c/Program Files/LanSpread"
shortcut="$WINEPREFIX/drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/LanSpread.lnk"
key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\LanSpread'

"$wine" "$setup" /S
/usr/lib/wine/wineserver -w
for f in lanspread.exe lanspread-worker.exe uninstall.exe LICENSE.txt; do
  [ -f "$program_files/$f" ] || fail "no $f in Program Files"
done
[ -f "$shortcut" ] || fail "no Start menu shortcut"
"$wine" reg query "$key" /v DisplayVersion 2>/dev/null | tr -d '\r' | grep -q "REG_SZ *$version$" \
  || fail "no uninstall key with DisplayVersion $version"
"$wine" reg query "$key" /v QuietUninstallString 2>/dev/null | grep -q 'uninstall.exe" /S' \
  || fail "no QuietUninstallString"
ok "silent install: files, shortcut and uninstall key are there"

# Installing again (an upgrade in place) adds nothing beside the first.
"$wine" "$setup" /S
/usr/lib/wine/wineserver -w
entries=$("$wine" reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' 2>/dev/null \
  | tr -d '\r' | grep -ci 'lanspread' || true)
[ "$entries" = 1 ] || fail "$entries Apps & features entries after installing twice"
[ "$(ls "$WINEPREFIX/drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs" | grep -c '^LanSpread')" = 1 ] \
  || fail "more than one Start menu shortcut after installing twice"
ok "installing over the installed version leaves one entry and one shortcut"

worker="C:\\Program Files\\LanSpread\\lanspread-worker.exe"
got=$("$wine" "$worker" --version 2>/dev/null | tr -d '\r')
[ "$got" = "lanspread-worker $version" ] || fail "lanspread-worker.exe --version said: $got"
ok "the installed lanspread-worker.exe runs ($got)"

# A small zip game: installed, uninstalled and removed by the installed worker.
games=$(mktemp -d)
trap 'rm -rf "$games"' EXIT
mkdir -p "$games/openarena"
python3 - "$games/openarena/pak.zip" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("openarena.exe", b"MZ" + bytes(range(256)) * 64)
    z.writestr("baseoa/pak0.pk3", bytes(range(256)) * 4096)
EOF
echo "0.8.8" >"$games/openarena/version.ini"
win_games="Z:${games//\//\\}"
"$wine" "$worker" install openarena --games "$win_games" >/dev/null 2>&1 || fail "install from the installed worker"
[ -f "$games/openarena/local/baseoa/pak0.pk3" ] || fail "install did not unpack"
"$wine" "$worker" uninstall openarena --games "$win_games" >/dev/null 2>&1 || fail "uninstall"
[ ! -e "$games/openarena/local" ] || fail "uninstall left local/"
"$wine" "$worker" remove openarena --games "$win_games" >/dev/null 2>&1 || fail "remove"
[ ! -e "$games/openarena" ] || fail "remove left the game folder"
ok "install, uninstall and remove of a zip game from the installed location"

"$wine" "C:\\Program Files\\LanSpread\\uninstall.exe" /S
# The uninstaller copies itself away and runs from there: wait for it.
for _ in $(seq 600); do [ -e "$program_files" ] || break; sleep 0.1; done
/usr/lib/wine/wineserver -w
[ ! -e "$program_files" ] || fail "Program Files\\LanSpread is still there: $(ls "$program_files")"
[ ! -e "$shortcut" ] || fail "the Start menu shortcut is still there"
! "$wine" reg query "$key" >/dev/null 2>&1 || fail "the uninstall key is still there"
! "$wine" reg query 'HKLM\Software\LanSpread' >/dev/null 2>&1 || fail "HKLM\\Software\\LanSpread is still there"
ok "silent uninstall left nothing in Program Files, the registry or the Start menu"
echo "windows-package-check: passed"
