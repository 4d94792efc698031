"""The package's own folders: in a source checkout, beside this file (src/teleop_common/); in a colcon
install, where the ament index puts the package's share/ (this file then lies in site-packages)."""
from __future__ import annotations

from pathlib import Path

PACKAGE = "whole_body_teleop"
REPO_ROOT = Path(__file__).resolve().parents[2]
IN_CHECKOUT = (REPO_ROOT / "package.xml").is_file()


def _installed_share() -> Path | None:
    """share/whole_body_teleop of the install found through the ament index (AMENT_PREFIX_PATH)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, ValueError, OSError):      # OSError: AMENT_PREFIX_PATH unset
        return None


_SHARE = None if IN_CHECKOUT else _installed_share()
CONFIG_DIR = (_SHARE or REPO_ROOT) / "config"      # parameter files; robots in config/robots
CACHE_DIR = REPO_ROOT / ".cache"       # what `make setup` prepares: models, media; TensorRT engines
