"""Core pose types shared by the estimator, the retargeter, the recorder and DOPE (no ROS)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from teleop_common.layout import LAYOUT_NAME, NUM_KEYPOINTS, PARTS, Part


def empty_keypoints() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels (K,2), points (K,3) as NaN and confidences (K,) as 0, for a layout-sized person."""
    return (np.full((NUM_KEYPOINTS, 2), np.nan, np.float32),
            np.full((NUM_KEYPOINTS, 3), np.nan, np.float32),
            np.zeros(NUM_KEYPOINTS, np.float32))


@dataclass
class PersonPose:
    """One person's whole-body pose in one image, in layout order (teleop_common.layout)."""

    track_id: int
    score: float
    box: np.ndarray                      # (4,) x_min, y_min, x_max, y_max in pixels
    pixels: np.ndarray                   # (K, 2) u, v in pixels
    points: np.ndarray                   # (K, 3) metres in the camera frame
    confidence: np.ndarray               # (K,) in [0, 1]
    present: frozenset[Part] = field(default_factory=frozenset)

    def part_points(self, part: Part) -> np.ndarray:
        return self.points[PARTS[part].slice]

    def part_pixels(self, part: Part) -> np.ndarray:
        return self.pixels[PARTS[part].slice]

    def part_confidence(self, part: Part) -> np.ndarray:
        return self.confidence[PARTS[part].slice]


@dataclass
class PoseFrame:
    """Everyone seen in one image, stamped and framed like the image."""

    stamp_ns: int
    frame_id: str
    poses: list[PersonPose]
    latency_ms: float = 0.0
    layout: str = LAYOUT_NAME
    stage_ms: dict[str, float] = field(default_factory=dict)  # estimator stages (teleop_common.timing), not sent

    def to_json(self) -> dict:
        """Plain-JSON form (same content as the ROS message) for the offline CLI."""
        def finite(a: np.ndarray) -> list:
            return np.where(np.isfinite(a), np.round(a.astype(np.float64), 5), None).tolist()
        return {
            "stamp_ns": self.stamp_ns, "frame_id": self.frame_id, "layout": self.layout,
            "inference_latency_ms": round(self.latency_ms, 3),
            "poses": [{
                "track_id": p.track_id, "score": round(float(p.score), 4), "box": finite(p.box),
                "parts": sorted(part.name.lower() for part in p.present),
                "pixels": finite(p.pixels), "points": finite(p.points),
                "confidence": np.round(p.confidence.astype(np.float64), 4).tolist(),
            } for p in self.poses],
        }
