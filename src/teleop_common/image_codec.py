"""sensor_msgs/Image and CompressedImage payloads <-> arrays, with precise rejection of bad ones.

The one codec of the project: the pose node decodes with it, and so do the session report and the
LeRobot export (recorded JPEGs); the camera node and the episode recorder encode JPEG with it (the
recorder needs nothing from the perception package).

Pure numpy/OpenCV on the message's fields, so it is tested without ROS and the node only maps
a BadImageError to a counted, rate-limited warning.  A compressed payload's size is read from its
header (PNG IHDR, JPEG SOF) before decoding: a small file can claim a huge image, and decoding it
would stall the node and take gigabytes.
"""
from __future__ import annotations

import struct

import cv2
import numpy as np

from teleop_common.text import printable

# encoding -> (channels, conversion to RGB or None when already RGB)
_RAW_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
}
SUPPORTED_ENCODINGS = tuple(_RAW_ENCODINGS)
MIN_SIDE = 16                 # the estimator's smallest useful image
MAX_SIDE = 8192
MAX_PIXELS = 4096 * 4096      # decoded size a compressed image may claim (48 MiB of RGB)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length field (TEM, RSTn)


class BadImageError(ValueError):
    """An image message that cannot be decoded; `kind` is a short label for diagnostics."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def check_size(width: int, height: int, max_pixels: int | None = None) -> None:
    """BadImageError("bad_size") unless MIN_SIDE <= sides <= MAX_SIDE (and width x height <= max_pixels)."""
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise BadImageError("bad_size", f"image size {width}x{height} outside {MIN_SIDE}..{MAX_SIDE} px per side")
    if max_pixels is not None and width * height > max_pixels:
        raise BadImageError("bad_size", f"image size {width}x{height} exceeds {max_pixels} pixels")


def decode_raw(encoding: str, width: int, height: int, step: int, data: bytes | memoryview | np.ndarray) -> np.ndarray:
    """Decode a raw Image into a contiguous (H, W, 3) uint8 RGB array."""
    if encoding not in _RAW_ENCODINGS:
        raise BadImageError("unsupported_encoding", f"encoding {printable(encoding)} not in {SUPPORTED_ENCODINGS}")
    check_size(width, height)
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


def compressed_size(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) read from a PNG or JPEG header, without decoding the pixels."""
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise BadImageError("undecodable", "PNG without an IHDR header")
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"\xff\xd8"):
        at = 2
        while at + 4 <= len(data):
            if data[at] != 0xFF:
                raise BadImageError("undecodable", f"JPEG marker expected at byte {at}")
            marker = data[at + 1]
            if marker == 0xFF:  # fill byte
                at += 1
                continue
            if marker in _JPEG_STANDALONE:
                at += 2
                continue
            if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
                break
            length = struct.unpack(">H", data[at + 2:at + 4])[0]
            if marker in _JPEG_SOF:
                if at + 9 > len(data):
                    break
                height, width = struct.unpack(">HH", data[at + 5:at + 9])
                return "jpeg", width, height
            at += 2 + length
        raise BadImageError("undecodable", "JPEG without a frame header (SOF)")
    raise BadImageError("undecodable", f"{len(data)} bytes are neither PNG nor JPEG")


def decode_compressed(data: bytes | memoryview | np.ndarray, max_pixels: int = MAX_PIXELS,
                      bgr: bool = False) -> np.ndarray:
    """Decode a JPEG/PNG CompressedImage payload into RGB (BGR with `bgr`, for OpenCV drawing and video),
    refusing images whose header claims too much."""
    buffer = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).reshape(-1)
    if buffer.size == 0:
        raise BadImageError("empty", "compressed image has no data")
    _, width, height = compressed_size(buffer[:65536].tobytes())
    check_size(width, height, max_pixels)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise BadImageError("undecodable", f"{buffer.size} bytes are not a JPEG/PNG image")
    if image.shape[:2] not in ((height, width), (width, height)):  # the header lied (EXIF rotation is fine)
        raise BadImageError("undecodable", f"decoded {image.shape[1]}x{image.shape[0]}, header says {width}x{height}")
    return image if bgr else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_jpeg(bgr: np.ndarray, quality: int) -> bytes:
    """A BGR frame as JPEG bytes (what CompressedImage 'jpeg' carries)."""
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise BadImageError("jpeg", f"JPEG encoding failed for a {bgr.shape} frame")
    return jpeg.tobytes()

