"""The recorder's output folder: checked once at start-up, its free space, and the episodes a killed
or failed recorder left unfinished (no rclpy).

An episode file is complete when it ends with the MCAP magic (footer written by `close`); anything
else was cut short (SIGKILL, power loss, a full disk) and is rewritten from its intact records by
`recover_unfinished` (the recorder does it at start-up; by hand:
`python -m teleop_session.mcap_writer recover-dir FOLDER`).  The cut-short original is kept beside
the recovered file as `episode_NNNN.mcap.unfinished`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from teleop_common.config import ConfigError

MCAP_MAGIC = b"\x89MCAP0\r\n"
EPISODE_FILE = re.compile(r"^episode_(\d+)\.mcap(?:\.unfinished)?$")  # an unfinished one keeps its number
UNFINISHED_SUFFIX = ".unfinished"
_SYSTEM_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))


def checked_folder(output_dir: str, key: str = "output_dir") -> Path:
    """The absolute folder episodes go to, created if needed; ConfigError naming `key` when it cannot be one."""
    def refuse(why: str) -> ConfigError:
        return ConfigError(key, output_dir, f"a writable folder path without '..' outside /proc, /sys and /dev ({why})")

    if not output_dir.strip():
        raise refuse("empty")
    if ".." in Path(output_dir).parts:
        raise refuse("'..' in the path")
    folder = Path(output_dir).expanduser().absolute()
    resolved = folder.resolve()
    if any(resolved == tree or tree in resolved.parents for tree in _SYSTEM_TREES):
        raise refuse(f"{resolved} is a system tree")
    if resolved.exists() and not resolved.is_dir():
        raise refuse(f"{resolved} exists and is not a folder")
    try:
        resolved.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise refuse(f"cannot create it: {error.strerror}") from None
    if not os.access(resolved, os.W_OK | os.X_OK):
        raise refuse(f"{resolved} is not writable")
    return resolved


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still use on the folder's file system."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def episode_index(path: Path) -> int | None:
    match = EPISODE_FILE.match(path.name)
    return int(match.group(1)) if match else None


def next_episode_index(folder: Path) -> int:
    indices = [i for p in folder.glob("episode_*") if (i := episode_index(p)) is not None]
    return max(indices, default=-1) + 1


def is_complete(path: Path) -> bool:
    """Whether an MCAP file ends with its footer's magic (closed by the writer)."""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            if stream.tell() < 2 * len(MCAP_MAGIC):
                return False
            stream.seek(-len(MCAP_MAGIC), os.SEEK_END)
            return stream.read() == MCAP_MAGIC
    except OSError:
        return False


def unfinished_episodes(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("episode_*.mcap") if episode_index(p) is not None and not is_complete(p))


@dataclass(frozen=True)
class Recovered:
    path: Path
    messages: int        # -1 when nothing could be recovered (the original is kept as .unfinished)
    detail: str


def recover_unfinished(folder: Path, image_topic: str | None = None) -> list[Recovered]:
    """Rewrite every unfinished episode of `folder` in place from its intact records."""
    from teleop_session.mcap_writer import recover

    results = []
    for path in unfinished_episodes(folder):
        original = path.with_name(path.name + UNFINISHED_SUFFIX)
        temporary = path.with_name(path.name + ".recovering")
        os.replace(path, original)
        try:
            result = recover(original, temporary, image_topic)
            os.replace(temporary, path)
            results.append(Recovered(path, result.messages, result.stopped_at or "complete"))
        except Exception as error:  # noqa: BLE001 - a file we cannot read or a full disk: keep the original
            temporary.unlink(missing_ok=True)
            results.append(Recovered(original, -1, f"{type(error).__name__}: {error}"))
    return results
