"""Which person drives the robot: chosen once (largest, nearest or a given track id), then kept.

Switching people mid-motion would make the targets jump, so the chosen person is kept while seen;
each observation must also fit them (pose_retarget.identity: the median sizes of the track's last
frames, position continuity), else it is not used (the arms hold), and after STRIKES such frames in a
row the track id is refused for good.  After a gap the operator may come back, under any track id: a
track first seen again within `reacquire_timeout_s` of the operator's last sighting, then for
identity.RECENT frames in a row near where they were, with their sizes (`reacquired` is then set
for that frame).  Anyone else, or anyone later, is refused, and `lost_timeout_s` after the last
sighting the operator's turn ends (the retargeter disengages).  The time limit is what tells two
adults of similar build at one place apart: the landmark model gives everyone nearly the same
metric size (bench/operator_identity.py), while nobody can leave a spot and let someone else step
into it within a few tenths of a second.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from pose_retarget.config import OperatorConfig
from pose_retarget.identity import RECENT, Measures, OperatorIdentity, measure
from teleop_common.layout import HAND_WRISTS, TORSO
from teleop_common.pose import PersonPose

STRIKES = 3    # observations in a row of a track that do not fit the operator before that track is refused


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

    def __init__(self, config: OperatorConfig, min_confidence: float) -> None:
        self.config = config
        self.min_confidence = min_confidence   # keypoints below it (input.min_confidence) size no one
        self.track_id: int | None = None
        self.identity = OperatorIdentity(config)
        self.reacquired = False          # this frame's operator came back after a gap under another id
        self.refused = ""                # why a track was last refused as the operator, if it was
        self._refused_ids: set[int] = set()
        self._strikes: dict[int, int] = {}
        self._recent: dict[int, deque[Measures]] = {}   # each track's last observations (this frame's tracks)
        self._since: dict[int, int] = {}                 # when each was first seen in its current run of frames
        self._last_seen_ns = 0
        scores: dict[str, Callable[[PersonPose], float]] = {"largest": _box_area, "nearest": _closeness}
        self._score = scores.get(config.selection)

    def reset(self) -> None:
        self.track_id = None
        self.identity.forget()
        self._refused_ids.clear()
        self._strikes.clear()
        self._recent, self._since = {}, {}
        self.refused = ""

    def select(self, people: Sequence[PersonPose], stamp_ns: int) -> PersonPose | None:
        """The operator in this frame, or None (not seen now; maybe still kept for later frames)."""
        self.reacquired = False
        self._remember(people, stamp_ns)
        if self.track_id is not None:
            person = next((p for p in people if p.track_id == self.track_id), None)
            if person is not None and self.track_id not in self._refused_ids and self.track_id in self._recent:
                why = self._late(self.track_id) or self.identity.mismatch(self._recent[self.track_id], stamp_ns)
                if not why:
                    return self._accept(person, stamp_ns)
                self._strike(self.track_id, why)
            if (stamp_ns - self._last_seen_ns) * 1e-9 <= self.config.lost_timeout_s:
                return self._reacquire(people, stamp_ns)
            self.reset()
        if self._score is None:
            candidates = [p for p in people if p.track_id == self.config.track_id]
        else:
            candidates = sorted(people, key=self._score, reverse=True)[:1]
        if not candidates:
            return None
        return self._accept(candidates[0], stamp_ns)

    def _remember(self, people: Sequence[PersonPose], stamp_ns: int) -> None:
        """Add this frame's observations to each track's recent ones (a held pose observes nothing)."""
        recent: dict[int, deque[Measures]] = {}
        since: dict[int, int] = {}
        for person in people:
            measures = measure(person, self.min_confidence)
            if measures is not None:
                recent[person.track_id] = self._recent.get(person.track_id, deque(maxlen=RECENT))
                recent[person.track_id].append(measures)
                since[person.track_id] = self._since.get(person.track_id, stamp_ns)
        self._recent, self._since = recent, since

    def _late(self, track_id: int) -> str:
        """Why a track seen again after a gap comes too late to be the operator ('' when it does not)."""
        gap = (self._since[track_id] - self._last_seen_ns) * 1e-9
        if self.identity.seen_ns is not None and gap > self.config.reacquire_timeout_s:
            return f"first seen {gap:.2f} s after the operator (at most operator.reacquire_timeout_s)"
        return ""

    def _accept(self, person: PersonPose, stamp_ns: int) -> PersonPose:
        self.track_id = person.track_id
        self._last_seen_ns = stamp_ns
        self.refused = ""
        self._strikes.pop(person.track_id, None)
        if person.track_id in self._recent:
            self.identity.observe(self._recent[person.track_id][-1], stamp_ns)
        return person

    def _strike(self, track_id: int, why: str) -> None:
        self.refused = f"track {track_id} does not fit the operator: {why}"
        self._strikes[track_id] = self._strikes.get(track_id, 0) + 1
        if self._strikes[track_id] >= STRIKES:
            self._refused_ids.add(track_id)

    def _reacquire(self, people: Sequence[PersonPose], stamp_ns: int) -> PersonPose | None:
        """The operator back after a gap: a track that fits their identity near where they were, over
        its last RECENT frames.  Until then the arms hold."""
        fits = []
        for person in people:
            recent = self._recent.get(person.track_id)
            if (person.track_id in self._refused_ids or person.track_id == self.track_id or recent is None
                    or self.identity.position is None):   # the operator's own track was judged in select()
                continue
            why = self._late(person.track_id) or self.identity.mismatch(recent, stamp_ns)
            if why:
                self._strike(person.track_id, why)
            elif len(recent) >= RECENT:
                fits.append((float(np.linalg.norm(recent[-1].position - self.identity.position)), person))
        if not fits:
            return None
        person = min(fits, key=lambda fit: fit[0])[1]
        self.reacquired = True
        self._refused_ids.add(self.track_id)   # its old id is done: it may not come back as someone else
        return self._accept(person, stamp_ns)
