#!/usr/bin/env bash
# Checks an export against LeRobot itself: builds a LeRobot venv (Python 3.12 from pyenv; CPU is enough),
# records a short session with the project venv, exports it, then in the LeRobot venv loads and decodes
# it, resumes recording into it, aggregates it with a dataset LeRobot recorded, and trains ACT 10 steps
# (tools/check_lerobot.py).  Prints the figures as JSON on its last line.
#
#   tools/check_lerobot.sh [WORK_DIR]          # default .cache/lerobot-check (venv kept between runs)
#
# Needs network access to PyPI the first time (LeRobot 0.6.1 pins torch<2.12, whose PyPI wheel for
# Python 3.12 brings the CUDA libraries: a few GB; they stay unused on a CPU).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(realpath -m "${1:-$ROOT/.cache/lerobot-check}")
LEROBOT_VENV=$WORK/venv
LEROBOT_VERSION=0.6.1
PYTHON312=${PYTHON312:-$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.12.*/bin/python3 2>/dev/null | tail -1)}
mkdir -p "$WORK"

if [ ! -f "$LEROBOT_VENV/.lerobot-$LEROBOT_VERSION" ]; then
  [ -x "$PYTHON312" ] || { echo "check_lerobot: no Python 3.12 (set PYTHON312=/path/to/python3.12)" >&2; exit 2; }
  echo "check_lerobot: building the LeRobot $LEROBOT_VERSION venv with $PYTHON312 (first run: minutes)" >&2
  started=$(date +%s)
  rm -rf "$LEROBOT_VENV"
  "$PYTHON312" -m venv "$LEROBOT_VENV"
  # LeRobot's dataset and training extras (torchcodec, datasets, pandas, av, accelerate, wandb).
  "$LEROBOT_VENV/bin/pip" install --progress-bar off "lerobot[training]==$LEROBOT_VERSION" >&2
  echo "$(( $(date +%s) - started ))" > "$LEROBOT_VENV/.lerobot-$LEROBOT_VERSION"
fi

# A session recorded and exported by this project (the project venv; `make setup` first).
EPISODES=$WORK/session/episodes
if ! ls "$EPISODES"/episode_*.mcap >/dev/null 2>&1; then
  echo "check_lerobot: recording a session (teleop_session.demo)" >&2
  (cd "$ROOT" && PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" "$ROOT/.venv/bin/python" -m teleop_session.demo \
     --max-frames 150 --out "$WORK/session/session.mp4" --task "wave at the robot" >/dev/null)
fi
rm -rf "$WORK/export"
(cd "$ROOT" && PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" "$ROOT/.venv/bin/python" -m teleop_session.export \
   "$EPISODES" --out "$WORK/export" >&2)

"$LEROBOT_VENV/bin/python" "$ROOT/tools/check_lerobot.py" "$WORK/export" "$WORK/lerobot" \
  --install-s "$(cat "$LEROBOT_VENV/.lerobot-$LEROBOT_VERSION")"
