"""Training frames from images, folders of images and videos, and the fixed-size letterbox."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from teleop_common.frame_sources import open_source, resolve_backend, rgb_frames


@dataclass(frozen=True)
class Frame:
    name: str            # "file" or "file#frame_index"
    rgb: np.ndarray      # (H, W, 3) uint8


def iter_frames(inputs: Sequence[str | Path], video_step: int = 1, max_frames: int | None = None) -> Iterator[Frame]:
    """Frames of every input in order (images, folders of images, videos: every `video_step`-th
    frame), read by the shared frame sources; stops after `max_frames`.  Raises CameraSourceError
    (unreadable input) or BadFrameError (an image of a folder that does not decode)."""
    count = 0
    for item in inputs:
        path = Path(item)
        step = video_step if resolve_backend(str(path)) == "file" else 1
        frames = rgb_frames(open_source(str(path)))
        for index, (name, rgb) in enumerate(frames):
            if index % step:
                continue
            yield Frame(name, rgb)
            count += 1
            if max_frames is not None and count >= max_frames:
                return


def letterbox(rgb: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into a (height, width) canvas, anchored top-left.

    Returns the canvas and the scale: canvas pixel = source pixel * scale.
    """
    scale = min(width / rgb.shape[1], height / rgb.shape[0])
    new_w, new_h = max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return canvas, scale
