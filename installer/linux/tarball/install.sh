#!/bin/sh
# Installs LanSpread for the current user into ~/.local (no root needed):
# the two programs in ~/.local/bin, the menu entry, the icon, the man pages
# and the shell completions under ~/.local/share. Every file it writes is
# listed in ~/.local/share/lanspread/installed-files, which uninstall.sh
# removes again.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-$HOME/.local}
list="$prefix/share/lanspread/installed-files"
mkdir -p "$prefix/share/lanspread"
: >"$list"

put() { # put SOURCE DEST MODE
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2"
    chmod "$3" "$2"
    echo "$2" >>"$list"
}

put "$here/bin/lanspread" "$prefix/bin/lanspread" 755
put "$here/bin/lanspread-worker" "$prefix/bin/lanspread-worker" 755
(cd "$here/share" && find . -type f) | while read -r f; do
    put "$here/share/$f" "$prefix/share/${f#./}" 644
done
# The menu entry starts the program by its full path: ~/.local/bin is not
# on every desktop session's PATH.
desktop="$prefix/share/applications/lanspread.desktop"
sed "s|^Exec=lanspread$|Exec=$prefix/bin/lanspread|" "$desktop" >"$desktop.new" && mv "$desktop.new" "$desktop"
echo "$list" >>"$list"
echo "LanSpread installed in $prefix (run: $prefix/bin/lanspread; remove: $here/uninstall.sh)"
