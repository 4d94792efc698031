"""Is this still the person who engaged?  Checks beyond the track id (no ROS).

A track id only says that the pose estimator believes it follows one person; a newcomer where the
operator stood, a restarted estimator or a forged message can carry the same id.  So the operator
is also recognised by what a person keeps: shoulder width and body size (mid-shoulder to mid-hip,
both in metres), and where they are (the mid-shoulder point may move only so fast).  The reference
is the running median of the operator's own consistent observations.

The landmark model gives every body a near-canonical metric size (the figures measured on
../shared/media are in bench/operator_identity.py and the README): sizes tell people apart only
when they differ by more than that model's spread, so position continuity carries most of the
weight and a gap always holds the arms until the operator is back where they were.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from pose_retarget.config import OperatorConfig
from teleop_common.layout import BODY, HAND_WRISTS, Part
from teleop_common.pose import PersonPose

POSITION_NOISE_M = 0.1   # frame-to-frame jitter of the lifted mid-shoulder point allowed on top of the speed
HALF_WIDTH_M = 0.25      # half the widest shoulders: a lone shoulder is at most this far from their middle
MIN_REFERENCE = 5        # observations before sizes are compared
_SHOULDERS = (BODY["left_shoulder"], BODY["right_shoulder"])
_HIPS = (BODY["left_hip"], BODY["right_hip"])


@dataclass(frozen=True)
class Measures:
    """One observation of a person: sizes in metres (NaN when not seen) and where they are."""

    shoulder_width: float
    body_size: float
    position: np.ndarray       # (3,) camera frame, m: mid-shoulder point (hand-only: mean of the wrists)
    slack_m: float = 0.0       # how far `position` may be from that point (one shoulder seen: half a width)


def measure(person: PersonPose) -> Measures | None:
    """The person's measures in this frame, or None when nothing of them was observed (a held pose)."""
    points = np.asarray(person.points, dtype=np.float64)
    if Part.BODY in person.present:
        shoulders, hips = points[list(_SHOULDERS)], points[list(_HIPS)]
        if np.all(np.isfinite(shoulders)):
            middle = shoulders.mean(axis=0)
            body = float(np.linalg.norm(middle - hips.mean(axis=0))) if np.all(np.isfinite(hips)) else float("nan")
            return Measures(float(np.linalg.norm(shoulders[0] - shoulders[1])), body, middle)
        seen = shoulders[np.all(np.isfinite(shoulders), axis=1)]
        if len(seen):                        # one side cut off: where that shoulder is, give or take half a width
            return Measures(float("nan"), float("nan"), seen[0], HALF_WIDTH_M)
    if person.present & {Part.LEFT_HAND, Part.RIGHT_HAND}:
        wrists = points[list(HAND_WRISTS)]
        wrists = wrists[np.all(np.isfinite(wrists), axis=1)]
        if len(wrists):
            return Measures(float("nan"), float("nan"), wrists.mean(axis=0))
    return None


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

    def mismatch(self, measures: Measures, stamp_ns: int) -> str:
        """Why `measures` at `stamp_ns` cannot be the operator ('' when they can): a size off the
        reference, or a position farther from the last one than the operator can have moved."""
        c = self.config
        if len(self._sizes) >= MIN_REFERENCE:
            widths, bodies = np.array(self._sizes).T
            for name, value, reference, limit in (
                    ("shoulder width", measures.shoulder_width, np.nanmedian(widths) if np.isfinite(widths).any()
                     else np.nan, c.max_shoulder_width_change),
                    ("body size", measures.body_size, np.nanmedian(bodies) if np.isfinite(bodies).any()
                     else np.nan, c.max_body_size_change)):
                change = _relative_change(value, reference)
                if change > limit:
                    return f"{name} {value:.3f} m is {100 * change:.0f} % off the operator's {reference:.3f} m"
        if self.position is not None and self.seen_ns is not None:
            dt = max((stamp_ns - self.seen_ns) * 1e-9, 0.0)
            allowed = min(POSITION_NOISE_M + c.max_speed_mps * dt, c.reacquire_distance_m) + measures.slack_m
            moved = float(np.linalg.norm(measures.position - self.position))
            if moved > allowed:
                return f"{moved:.2f} m from where the operator was {dt:.2f} s before (at most {allowed:.2f} m)"
        return ""

    def observe(self, measures: Measures, stamp_ns: int) -> None:
        self._sizes.append((measures.shoulder_width, measures.body_size))
        self.position, self.seen_ns = measures.position.copy(), stamp_ns
