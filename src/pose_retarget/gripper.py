"""Pinch -> gripper opening in [0, 1], with a dead band (hysteresis) and a rate limit.

The ratio thumb-tip/index-tip distance over hand size does not depend on the operator's hand
size or distance to the camera; the dead band keeps keypoint jitter from chattering the gripper.
"""
from __future__ import annotations

from pose_retarget.config import GripperConfig


class GripperFilter:
    def __init__(self, config: GripperConfig, opening: float = 1.0) -> None:
        self.config = config
        self.opening = opening   # commanded, after dead band and rate limit
        self._held = opening     # dead-band output, before the rate limit

    def update(self, pinch_ratio: float, dt: float) -> float:
        c = self.config
        band = c.hysteresis
        # Spread the ratio over [-band, 1 + band] so that the dead band can still reach 0 and 1.
        raw = (pinch_ratio - c.closed_ratio) / (c.open_ratio - c.closed_ratio) * (1.0 + 2.0 * band) - band
        if raw > self._held + band:
            self._held = raw - band
        elif raw < self._held - band:
            self._held = raw + band
        self._held = min(max(self._held, 0.0), 1.0)
        step = c.max_rate * dt
        self.opening += min(max(self._held - self.opening, -step), step)
        return self.opening

    def hold_at(self, opening: float) -> None:
        """The gripper was held (its arm failed a check): continue from where it really is."""
        self.opening = self._held = opening
