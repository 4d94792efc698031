"""The periodic look for newcomers, run on the parts thread instead of inside the frame that asks.

While people are tracked, the person and palm detectors only look for someone new (schedule.py).
Each costs about as much as the body model; run inside the frame, they were its latency tail.  On
the second thread the frame goes on at once, and the first frame that finds the run done applies
it: a newcomer joins a frame or two later (33-66 ms at 30 Hz), within the `detect_every_n_frames`
wait it has anyway.  A detector that must run now (something was lost, a palm search) first waits
for its background run, whose result is kept: interpreters are not thread-safe.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from whole_body_pose.experts import Detector, ImageDetections


class BackgroundDetector:
    """A detector that can also run on the pool's thread; its results are taken once, when done."""

    def __init__(self, detector: Detector, pool: ThreadPoolExecutor | None) -> None:
        self.detector = detector
        self._pool = pool
        self._job: Future | None = None
        self._done: ImageDetections | None = None

    def start(self, image: np.ndarray, regions: np.ndarray, min_score: float) -> bool:
        """Run in the background (False, nothing started, without a pool: the caller runs it now)."""
        if self._pool is None:
            return False
        self._wait()
        self._job = self._pool.submit(self.detector, image, regions, min_score)
        return True

    def _wait(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            self._done = job.result()

    def take_done(self) -> ImageDetections | None:
        """The finished background run's detections (once), or None while it runs or when none ran."""
        if self._job is not None and self._job.done():
            self._wait()
        done, self._done = self._done, None
        return done

    def discard(self) -> None:
        """Wait for a background run and forget it (estimator reset)."""
        self._wait()
        self._done = None

    def __call__(self, image: np.ndarray, regions: np.ndarray, min_score: float) -> ImageDetections:
        self._wait()
        return self.detector(image, regions, min_score)
