"""Whole-frame checks of pose input, before anyone is chosen or mapped (no ROS).

A frame that breaks the message's contract (a track id twice, a confidence that is NaN or outside
[0, 1], a stamp from the future) is rejected whole: picking the "right" person or keypoint out of a
corrupted message could drive the robot from a wrong pose, and NaN compares false with any
threshold, so it would otherwise pass a `confidence < minimum` test.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from teleop_common.pose import PoseFrame


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
    return None
