"""One-Euro filter (Casiez, Roussel, Vogel 2012) over whole keypoint arrays at once.

A low-pass filter whose cutoff rises with speed: still keypoints are smoothed hard (no jitter),
moving ones follow with little lag.  One instance filters one track's array of any shape; each
element has its own state, and an element that turns NaN (unobserved) restarts from its next
observation instead of being dragged from a stale value.
"""
from __future__ import annotations

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time: float | None = None

    def __call__(self, value: np.ndarray, t: float) -> np.ndarray:
        """Filtered copy of `value` observed at time `t` (seconds); NaN stays NaN."""
        if self._value is None or self._value.shape != value.shape or self._time is None or t <= self._time:
            self._start(value, t)
            return value.copy()
        dt = t - self._time
        fresh = np.isnan(self._value) & ~np.isnan(value)
        speed = (value - self._value) / dt
        speed = self._speed + _alpha(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(speed)
        out = self._value + _alpha(cutoff, dt) * (value - self._value)
        out[fresh] = value[fresh]
        speed[fresh] = 0.0
        self._value, self._speed, self._time = out, speed, t
        return out.copy()

    def _start(self, value: np.ndarray, t: float) -> None:
        self._value = value.astype(np.float64, copy=True)
        self._speed = np.zeros_like(self._value)
        self._time = t


class KeypointFilter:
    """One-Euro filters of one tracked person's (or hand's) keypoints: pixels in units of its crop side,
    so one parameter set suits near and far people alike, and metric points in metres."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self._pixels = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self._points = OneEuroFilter(min_cutoff, beta, d_cutoff)

    def pixels(self, pixels: np.ndarray, crop_side: float, t: float) -> np.ndarray:
        return self._pixels(pixels / crop_side, t) * crop_side

    def points(self, points: np.ndarray, t: float) -> np.ndarray:
        return self._points(points, t)
