"""Pinhole intrinsics of the image the poses are measured in."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class CameraError(ValueError):
    """Intrinsics that cannot describe a pinhole camera (non-positive focal length or size)."""


@dataclass(frozen=True)
class CameraIntrinsics:
    """Focal lengths and principal point in pixels, for an image of `width` x `height`."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise CameraError(f"invalid focal lengths/principal point {values}")
        if self.width <= 0 or self.height <= 0:
            raise CameraError(f"invalid image size {self.width}x{self.height}")

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float) -> CameraIntrinsics:
        """Square pixels, centred principal point, `fov_deg` the horizontal field of view."""
        if not 0.0 < fov_deg < 180.0:
            raise CameraError(f"field of view must lie in (0, 180) degrees, got {fov_deg}")
        f = 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)
        return cls(f, f, width / 2.0, height / 2.0, int(width), int(height))

    def scaled_to(self, width: int, height: int) -> CameraIntrinsics:
        """The same camera for an image resized to `width` x `height` (e.g. CameraInfo of a full-size stream)."""
        sx, sy = width / self.width, height / self.height
        return CameraIntrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, int(width), int(height))

    def pixels_to_rays(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) pixels -> (..., 2) normalised image coordinates (x/z, y/z)."""
        return (pixels - np.array([self.cx, self.cy], pixels.dtype)) / np.array([self.fx, self.fy], pixels.dtype)
