#!/usr/bin/env bash
# The demo's default footage: Pose2Sim's single-person demo video (BSD-3-Clause), taken from the
# pose2sim wheel on PyPI (downloaded with pip, never installed) and cut by tools/make_demo_clip.py.
# Usage: tools/fetch_demo_clip.sh VENV OUT.mp4
set -euo pipefail
py=$1/bin/python; out=$2
version=0.10.49
member=Pose2Sim/Demo_SinglePerson/videos/cam02.mp4
sha256=94ff87cf978b8406e8aa36ab3c5362e72848994e87652f0dc7a33c315e8e0442
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download --quiet --disable-pip-version-check --no-deps "pose2sim==$version" -d "$tmp" 2>&1 \
  | grep -v "^WARNING: Location" >&2 || true
wheel=$(ls "$tmp"/pose2sim-"$version"-*.whl)
"$py" - "$wheel" "$tmp/x" "$member" <<'PY'
import sys, zipfile
wheel, dest, member = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    licence = next(n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
    archive.extract(member, dest)
    archive.extract(licence, dest)
PY
echo "$sha256  $tmp/x/$member" | sha256sum -c --quiet
mkdir -p "$(dirname "$out")"
cp "$tmp"/x/pose2sim-*.dist-info/licenses/LICENSE "$(dirname "$out")/pose2sim-LICENSE.txt"
"$py" "$root/tools/make_demo_clip.py" "$tmp/x/$member" "$out"
