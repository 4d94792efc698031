"""Tracked hands and faces landmarked on a second thread while the body model runs.

A tracked part's crop comes from its own landmarks of the frame before, so it is known before the
body model runs; the body only decides afterwards whether that crop is still used (it must cover
the body's wrist or nose).  Starting those crops at the top of the frame overlaps the hand and face
models with the body model: the frame's wall time shrinks by the hands' and face's tracked round,
its outputs stay the same (the same model on the same crop of the same image; a crop asked for that
was not prefetched simply runs then).  Interpreters are not thread-safe: each landmarker waits for
its own prefetch before it runs again.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from whole_body_pose.experts.networks import join_rows, select_rows

Landmarker = Callable[[np.ndarray, np.ndarray], Any]  # (image, (N, 5) rois) -> a result of N rows


class PrefetchingLandmarker:
    """A landmarker whose calls on one image reuse the rows `start` computed in the background."""

    def __init__(self, landmarker: Landmarker, pool: ThreadPoolExecutor | None) -> None:
        self.landmarker = landmarker
        self._pool = pool
        self._image: np.ndarray | None = None
        self._rois = np.zeros((0, 5))
        self._job: Future | None = None

    def start(self, image: np.ndarray, rois: np.ndarray) -> None:
        """Landmark `rois` of `image` on the pool's thread (no pool: nothing is prefetched)."""
        self.finish()
        if self._pool is not None and len(rois):
            self._image, self._rois = image, rois
            self._job = self._pool.submit(self.landmarker, image, rois)

    def finish(self) -> Any:
        """Wait for the running prefetch (the landmarker is free again for any thread); its result, or None."""
        job, self._job = self._job, None
        return job.result() if job is not None else None

    def __call__(self, image: np.ndarray, rois: np.ndarray) -> Any:
        prefetched_image, prefetched_rois = self._image, self._rois
        prefetched = self.finish()
        self._image, self._rois = None, np.zeros((0, 5))
        if prefetched is None or image is not prefetched_image:
            return self.landmarker(image, rois)
        match = np.all(rois[:, None, :] == prefetched_rois[None, :, :], axis=2)  # (asked, prefetched)
        hit = match.any(axis=1)
        index = match.argmax(axis=1)
        if hit.all():
            return select_rows(prefetched, index)
        index[~hit] = len(prefetched_rois) + np.arange(int((~hit).sum()))
        return select_rows(join_rows(prefetched, self.landmarker(image, rois[~hit])), index)
