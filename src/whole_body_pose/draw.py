"""Skeleton overlay of a PoseFrame on its image (annotated-image topic, CLI previews, test figures)."""
from __future__ import annotations

import cv2
import numpy as np

from teleop_common.layout import PARTS, SKELETON_EDGES, Part
from teleop_common.pose import PoseFrame

_COLOURS = {Part.BODY: (255, 160, 0), Part.LEFT_HAND: (0, 220, 120), Part.RIGHT_HAND: (0, 160, 255),
            Part.FACE: (230, 230, 230)}  # RGB
_EDGES = np.array(SKELETON_EDGES)
_PART_OF = np.empty(max(p.slice.stop for p in PARTS.values()), np.int64)
for _part, _layout in PARTS.items():
    _PART_OF[_layout.slice] = _part
_EDGE_PART = np.maximum(_PART_OF[_EDGES[:, 0]], _PART_OF[_EDGES[:, 1]])  # joins take the hand's colour


def draw_poses(image_rgb: np.ndarray, frame: PoseFrame, min_confidence: float = 0.3) -> np.ndarray:
    """A copy of the image with each person's skeleton, box and track id drawn."""
    out = np.ascontiguousarray(image_rgb).copy()
    scale = max(1, round(max(out.shape[:2]) / 640))
    for pose in frame.poses:
        px = pose.pixels
        ok = np.isfinite(px).all(axis=1) & (pose.confidence >= min_confidence)
        use = ok[_EDGES[:, 0]] & ok[_EDGES[:, 1]]
        for (a, b), part in zip(_EDGES[use], _EDGE_PART[use]):
            pa, pb = (tuple(int(v) for v in np.round(px[i])) for i in (a, b))
            thickness = 2 * scale if part == Part.BODY else scale
            cv2.line(out, pa, pb, _COLOURS[Part(part)], thickness, cv2.LINE_AA)
        body = PARTS[Part.BODY].slice
        for x, y in np.round(px[body][ok[body]]).astype(np.int32):
            cv2.circle(out, (int(x), int(y)), 2 * scale, _COLOURS[Part.BODY], -1, cv2.LINE_AA)
        if np.isfinite(pose.box).all():
            x0, y0, x1, y1 = (int(round(v)) for v in pose.box)
            cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 0), scale)
            cv2.putText(out, f"#{pose.track_id}", (x0, max(12 * scale, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5 * scale, (255, 255, 0), scale, cv2.LINE_AA)
    return out
