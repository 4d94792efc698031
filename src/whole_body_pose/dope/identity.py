"""Stable track ids for a per-frame detector: each box takes the id of the previous frame's box it
overlaps most (greedy, best IoU first), or a new id.

DOPE estimates every frame on its own; without this its ids would be a per-frame rank and the
retargeting node's operator selection (which follows a track id) would jump between people.
"""
from __future__ import annotations

import numpy as np

from whole_body_pose.boxes import box_iou


class BoxIdentity:
    def __init__(self, min_iou: float = 0.3, max_missed: int = 5) -> None:
        self.min_iou = min_iou
        self.max_missed = max_missed          # frames an unseen id is kept for a returning person
        self._next_id = 1                     # never rewound, not even by reset(): ids are unique per run
        self.reset()

    def reset(self) -> None:
        self._boxes = np.zeros((0, 4))        # last box of each remembered id
        self._ids: list[int] = []
        self._missed: list[int] = []          # frames since each id was last seen

    def assign(self, boxes: np.ndarray) -> list[int]:
        """Ids for `boxes` (N, 4: x0, y0, x1, y1); boxes with NaN get fresh ids and are not kept."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        valid = np.isfinite(boxes).all(axis=1)
        overlap = box_iou(np.nan_to_num(boxes), self._boxes) if len(self._boxes) else np.zeros((len(boxes), 0))
        overlap[~valid] = 0.0
        ids: list[int | None] = [None] * len(boxes)
        taken: set[int] = set()
        for flat in np.argsort(-overlap, axis=None):
            row, col = np.unravel_index(flat, overlap.shape)
            if overlap[row, col] < self.min_iou:
                break
            if ids[row] is None and col not in taken:
                ids[row] = self._ids[col]
                taken.add(col)
        for row in range(len(boxes)):
            if ids[row] is None:
                ids[row], self._next_id = self._next_id, self._next_id + 1
        kept = [(self._boxes[col], self._ids[col], self._missed[col] + 1) for col in range(len(self._ids))
                if col not in taken and self._missed[col] + 1 <= self.max_missed]
        kept += [(boxes[row], ids[row], 0) for row in range(len(boxes)) if valid[row]]
        self._boxes = np.array([k[0] for k in kept]).reshape(-1, 4)
        self._ids = [k[1] for k in kept]
        self._missed = [k[2] for k in kept]
        return [int(i) for i in ids]
