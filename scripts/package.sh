#!/usr/bin/env bash
# Builds LanSpread's packages into target/dist/ (layout and tests:
# installer/README.md):
#
#   scripts/package.sh [linux]
#
#   linux   lanspread_<version>_amd64.deb (cargo-deb),
#           lanspread-<version>-1.x86_64.rpm (cargo-generate-rpm),
#           lanspread-<version>-linux-x86_64.tar.gz (install.sh / uninstall.sh
#           for a per-user install into ~/.local), and SHA256SUMS.
#
# The version is the workspace's (Cargo.toml, [workspace.package]). Release
# binaries by default; PROFILE=dev packages debug builds (CI, to save time).
# Installs what it needs when missing: the build dependencies
# (scripts/deps.sh), cargo-deb and cargo-generate-rpm.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-linux}
case $what in
  linux) ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
source scripts/deps.sh

profile=${PROFILE:-release}
profile_dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "package: no version in [workspace.package] of Cargo.toml" >&2; exit 1; }
dist=target/dist
mkdir -p "$dist"

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

(cd "$dist" && sha256sum "$(basename "$deb")" "$(basename "$rpm")" "$(basename "$tarball")" >SHA256SUMS)
echo "package: wrote $deb, $rpm, $tarball and $dist/SHA256SUMS" >&2
