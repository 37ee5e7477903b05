#!/usr/bin/env bash
# Builds LanSpread's packages into target/dist/ (layout and tests:
# installer/README.md):
#
#   scripts/package.sh [linux|windows|all]      (default: linux)
#
#   linux    lanspread_<version>_amd64.deb (cargo-deb),
#            lanspread-<version>-1.x86_64.rpm (cargo-generate-rpm),
#            lanspread-<version>-linux-x86_64.tar.gz (install.sh / uninstall.sh
#            for a per-user install into ~/.local);
#   windows  LanSpread-<version>-setup-x64.exe (NSIS) and
#            LanSpread-<version>-windows-x64.zip (portable), cross-built
#            for x86_64-pc-windows-gnu with mingw-w64;
#   and SHA256SUMS of every package in target/dist/.
#
# The version is the workspace's (Cargo.toml, [workspace.package]). Release
# binaries by default; PROFILE=dev packages debug builds (CI, to save time).
# Installs what it needs when missing: the build dependencies
# (scripts/deps.sh), cargo-deb and cargo-generate-rpm, NSIS, mingw-w64 and
# the Rust target.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-linux}
case $what in
  linux | windows | all) ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
esac
source scripts/deps.sh

profile=${PROFILE:-release}
profile_dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "package: no version in [workspace.package] of Cargo.toml" >&2; exit 1; }
dist=target/dist
mkdir -p "$dist"

package_linux() {
  # Pinned: cargo-deb warns that a future version will refuse debug packages.
  declare -A versions=([cargo-deb]=3.8.0 [cargo-generate-rpm]=0.21.1)
  for tool in cargo-deb cargo-generate-rpm; do
    command -v "$tool" >/dev/null || cargo install --locked "$tool" --version "${versions[$tool]}"
  done

  echo "package: building LanSpread $version ($profile)" >&2
  cargo build --profile "$profile" -p lanspread -p lanspread-worker
  # Man pages and completions, made from the worker's clap definition.
  rm -rf "$dist/docs"
  cargo run -q -p lanspread-worker --example docs -- "$dist/docs"
  gzip -9n "$dist"/docs/man/*.1

  # The Debian changelog carries the version and the date of the last commit.
  when=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
  sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$when/" installer/linux/changelog.in >"$dist/changelog.Debian"
  deb="$dist/lanspread_${version}_amd64.deb"
  cargo deb --no-build --profile "$profile" -p lanspread -o "$deb"
  rpm="$dist/lanspread-${version}-1.x86_64.rpm"
  cargo generate-rpm -p . --profile "$profile" --payload-compress gzip -o "$rpm"

  # The tarball: the same files under one top folder, with install.sh and
  # uninstall.sh for a per-user install.
  top="lanspread-${version}-linux-x86_64"
  stage=$(mktemp -d)
  root="$stage/$top"
  mkdir -p "$root/bin" "$root/share/applications" "$root/share/icons/hicolor/scalable/apps" \
    "$root/share/icons/hicolor/256x256/apps" "$root/share/metainfo" "$root/share/man/man1" \
    "$root/share/bash-completion/completions" "$root/share/zsh/site-functions" \
    "$root/share/fish/vendor_completions.d"
  cp "target/$profile_dir/lanspread" "target/$profile_dir/lanspread-worker" "$root/bin/"
  cp installer/linux/lanspread.desktop "$root/share/applications/"
  cp installer/linux/lanspread.svg "$root/share/icons/hicolor/scalable/apps/"
  cp installer/linux/lanspread.png "$root/share/icons/hicolor/256x256/apps/"
  cp installer/linux/io.github.lanspread.LanSpread.metainfo.xml "$root/share/metainfo/"
  cp "$dist"/docs/man/*.1.gz "$root/share/man/man1/"
  cp "$dist/docs/completions/lanspread-worker.bash" "$root/share/bash-completion/completions/lanspread-worker"
  cp "$dist/docs/completions/_lanspread-worker" "$root/share/zsh/site-functions/"
  cp "$dist/docs/completions/lanspread-worker.fish" "$root/share/fish/vendor_completions.d/"
  cp installer/linux/tarball/install.sh installer/linux/tarball/uninstall.sh LICENSE "$root/"
  tarball="$dist/$top.tar.gz"
  tar -C "$stage" --owner=0 --group=0 --sort=name -czf "$tarball" "$top"
  rm -rf "$stage"
  echo "package: wrote $deb, $rpm and $tarball" >&2
}

package_windows() {
  local target=x86_64-pc-windows-gnu need=()
  for p in nsis gcc-mingw-w64-x86-64 zip; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  echo "package: cross-building LanSpread $version for Windows ($profile)" >&2
  cargo build --profile "$profile" --target "$target" -p lanspread -p lanspread-worker
  local bin="target/$target/$profile_dir" files
  files=$(mktemp -d)
  cp "$bin/lanspread.exe" "$bin/lanspread-worker.exe" installer/windows/lanspread.ico "$files/"
  # Windows' Notepad wants CR LF.
  sed 's/$/\r/' LICENSE >"$files/LICENSE.txt"
  local setup="$dist/LanSpread-${version}-setup-x64.exe"
  makensis -V2 -DVERSION="$version" -DSRC="$files" -DOUTFILE="$PWD/$setup" installer/windows/lanspread.nsi
  local top="LanSpread-${version}-windows-x64" zipfile="$PWD/$dist/LanSpread-${version}-windows-x64.zip"
  mkdir -p "$files/$top"
  cp "$files/lanspread.exe" "$files/lanspread-worker.exe" "$files/LICENSE.txt" "$files/$top/"
  rm -f "$zipfile"
  (cd "$files" && zip -qr -X "$zipfile" "$top")
  rm -rf "$files"
  echo "package: wrote $setup and $zipfile" >&2
}

case $what in
  linux) package_linux ;;
  windows) package_windows ;;
  all) package_linux && package_windows ;;
esac
(cd "$dist" && sha256sum $(ls lanspread_*.deb lanspread-*.rpm lanspread-*.tar.gz LanSpread-*.exe LanSpread-*.zip 2>/dev/null) >SHA256SUMS)
echo "package: $dist/SHA256SUMS lists $(wc -l <"$dist/SHA256SUMS") packages" >&2
