"""Running figures for diagnostics and summaries (pure Python, no ROS)."""
from __future__ import annotations

from collections import Counter, deque

import numpy as np


class RollingStats:
    """Latency percentiles and rate over the last `window` events."""

    def __init__(self, window: int = 300) -> None:
        self._values: deque[float] = deque(maxlen=window)
        self._times: deque[float] = deque(maxlen=window)

    def add(self, value: float, time_s: float) -> None:
        self._values.append(value)
        self._times.append(time_s)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self._values, q)) if self._values else float("nan")

    def rate_hz(self) -> float:
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])


class EventCounter(Counter):
    """Counts of named events (dropped frames, bad images, safety holds by reason...)."""

    def as_strings(self) -> dict[str, str]:
        return {key: str(value) for key, value in sorted(self.items())}
