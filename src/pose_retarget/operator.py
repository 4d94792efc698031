"""Which person drives the robot: chosen once (largest, nearest or a given track id), then kept.

Switching people mid-motion would make the targets jump, so the chosen track is kept while it
is seen and for `lost_timeout_s` after; only then may another person be chosen.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pose_retarget.config import OperatorConfig
from teleop_common.layout import HAND_WRISTS, TORSO
from teleop_common.pose import PersonPose


def _box_area(person: PersonPose) -> float:
    box = np.asarray(person.box, dtype=float)
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    return float(area) if np.isfinite(area) else 0.0


def _closeness(person: PersonPose) -> float:
    """Negative median torso depth (camera z; the hands' wrists without a torso), larger is nearer."""
    for keypoints in (list(TORSO), list(HAND_WRISTS)):   # hand-only people have no torso
        depth = person.points[keypoints, 2]
        depth = depth[np.isfinite(depth) & (depth > 0)]
        if depth.size:
            return -float(np.median(depth))
    return -np.inf


class OperatorSelector:
    """Keeps one person's track id across frames."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self.track_id: int | None = None
        self._last_seen_ns = 0
        scores: dict[str, Callable[[PersonPose], float]] = {"largest": _box_area, "nearest": _closeness}
        self._score = scores.get(config.selection)

    def reset(self) -> None:
        self.track_id = None

    def select(self, people: Sequence[PersonPose], stamp_ns: int) -> PersonPose | None:
        """The operator in this frame, or None (not seen now; maybe still kept for later frames)."""
        if self.track_id is not None:
            for person in people:
                if person.track_id == self.track_id:
                    self._last_seen_ns = stamp_ns
                    return person
            if (stamp_ns - self._last_seen_ns) * 1e-9 <= self.config.lost_timeout_s:
                return None
            self.track_id = None
        if self._score is None:
            candidates = [p for p in people if p.track_id == self.config.track_id]
        else:
            candidates = sorted(people, key=self._score, reverse=True)[:1]
        if not candidates:
            return None
        self.track_id = candidates[0].track_id
        self._last_seen_ns = stamp_ns
        return candidates[0]
