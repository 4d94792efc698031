"""Which person drives the robot: chosen once (largest, nearest or a given track id), then kept.

Switching people mid-motion would make the targets jump, so the chosen person is kept while seen;
each observation must also fit them (pose_retarget.identity: sizes, position continuity), else it
is not used (the arms hold), and after STRIKES such observations the track id is refused for good.  After a gap the operator may come back, under any track id,
within `lost_timeout_s` and near where they were last seen (`reacquired` is then set for one frame);
anyone else is refused until the timeout ends the operator's turn.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pose_retarget.config import OperatorConfig
from pose_retarget.identity import Measures, OperatorIdentity, measure
from teleop_common.layout import HAND_WRISTS, TORSO
from teleop_common.pose import PersonPose

STRIKES = 3    # observations of a track that do not fit the operator before that track is refused

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
    """Keeps one person across frames, by track id and by identity."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self.track_id: int | None = None
        self.identity = OperatorIdentity(config)
        self.reacquired = False          # this frame's operator came back after a gap under a new id
        self.refused = ""                # why the operator's track was refused (identity), if it was
        self._refused_ids: set[int] = set()
        self._strikes: dict[int, int] = {}
        self._last_seen_ns = 0
        scores: dict[str, Callable[[PersonPose], float]] = {"largest": _box_area, "nearest": _closeness}
        self._score = scores.get(config.selection)

    def reset(self) -> None:
        self.track_id = None
        self.identity.forget()
        self._refused_ids.clear()
        self._strikes.clear()
        self.refused = ""

    def _accept(self, person: PersonPose, measures: Measures | None, stamp_ns: int) -> PersonPose:
        self.track_id = person.track_id
        self._last_seen_ns = stamp_ns
        self.refused = ""
        if measures is not None:
            self.identity.observe(measures, stamp_ns)
        return person

    def select(self, people: Sequence[PersonPose], stamp_ns: int) -> PersonPose | None:
        """The operator in this frame, or None (not seen now; maybe still kept for later frames)."""
        self.reacquired = False
        if self.track_id is not None:
            for person in people:
                if person.track_id != self.track_id or person.track_id in self._refused_ids:
                    continue
                measures = measure(person)
                if measures is None:       # a pose held by the estimator, nothing observed: part of the gap
                    break
                why = self.identity.mismatch(measures, stamp_ns)
                if not why:
                    return self._accept(person, measures, stamp_ns)
                self._strike(person.track_id, why)
            if (stamp_ns - self._last_seen_ns) * 1e-9 <= self.config.lost_timeout_s:
                return self._reacquire(people, stamp_ns)
            self.reset()
        if self._score is None:
            candidates = [p for p in people if p.track_id == self.config.track_id]
        else:
            candidates = sorted(people, key=self._score, reverse=True)[:1]
        if not candidates:
            return None
        self.refused = ""
        return self._accept(candidates[0], measure(candidates[0]), stamp_ns)

    def _strike(self, track_id: int, why: str) -> None:
        self.refused = f"track {track_id} does not fit the operator: {why}"
        self._strikes[track_id] = self._strikes.get(track_id, 0) + 1
        if self._strikes[track_id] >= STRIKES:
            self._refused_ids.add(track_id)

    def _reacquire(self, people: Sequence[PersonPose], stamp_ns: int) -> PersonPose | None:
        """The operator back after a gap: someone that fits their identity near where they were."""
        fits = []
        for person in people:
            measures = measure(person)
            if (person.track_id in self._refused_ids or person.track_id == self.track_id or measures is None
                    or self.identity.position is None):   # the operator's own track was judged in select()
                continue
            why = self.identity.mismatch(measures, stamp_ns)
            if why:
                self._strike(person.track_id, why)
            else:
                fits.append((float(np.linalg.norm(measures.position - self.identity.position)), person, measures))
        if not fits:
            return None
        _, person, measures = min(fits, key=lambda fit: fit[0])
        self.reacquired = True
        self._refused_ids.add(self.track_id)   # its old id is done: it may not come back as someone else
        return self._accept(person, measures, stamp_ns)
