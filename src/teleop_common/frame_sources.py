"""Frames from a video file, an image folder (or one image) or a V4L2 webcam, behind one protocol.

The one reader of image/folder/video input: the camera node, the estimator CLI, the DOPE trainer and
the demo all open their input here, with one list of image suffixes.  `open_source` picks the
backend from the form of the source; every backend fails at open time with a CameraSourceError that
says what is wrong with it (missing, unreadable, not decodable), so a bad path stops a node or a
command at start-up instead of producing nothing.  No ROS.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from teleop_common.config import ConfigError

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
    count: int            # frames in a finite source, 0 when unknown (live cameras)
    name: str             # the last frame read: "file" or "file#index"

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
        self.count = max(int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self._path_name, self._index, self.name = path.name, -1, ""
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
        else:
            ok, frame = self._capture.read()
            if not ok:
                return None
        self._index += 1
        self.name = f"{self._path_name}#{self._index}"
        return frame

    def rewind(self) -> None:
        self._capture.release()
        self._capture = self._open()
        self._index = -1

    def close(self) -> None:
        self._capture.release()


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


class ImageFolderSource:
    """The images of a folder in name order (or one image file); the first one must decode at open time."""

    paced = False
    fps = 0.0

    def __init__(self, source: str) -> None:
        self.source = source
        path = _readable_file(source)
        if path.is_file():
            self._files = [path]
        else:
            self._files = sorted(p for p in path.iterdir() if is_image_file(p) and p.is_file())
        self.count, self.name = len(self._files), ""
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
        self.name = file.name
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
    count = 0

    def __init__(self, source: str, width: int = 0, height: int = 0, fps: float = 0.0) -> None:
        self.source, self.name = source, source
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


def resolve_backend(source: str, backend: str = "auto") -> str:
    """The backend `auto` stands for, from the form of `source` (an image file reads as a folder of one)."""
    if backend != "auto":
        return backend
    if _DEVICE.match(source):
        return "v4l2"
    path = Path(source)
    return "folder" if path.is_dir() or is_image_file(path) else "file"


def open_source(source: str, backend: str = "auto", width: int = 0, height: int = 0, fps: float = 0.0) -> FrameSource:
    """Open `source` or raise CameraSourceError saying why it cannot be used; width, height and fps
    are requests to a V4L2 device."""
    if not source:
        raise CameraSourceError("", "no source given (set the 'source' parameter)")
    kind = resolve_backend(source, backend)
    if kind == "v4l2":
        return V4L2Source(source, width, height, fps)
    return ImageFolderSource(source) if kind == "folder" else VideoFileSource(source)


def rgb_frames(source: FrameSource) -> Iterator[tuple[str, np.ndarray]]:
    """(name, RGB image) of every frame until the end of `source`, which is then closed."""
    try:
        while (frame := source.read()) is not None:
            yield source.name, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        source.close()
