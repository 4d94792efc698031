"""sensor_msgs/Image and CompressedImage payloads -> RGB arrays, with precise rejection of bad ones.

Pure numpy/OpenCV on the message's fields, so it is tested without ROS and the node only maps
a BadImageError to a counted, rate-limited warning.
"""
from __future__ import annotations

import cv2
import numpy as np

# encoding -> (channels, conversion to RGB or None when already RGB)
_RAW_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
}
SUPPORTED_ENCODINGS = tuple(_RAW_ENCODINGS)
MAX_SIDE = 8192


class BadImageError(ValueError):
    """An image message that cannot be decoded; `kind` is a short label for diagnostics."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def decode_raw(encoding: str, width: int, height: int, step: int, data: bytes | memoryview | np.ndarray) -> np.ndarray:
    """Decode a raw Image into a contiguous (H, W, 3) uint8 RGB array."""
    if encoding not in _RAW_ENCODINGS:
        raise BadImageError("unsupported_encoding", f"encoding '{encoding}' not in {SUPPORTED_ENCODINGS}")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise BadImageError("bad_size", f"image size {width}x{height} outside 1..{MAX_SIDE}")
    channels, conversion = _RAW_ENCODINGS[encoding]
    if step < width * channels:
        raise BadImageError("bad_step", f"step {step} < width {width} x {channels} channels")
    buffer = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).reshape(-1)
    if buffer.size < step * height:
        raise BadImageError("truncated", f"{buffer.size} bytes < step {step} x height {height}")
    rows = buffer[: step * height].reshape(height, step)[:, : width * channels]
    image = rows.reshape(height, width, channels)
    if conversion is None:
        return np.ascontiguousarray(image)
    return cv2.cvtColor(image, conversion)


def decode_compressed(data: bytes | memoryview | np.ndarray) -> np.ndarray:
    """Decode a JPEG/PNG CompressedImage payload into RGB."""
    buffer = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).reshape(-1)
    if buffer.size == 0:
        raise BadImageError("empty", "compressed image has no data")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise BadImageError("undecodable", f"{buffer.size} bytes are not a JPEG/PNG image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
