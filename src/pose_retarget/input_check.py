"""Whole-frame checks of pose input, before anyone is chosen or mapped (no ROS).

A frame that breaks the message's contract (a track id twice, a confidence that is NaN or outside
[0, 1], a stamp from the future, a keypoint outside the physical range) is rejected whole: picking
the "right" person or keypoint out of a corrupted message could drive the robot from a wrong pose,
and NaN compares false with any threshold, so it would otherwise pass a `confidence < minimum` test.
The physical range also keeps float32 sane: at y = 1e30 every y rounds to the same value, so a
"pose" made of such numbers has arm lengths and directions that no person has.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from teleop_common.pose import PoseFrame

MAX_COORDINATE_M = 20.0            # |x|, |y|, |z| of any keypoint in the camera frame
DEPTH_RANGE_M = (0.1, 20.0)        # z of any keypoint: in front of the lens, within a room-sized scene


def _out_of_range(points: np.ndarray) -> str:
    """Why a (K, 3) keypoint array leaves the physical range ('' when it does not); NaN = undetected."""
    finite = np.isfinite(points)
    if np.any(~finite & ~np.isnan(points)):
        return "an infinite coordinate"
    if np.any(np.abs(points[finite]) > MAX_COORDINATE_M):
        return f"a coordinate beyond ±{MAX_COORDINATE_M:g} m"
    depth = points[:, 2][finite[:, 2]]
    low, high = DEPTH_RANGE_M
    if np.any((depth < low) | (depth > high)):
        return f"a depth outside {low:g}–{high:g} m"
    return ""


def frame_problem(frame: PoseFrame, now_ns: int, max_future_s: float) -> tuple[str, str] | None:
    """(kind, detail) of the first contract violation of `frame`, or None when it may be used."""
    ahead = (frame.stamp_ns - now_ns) * 1e-9
    if ahead > max_future_s:
        return "future_stamp", f"stamped {ahead:.3f} s ahead of this node's clock (tolerance {max_future_s} s)"
    repeated = sorted(track for track, count in Counter(p.track_id for p in frame.poses).items() if count > 1)
    if repeated:
        return "duplicate_track_id", f"track id(s) {repeated} appear more than once in one message"
    for person in frame.poses:
        confidence = np.asarray(person.confidence, dtype=float)
        if not np.all((confidence >= 0.0) & (confidence <= 1.0)):     # NaN fails both comparisons
            return "bad_confidence", f"track {person.track_id}: a confidence is NaN or outside [0, 1]"
        why = _out_of_range(np.asarray(person.points, dtype=np.float64))
        if why:
            return "keypoint_out_of_range", f"track {person.track_id}: {why}"
    return None
