# Sourced by the Windows checks (windows-check.sh, windows-package-check.sh):
# installs Wine, the MinGW toolchain and the Rust Windows target when
# missing, and makes a Wine prefix (WINEPREFIX, default target/wine-prefix)
# where Rust programs start. Wine 8 lacks ProcessPrng in
# bcryptprimitives.dll, which Rust's standard library calls: a small
# stand-in over RtlGenRandom is built into the prefix only.
need=()
for p in wine64 gcc-mingw-w64-x86-64; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
rustup target list --installed | grep -x x86_64-pc-windows-gnu >/dev/null || rustup target add x86_64-pc-windows-gnu

export WINEPREFIX=${WINEPREFIX:-$PWD/target/wine-prefix} WINEDEBUG=-all
system32=$WINEPREFIX/drive_c/windows/system32
if [ ! -f "$system32/bcryptprimitives.dll" ]; then
  mkdir -p "$(dirname "$WINEPREFIX")" # Wine makes the prefix, not its parent
  /usr/lib/wine/wine64 cmd /c exit >/dev/null 2>&1 || true # makes the prefix
  shim=$(mktemp -d)
  cat >"$shim/bcryptprimitives.c" <<'EOF'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}
EOF
  x86_64-w64-mingw32-gcc -shared -O2 -o "$system32/bcryptprimitives.dll" "$shim/bcryptprimitives.c" -ladvapi32
  rm -rf "$shim"
fi

