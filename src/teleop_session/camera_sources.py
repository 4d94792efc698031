"""Frame sources behind one small protocol: a video file, an image folder, a V4L2 webcam (no ROS).

`open_source` picks the backend from the configuration; every backend fails at open time with a
CameraSourceError that says what is wrong with the source (missing, unreadable, not decodable),
so a bad path stops the node at start-up instead of publishing nothing.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from teleop_common.config import ConfigError
from teleop_session.camera_config import CameraSourceConfig

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_DEVICE = re.compile(r"^/dev/video(\d+)$")


class CameraSourceError(ConfigError):
    """A camera source that cannot be opened or read; the message names the source and the reason."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__("source", source, "an existing, readable video file, image folder or /dev/videoN")
        self.reason = reason
        self.args = (f"camera source {source!r}: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


class BadFrameError(ValueError):
    """One frame of an otherwise working source could not be decoded (skipped and counted)."""


class FrameSource(Protocol):
    """Frames in OpenCV's BGR order; `read` returns None at the end of a finite source."""

    fps: float            # native rate, 0 when unknown
    paced: bool           # True when read() itself blocks at the device rate (live cameras)

    def read(self) -> np.ndarray | None: ...

    def rewind(self) -> None: ...

    def close(self) -> None: ...


def _readable_file(source: str) -> Path:
    path = Path(source)
    if not path.exists():
        raise CameraSourceError(source, "no such file or folder")
    if not os.access(path, os.R_OK):
        raise CameraSourceError(source, "permission denied (not readable by this user)")
    return path


class VideoFileSource:
    """A video file decoded by OpenCV's FFmpeg backend; the first frame is decoded at open time."""

    paced = False

    def __init__(self, source: str) -> None:
        self.source = source
        path = _readable_file(source)
        if not path.is_file():
            raise CameraSourceError(source, "not a regular file")
        if path.stat().st_size == 0:
            raise CameraSourceError(source, "file is empty")
        self._capture = self._open()
        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.fps = fps if np.isfinite(fps) and 0.0 < fps <= 1000.0 else 0.0
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self._capture.release()
            raise CameraSourceError(source, "no decodable video frame (corrupt file or unsupported codec)")
        self._first: np.ndarray | None = frame

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise CameraSourceError(self.source, "not a video OpenCV/FFmpeg can open (unknown container or corrupt file)")
        return capture

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        ok, frame = self._capture.read()
        return frame if ok else None

    def rewind(self) -> None:
        self._capture.release()
        self._capture = self._open()

    def close(self) -> None:
        self._capture.release()


class ImageFolderSource:
    """The images of a folder in name order; the first one must decode at open time."""

    paced = False
    fps = 0.0

    def __init__(self, source: str) -> None:
        self.source = source
        path = _readable_file(source)
        self._files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self._files:
            raise CameraSourceError(source, f"folder holds no image file ({', '.join(IMAGE_SUFFIXES)})")
        if cv2.imread(str(self._files[0]), cv2.IMREAD_COLOR) is None:
            raise CameraSourceError(source, f"first image {self._files[0].name} cannot be decoded")
        self._next = 0

    def read(self) -> np.ndarray | None:
        if self._next >= len(self._files):
            return None
        file = self._files[self._next]
        self._next += 1
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise BadFrameError(f"{file.name} cannot be decoded")
        return image

    def rewind(self) -> None:
        self._next = 0

    def close(self) -> None:
        self._files = []


class V4L2Source:
    """A V4L2 capture device (/dev/videoN) through OpenCV; read() blocks until the next frame."""

    paced = True

    def __init__(self, source: str, width: int = 0, height: int = 0, fps: float = 0.0) -> None:
        self.source = source
        match = _DEVICE.match(source)
        if match is None:
            raise CameraSourceError(source, "a V4L2 device is named /dev/videoN")
        _readable_file(source)
        self._capture = cv2.VideoCapture(int(match.group(1)), cv2.CAP_V4L2)
        if not self._capture.isOpened():
            raise CameraSourceError(source, "cannot open the V4L2 device (busy, or not a capture device)")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                            (cv2.CAP_PROP_FPS, fps)):
            if value:
                self._capture.set(prop, value)
        reported = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.fps = reported if np.isfinite(reported) and reported > 0 else 0.0

    def read(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise CameraSourceError(self.source, "the device stopped delivering frames (unplugged?)")
        return frame

    def rewind(self) -> None:
        """A live camera has nothing to rewind."""

    def close(self) -> None:
        self._capture.release()


def resolve_backend(source: str, backend: str) -> str:
    """The backend `auto` stands for, from the form of `source`."""
    if backend != "auto":
        return backend
    if _DEVICE.match(source):
        return "v4l2"
    return "folder" if Path(source).is_dir() else "file"


BACKENDS = {
    "file": lambda c: VideoFileSource(c.source),
    "folder": lambda c: ImageFolderSource(c.source),
    "v4l2": lambda c: V4L2Source(c.source, c.width, c.height, c.fps),
}


def open_source(config: CameraSourceConfig) -> FrameSource:
    """Open the configured source or raise CameraSourceError saying why it cannot be used."""
    if not config.source:
        raise CameraSourceError("", "no source given (set the 'source' parameter)")
    return BACKENDS[resolve_backend(config.source, config.backend)](config)
