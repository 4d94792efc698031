"""SSD anchor decoding and weighted non-maximum suppression of MediaPipe's BlazePose/palm detectors.

Anchors follow MediaPipe's SsdAnchorsCalculator with fixed anchor size (unit width/height),
anchor offset 0.5, one aspect ratio plus the interpolated scale (two anchors per layer); layers
that share a stride share a grid.  Boxes are decoded relative to the anchor centres, in units of
the detector's input size, and merged by score-weighted averaging (MediaPipe's WEIGHTED NMS).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def anchors(input_size: int, strides: tuple[int, ...]) -> np.ndarray:
    """(A, 2) anchor centres in [0, 1] for a square detector input."""
    centres = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = 2 * (j - i)
        cells = int(np.ceil(input_size / strides[i]))
        grid = (np.arange(cells) + 0.5) / cells
        yy, xx = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xx.ravel(), yy.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, per_cell, axis=0))
        i = j
    return np.concatenate(centres)


@dataclass
class Detections:
    """Detector output in the detector's normalised input frame ([0, 1] over its square input)."""

    scores: np.ndarray     # (D,)
    boxes: np.ndarray      # (D, 4) x0, y0, x1, y1
    keypoints: np.ndarray  # (D, K, 2)

    def __len__(self) -> int:
        return len(self.scores)


def decode(regressors: np.ndarray, logits: np.ndarray, anchor_xy: np.ndarray, input_size: int,
           num_keypoints: int, min_score: float) -> Detections:
    """Decode one image's (A, 4+2K) regressors and (A,) logits, keeping scores >= min_score."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = np.flatnonzero(scores >= min_score)
    reg = regressors[keep].astype(np.float64) / input_size
    centre = anchor_xy[keep]
    xy = reg[:, :2] + centre
    half = 0.5 * reg[:, 2:4]
    boxes = np.concatenate([xy - half, xy + half], axis=1)
    kps = reg[:, 4:4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2) + centre[:, None, :]
    return Detections(scores[keep], boxes, kps)


def _iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = np.prod(box[2:] - box[:2]) + area - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(dets: Detections, iou_threshold: float = 0.3, max_out: int = 64) -> Detections:
    """Greedy clustering by IoU; each cluster's box/keypoints are score-weighted, its score the best."""
    order = np.argsort(-dets.scores, kind="stable")
    scores, boxes, kps = [], [], []
    while order.size and len(scores) < max_out:
        top = order[0]
        iou = _iou_one(dets.boxes[top], dets.boxes[order])
        iou[0] = 1.0  # the top detection always joins its own cluster (even if degenerate)
        members = order[iou > iou_threshold]
        w = dets.scores[members]
        w = w / w.sum()
        scores.append(dets.scores[top])
        boxes.append(w @ dets.boxes[members])
        kps.append(np.tensordot(w, dets.keypoints[members], axes=1))
        order = order[iou <= iou_threshold]
    if not scores:
        k = dets.keypoints.shape[1]
        return Detections(np.zeros(0), np.zeros((0, 4)), np.zeros((0, k, 2)))
    return Detections(np.array(scores), np.stack(boxes), np.stack(kps))
