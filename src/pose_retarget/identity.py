"""Is this still the person who engaged?  Checks beyond the track id (no ROS).

A track id only says that the pose estimator believes it follows one person; a newcomer where the
operator stood, a restarted estimator or a forged message can carry the same id.  So the operator
is also recognised by what a person keeps: shoulder width and body size (mid-shoulder to mid-hip,
both in metres), and where they are (the mid-shoulder point may move only so fast; depth, the
least sure axis of a monocular lift, gets DEPTH_NOISE of itself on top).  The reference
is the running median of the operator's own consistent observations.

The landmark model gives every body a near-canonical metric size (the figures measured on
../shared/media are in bench/operator_identity.py and the README): sizes tell people apart only
when they differ by more than that model's spread, so position continuity carries most of the
weight and a gap always holds the arms until the operator is back where they were.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pose_retarget.config import OperatorConfig
from teleop_common.layout import BODY, HAND_WRISTS, Part
from teleop_common.pose import PersonPose

POSITION_NOISE_M = 0.1   # frame-to-frame jitter of the lifted mid-shoulder point allowed on top of the speed
DEPTH_NOISE = 0.2        # depth from one camera is the least sure axis: this fraction of it is allowed on top
HALF_WIDTH_M = 0.25      # half the widest shoulders: a lone shoulder is at most this far from their middle
MIN_REFERENCE = 5        # observations before sizes are compared
RECENT = 5               # a track's last observations whose median sizes are compared with the operator's
_SHOULDERS = (BODY["left_shoulder"], BODY["right_shoulder"])
_HIPS = (BODY["left_hip"], BODY["right_hip"])


@dataclass(frozen=True)
class Measures:
    """One observation of a person: sizes in metres (NaN when not seen) and where they are."""

    shoulder_width: float
    body_size: float
    position: np.ndarray       # (3,) camera frame, m: mid-shoulder point (hand-only: mean of the wrists)
    slack_m: float = 0.0       # how far `position` may be from that point (one shoulder seen: half a width)


def measure(person: PersonPose, min_confidence: float) -> Measures | None:
    """The person's measures in this frame, or None when nothing of them was observed (a held pose).
    Sizes come only from keypoints of at least `min_confidence`: the pose node lowers the confidence of
    a collapsed body (a person turning sideways), whose squeezed shoulders say nothing about who it is."""
    points = np.asarray(person.points, dtype=np.float64)
    confidence = np.asarray(person.confidence, dtype=np.float64)
    if Part.BODY in person.present:
        shoulders, hips = points[list(_SHOULDERS)], points[list(_HIPS)]
        if np.all(np.isfinite(shoulders)):
            middle = shoulders.mean(axis=0)
            sure = bool(np.all(confidence[list(_SHOULDERS)] >= min_confidence))
            width = float(np.linalg.norm(shoulders[0] - shoulders[1])) if sure else float("nan")
            sure_hips = sure and np.all(np.isfinite(hips)) and np.all(confidence[list(_HIPS)] >= min_confidence)
            body = float(np.linalg.norm(middle - hips.mean(axis=0))) if sure_hips else float("nan")
            return Measures(width, body, middle)
        seen = shoulders[np.all(np.isfinite(shoulders), axis=1)]
        if len(seen):                        # one side cut off: where that shoulder is, give or take half a width
            return Measures(float("nan"), float("nan"), seen[0], HALF_WIDTH_M)
    if person.present & {Part.LEFT_HAND, Part.RIGHT_HAND}:
        wrists = points[list(HAND_WRISTS)]
        wrists = wrists[np.all(np.isfinite(wrists), axis=1)]
        if len(wrists):
            return Measures(float("nan"), float("nan"), wrists.mean(axis=0))
    return None


def _median(values: np.ndarray) -> float:
    """Median of the finite values (NaN when none): sorted in Python, as np.median costs ~50 us on a handful."""
    finite = sorted(v for v in values.tolist() if math.isfinite(v))
    n = len(finite)
    if not n:
        return float("nan")
    return finite[n // 2] if n % 2 else 0.5 * (finite[n // 2 - 1] + finite[n // 2])


def _relative_change(value: float, reference: float) -> float:
    if not (np.isfinite(value) and np.isfinite(reference) and reference > 0):
        return 0.0           # unknown on either side: no evidence either way
    return abs(value - reference) / reference


class OperatorIdentity:
    """The engaged person's reference measures, and whether an observation fits them."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self.forget()

    def forget(self) -> None:
        self._sizes: deque[tuple[float, float]] = deque(maxlen=self.config.identity_window)
        self.position: np.ndarray | None = None
        self.seen_ns: int | None = None

    def mismatch(self, recent: Sequence[Measures], stamp_ns: int) -> str:
        """Why a track whose last observations are `recent` (the newest, at `stamp_ns`, last) cannot
        be the operator ('' when it can): the median of its recent sizes off the operator's, or its
        newest position farther from the operator's last one than they can have moved.  Medians,
        because one frame's lifted size jitters by up to half (measured) while a few frames' do not."""
        c = self.config
        if len(self._sizes) >= MIN_REFERENCE and len(recent) >= RECENT:
            reference = np.array(self._sizes)
            mine = np.array([(m.shoulder_width, m.body_size) for m in recent])
            for column, name, limit in ((0, "shoulder width", c.max_shoulder_width_change),
                                        (1, "body size", c.max_body_size_change)):
                value, wanted = _median(mine[:, column]), _median(reference[:, column])
                change = _relative_change(value, wanted)
                if change > limit:
                    return f"{name} {value:.3f} m is {100 * change:.0f} % off the operator's {wanted:.3f} m"
        measures = recent[-1]
        if self.position is not None and self.seen_ns is not None:
            dt = max((stamp_ns - self.seen_ns) * 1e-9, 0.0)
            allowed = min(POSITION_NOISE_M + c.max_speed_mps * dt, c.reacquire_distance_m) + measures.slack_m
            sideways = float(np.linalg.norm(measures.position[:2] - self.position[:2]))
            depth = abs(float(measures.position[2] - self.position[2]))
            depth_allowed = allowed + DEPTH_NOISE * float(self.position[2])
            if sideways > allowed or depth > depth_allowed:
                return (f"{sideways:.2f} m aside and {depth:.2f} m in depth from where the operator was {dt:.2f} s "
                        f"before (at most {allowed:.2f} / {depth_allowed:.2f} m)")
        return ""

    def observe(self, measures: Measures, stamp_ns: int) -> None:
        self._sizes.append((measures.shoulder_width, measures.body_size))
        self.position, self.seen_ns = measures.position.copy(), stamp_ns
