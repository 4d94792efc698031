"""The newest camera frame, handed from the subscription callback to one worker thread (pure Python, no ROS).

A worker slower than the camera must drop frames; which ones decides the latency of those it
answers.  `newest` takes whatever frame waits when the worker is free: on average it has already
waited half a frame interval.  `fresh` (latency first) does not start on a frame that has waited
longer than half the camera's frame interval: the next frame is due sooner than that one has
waited, so the worker waits for it (at most until it is overdue, then takes the old one: a camera
that stops loses nothing).  Fewer frames are answered, each sooner after capture, and the CPU the
skipped frames would have taken is left to the rest of the chain.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

import numpy as np

Item = TypeVar("Item")
FRAME_POLICIES = ("fresh", "newest")
OVERDUE = 1.5       # frame intervals after the waiting frame's arrival: the next one is late, stop waiting
INTERVALS_KEPT = 15  # arrival intervals behind the camera period estimate (median: robust to one slow frame)


class FrameSlot(Generic[Item]):
    """One-frame mailbox: `put` replaces the waiting frame (returns True when one was dropped), `take`
    blocks for a frame by the policy; `close` releases a blocked `take`, which then returns None."""

    def __init__(self, policy: str, clock=time.monotonic) -> None:
        if policy not in FRAME_POLICIES:
            raise ValueError(f"frame policy {policy!r}: one of {FRAME_POLICIES}")
        self._fresh = policy == "fresh"
        self._clock = clock
        self._pending: tuple[Item, float] | None = None
        self._arrivals: deque[float] = deque(maxlen=INTERVALS_KEPT + 1)
        self._wake = threading.Condition()
        self._open = True
        self.stale_waits = 0  # takes that found a stale frame and waited for the next one

    def put(self, item: Item) -> bool:
        with self._wake:
            now = self._clock()
            self._arrivals.append(now)
            dropped = self._pending is not None
            self._pending = (item, now)
            self._wake.notify()
            return dropped

    def interval(self) -> float | None:
        """Median camera frame interval (s) over the recent arrivals; None until a few are seen."""
        if len(self._arrivals) < 4:
            return None
        return float(np.median(np.diff(self._arrivals)))

    def take(self) -> tuple[Item, float] | None:
        """The frame to work on and its arrival time (clock seconds), or None once closed."""
        with self._wake:
            while self._pending is None and self._open:
                self._wake.wait()
            if not self._open:
                return None
            interval = self.interval() if self._fresh else None
            if interval is not None and self._clock() - self._pending[1] > interval / 2:
                stale = self._pending
                self.stale_waits += 1
                deadline = stale[1] + OVERDUE * interval
                while self._pending is stale and self._open and (left := deadline - self._clock()) > 0:
                    self._wake.wait(left)
                if not self._open:
                    return None
            taken, self._pending = self._pending, None
            return taken

    def close(self) -> None:
        with self._wake:
            self._open = False
            self._wake.notify_all()
