"""Camera intrinsics for sensor_msgs/CameraInfo: from a calibration YAML or from a field of view."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from teleop_common.camera import CameraIntrinsics, projection, scale_rows
from teleop_common.config import ConfigError


@dataclass(frozen=True)
class Calibration:
    """Row-major K (9), D, R (9), P (12) for an image of width x height (ROS conventions)."""

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...] = ()
    r: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    p: tuple[float, ...] = ()
    distortion_model: str = "plumb_bob"

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float) -> Calibration:
        """Pinhole without distortion, square pixels, centred principal point, horizontal FOV."""
        k = CameraIntrinsics.from_fov(width, height, fov_deg).k
        return cls(width, height, k, d=(0.0,) * 5, p=projection(k))

    def scaled_to(self, width: int, height: int) -> Calibration:
        """The same camera for frames of another size (a calibration made at another resolution)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        p = scale_rows(self.p, 4, sx, sy) if self.p else ()
        return Calibration(width, height, scale_rows(self.k, 3, sx, sy), self.d, self.r, p, self.distortion_model)

    def to_msg(self, header: Header) -> CameraInfo:
        msg = CameraInfo(header=header, width=self.width, height=self.height, distortion_model=self.distortion_model)
        msg.k, msg.r = list(self.k), list(self.r)
        msg.d = list(self.d)
        msg.p = list(self.p or projection(self.k))
        return msg


def _matrix(document: dict, key: str, size: int | None, path: str) -> tuple[float, ...]:
    try:
        data = tuple(float(v) for v in document[key]["data"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError("calibration_file", path, f"a camera calibration YAML with '{key}: {{data: [...]}}'") from None
    if size is not None and len(data) != size:
        raise ConfigError("calibration_file", path, f"'{key}' with {size} numbers (got {len(data)})")
    return data


def load_calibration(path: str) -> Calibration:
    """Read a camera_calibration_parsers YAML (what ROS camera calibration writes)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError("calibration_file", path, "an existing camera calibration YAML")
    document = yaml.safe_load(file.read_text()) or {}
    try:
        width, height = int(document["image_width"]), int(document["image_height"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError("calibration_file", path, "a calibration YAML with image_width and image_height") from None
    return Calibration(width, height, _matrix(document, "camera_matrix", 9, path),
                       _matrix(document, "distortion_coefficients", None, path),
                       _matrix(document, "rectification_matrix", 9, path),
                       _matrix(document, "projection_matrix", 12, path),
                       str(document.get("distortion_model", "plumb_bob")))
