#!/bin/sh
# Removes what install.sh installed for the current user (the files listed
# in ~/.local/share/lanspread/installed-files) and the folders it leaves
# empty. Settings, the log and games are the user's and stay.
set -eu
prefix=${PREFIX:-$HOME/.local}
list="$prefix/share/lanspread/installed-files"
[ -f "$list" ] || { echo "LanSpread is not installed in $prefix" >&2; exit 1; }
while read -r f; do
    case $f in
        "$prefix"/*)
            rm -f "$f"
            d=$(dirname "$f")
            while [ "$d" != "$prefix" ] && rmdir "$d" 2>/dev/null; do d=$(dirname "$d"); done
            ;;
    esac
done <"$list"
echo "LanSpread removed from $prefix"
