#!/usr/bin/env bash
# Real footage for the demo, tests and benchmarks: OpenCV's example data from Debian's
# opencv-doc package, downloaded (no root needed) and unpacked into DEST.
set -euo pipefail
mkdir -p "$1"; dest=$(cd "$1" && pwd)
files="messi5.jpg basketball1.png basketball2.png vtest.avi Megamind.avi"
have_all() { for f in $files; do [ -s "$dest/$f" ] || return 1; done; }
have_all && exit 0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download opencv-doc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get download opencv-doc >/dev/null 2>&1
  else echo "apt-get download opencv-doc failed; run 'sudo apt-get update' and retry" >&2; exit 1; fi
fi
dpkg-deb -x opencv-doc_*.deb x
mkdir -p "$dest"
for f in $files; do cp "x/usr/share/doc/opencv-doc/examples/data/$f" "$dest/"; done
echo "media: $files -> $dest"
