#!/usr/bin/env bash
# Convert the TFLite part experts shipped in the mediapipe wheel to ONNX, once.
# tensorflow + tf2onnx conflict with mediapipe's pins, so they live in a venv of their own.
# Usage: tools/prepare_models.sh PROJECT_VENV OUT_DIR
set -euo pipefail
venv=$1; out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
convert="$root/.venv-convert"
if [ ! -f "$convert/.stamp" ] || [ "$root/requirements-convert.txt" -nt "$convert/.stamp" ]; then
  echo "models: creating the conversion venv (tensorflow-cpu + tf2onnx)"
  test -x "$convert/bin/python" || python3 -m venv "$convert"
  "$convert/bin/python" -m pip install --disable-pip-version-check --progress-bar on -r "$root/requirements-convert.txt"
  touch "$convert/.stamp"
fi
modules=$("$venv/bin/python" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("mediapipe").origin).parent / "modules")')
PYTHONPATH="$root/src" "$convert/bin/python" "$root/tools/model_prep.py" --source "$modules" --out "$out" \
  --media "$root/.cache/media" --verify
