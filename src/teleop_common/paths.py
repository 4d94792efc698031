"""The repository's own folders, computed once from this file's place (src/teleop_common/)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "config"      # parameter files; robots in config/robots
CACHE_DIR = REPO_ROOT / ".cache"       # what `make setup` prepares: models, media; TensorRT engines
