"""Pinhole camera intrinsics: the one home for K, its scaling and the field-of-view default.

The pose estimator measures in it, the camera source publishes it as sensor_msgs/CameraInfo and the
pose node reads it back from CameraInfo's K, all through this module (no ROS types here).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


FOV_RANGE_DEG = (10.0, 170.0)   # a camera info whose focal lengths give another field of view is refused
MIN_INFO_PX = 16                # smallest camera info that may be rescaled to another image size


class CameraError(ValueError):
    """Intrinsics that cannot describe a pinhole camera (non-positive focal length or size)."""


def scale_rows(matrix: Sequence[float], columns: int, sx: float, sy: float) -> tuple[float, ...]:
    """A row-major K (3x3) or P (3x4) for an image resized by (sx, sy): diag(sx, sy, 1) @ matrix."""
    scaled = [float(v) for v in matrix]
    for i in range(columns):
        scaled[i] *= sx
        scaled[columns + i] *= sy
    return tuple(scaled)


def projection(k: Sequence[float]) -> tuple[float, ...]:
    """The row-major 3x4 P = [K | 0] of a monocular camera with camera matrix `k`."""
    return (*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0)


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

    @classmethod
    def from_k(cls, k: Sequence[float], width: int, height: int) -> CameraIntrinsics:
        """From a row-major 3x3 camera matrix (CameraInfo.k, a calibration's camera_matrix)."""
        if len(k) != 9:
            raise CameraError(f"a camera matrix has 9 numbers, got {len(k)}")
        return cls(float(k[0]), float(k[4]), float(k[2]), float(k[5]), int(width), int(height))

    def fov_deg(self) -> tuple[float, float]:
        """Horizontal and vertical field of view (degrees) the focal lengths give for the image size."""
        return (math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx))),
                math.degrees(2.0 * math.atan(self.height / (2.0 * self.fy))))

    def checked(self) -> CameraIntrinsics:
        """Itself, when it can be a real camera: each field of view within FOV_RANGE_DEG (fx = 1e-30
        or 1e30 gives 180 or 0 degrees); raises CameraError otherwise."""
        low, high = FOV_RANGE_DEG
        horizontal, vertical = self.fov_deg()
        if not (low <= horizontal <= high and low <= vertical <= high):
            raise CameraError(f"focal lengths fx={self.fx:g}, fy={self.fy:g} give a field of view of "
                              f"{horizontal:.3g} x {vertical:.3g} degrees for {self.width}x{self.height} "
                              f"(accepted: {low:g}-{high:g} degrees)")
        return self

    @property
    def k(self) -> tuple[float, ...]:
        """Row-major 3x3 camera matrix."""
        return (self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0)

    def scaled_to(self, width: int, height: int) -> CameraIntrinsics:
        """The same camera for an image resized to `width` x `height` (e.g. CameraInfo of a full-size stream).
        Refused below MIN_INFO_PX: a 1x1 info scaled to 640x480 turns pixel rounding into depth (1133 m seen)."""
        if min(self.width, self.height) < MIN_INFO_PX:
            raise CameraError(f"a {self.width}x{self.height} camera info is too small to rescale "
                              f"(at least {MIN_INFO_PX} px a side)")
        sx, sy = width / self.width, height / self.height
        return CameraIntrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, int(width), int(height))

    def pixels_to_rays(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) pixels -> (..., 2) normalised image coordinates (x/z, y/z)."""
        return (pixels - np.array([self.cx, self.cy], pixels.dtype)) / np.array([self.fx, self.fy], pixels.dtype)


def intrinsics_for(camera: CameraIntrinsics | None, width: int, height: int, fov_deg: float) -> CameraIntrinsics:
    """The intrinsics of a `width` x `height` image: `camera` (rescaled if it describes another
    resolution), else square pixels with the default horizontal field of view."""
    if camera is None:
        return CameraIntrinsics.from_fov(width, height, fov_deg)
    if (camera.width, camera.height) != (width, height):
        return camera.scaled_to(width, height)
    return camera
