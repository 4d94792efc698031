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


def _first(rows: np.ndarray) -> int | None:
    """Index of the first True row of a (P, ...) boolean array reduced per person, or None."""
    hits = np.flatnonzero(rows.reshape(len(rows), -1).any(axis=1))
    return int(hits[0]) if hits.size else None


def frame_problem(frame: PoseFrame, now_ns: int, max_future_s: float) -> tuple[str, str] | None:
    """(kind, detail) of the first contract violation of `frame`, or None when it may be used.
    Arrays of all people are checked at once: a message's cost must not grow by a Python loop per person."""
    ahead = (frame.stamp_ns - now_ns) * 1e-9
    if ahead > max_future_s:
        return "future_stamp", f"stamped {ahead:.3f} s ahead of this node's clock (tolerance {max_future_s} s)"
    repeated = sorted(track for track, count in Counter(p.track_id for p in frame.poses).items() if count > 1)
    if repeated:
        return "duplicate_track_id", f"track id(s) {repeated} appear more than once in one message"
    if not frame.poses:
        return None
    confidence = np.stack([np.asarray(p.confidence, np.float32) for p in frame.poses])
    bad = _first(~((confidence >= 0.0) & (confidence <= 1.0)))     # NaN fails both comparisons
    if bad is not None:
        return "bad_confidence", f"track {frame.poses[bad].track_id}: a confidence is NaN or outside [0, 1]"
    points = np.stack([np.asarray(p.points, np.float32) for p in frame.poses])
    low, high = DEPTH_RANGE_M
    with np.errstate(invalid="ignore"):                            # NaN (undetected) compares False: allowed
        checks = ((np.isinf(points), "an infinite coordinate"),
                  (np.abs(points) > MAX_COORDINATE_M, f"a coordinate beyond ±{MAX_COORDINATE_M:g} m"),
                  ((points[..., 2] < low) | (points[..., 2] > high), f"a depth outside {low:g}–{high:g} m"))
        for rows, why in checks:
            bad = _first(rows)
            if bad is not None:
                return "keypoint_out_of_range", f"track {frame.poses[bad].track_id}: {why}"
    return None
