# Sourced by scripts/screenshots.sh --windows: makes $WINEPREFIX (a copy of
# the checks' prefix, target/wine-prefix) ready for the Windows window under
# Xvfb. What a real Windows PC has and a fresh Wine prefix lacks:
# - fonts: Slint looks for Windows' own (Segoe UI, Arial, Consolas) and
#   stops without them. Free DejaVu fonts go into the prefix under those
#   names (Wine's font replacements), as Windows' fonts are not free to ship;
#   the app itself ships none, so on a real PC it looks like Windows.
# - a display refresh rate: Xvfb's only mode has none, which Wine passes on
#   as 0 Hz and Slint 1.18 divides by; without XRandR Wine says 60 Hz.
cp -a --reflink=auto target/wine-prefix "$WINEPREFIX"
fonts=/usr/share/fonts/truetype/dejavu
for f in DejaVuSans.ttf DejaVuSans-Bold.ttf DejaVuSansMono.ttf; do
  [ -f "$fonts/$f" ] || { echo "wine-window: $fonts/$f is missing (apt-get install fonts-dejavu-core)" >&2; exit 1; }
  cp "$fonts/$f" "$WINEPREFIX/drive_c/windows/Fonts/"
done
wine_reg() { /usr/lib/wine/wine64 reg add "$1" /v "$2" /t REG_SZ /d "$3" /f >/dev/null 2>&1; }
for family in "Segoe UI" Arial; do
  wine_reg 'HKCU\Software\Wine\Fonts\Replacements' "$family" "DejaVu Sans"
done
wine_reg 'HKCU\Software\Wine\Fonts\Replacements' Consolas "DejaVu Sans Mono"
wine_reg 'HKCU\Software\Wine\X11 Driver' UseXRandR N
