"""Detector runs on the parts thread instead of inside the frame that asks.

Two searches do not need their answer in the frame that starts them:
  - the periodic look for newcomers (schedule.py: person and palm detectors while people are
    tracked): a newcomer joins a frame later (33 ms at 30 Hz), within the `detect_every_n_frames`
    wait it has anyway;
  - the palm search around a lost hand's wrist (parts.py): its palm crop is tried the next frame,
    as it was when the frame's search budget ran out.
Each costs about as much as the body model; run inside the frame, they were its latency tail.  The
next frame applies the run.  A detector that must run now (something was lost) first waits for its
background runs, whose results are kept: interpreters are not thread-safe.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from whole_body_pose.experts.networks import Detector, ImageDetections


class BackgroundDetector:
    """A detector that can also run on the pool's thread, one run per `tag` at a time; each run's
    detections are taken once."""

    def __init__(self, detector: Detector, pool: ThreadPoolExecutor | None) -> None:
        self.detector = detector
        self._pool = pool
        self._jobs: dict[str, Future] = {}
        self._done: dict[str, ImageDetections] = {}

    @property
    def background(self) -> bool:
        """Whether `start` runs in the background (else the caller runs the detector itself)."""
        return self._pool is not None

    def start(self, tag: str, image: np.ndarray, regions: np.ndarray, min_score: float) -> bool:
        """Run in the background under `tag` (False, nothing started, without a pool)."""
        if self._pool is None:
            return False
        self._wait(tag)
        self._jobs[tag] = self._pool.submit(self.detector, image, regions, min_score)
        return True

    def _wait(self, *tags: str) -> None:
        for tag in tags or list(self._jobs):
            job = self._jobs.pop(tag, None)
            if job is not None:
                self._done[tag] = job.result()

    def take(self, tag: str) -> ImageDetections | None:
        """The run's detections (once; waits for it to finish), or None when none ran.  Taken by the
        next frame, a run started in this one has had the rest of the frame: the wait is short, and
        outputs do not depend on thread timing."""
        self._wait(tag)
        return self._done.pop(tag, None)

    def discard(self) -> None:
        """Wait for the background runs and forget them (estimator reset)."""
        self._wait()
        self._done.clear()

    def __call__(self, image: np.ndarray, regions: np.ndarray, min_score: float) -> ImageDetections:
        self._wait()
        return self.detector(image, regions, min_score)
