"""Merging overlapping pose proposals into detections, by 2D overlap, 3D similarity and score.

Many proposals land on one part.  Greedily from the best score, a detection absorbs the remaining
proposals of the same part (and hand side) whose boxes overlap it (IoU) and whose centred 3D poses
are similar (mean joint distance relative to the pose's own size); its pose and box are the
score-weighted means of the group, which averages out each proposal's regression noise, and its
score the best of the group.  Proposals that overlap it even more (`suppress_iou`) but disagree
in 3D are outvoted: they are dropped rather than becoming a second detection of the same part.
Overlap is measured on the regions the network scored (trained to fit the experts' part boxes,
built from their confident joints), not on pose extents, which joints the experts were unsure of
(legs outside the image) would inflate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from whole_body_pose.boxes import box_iou
from whole_body_pose.dope.anchors import HAND_SIDES

@dataclass
class Detection:
    """One detected part, in pixels of the network input: box, pose, centred 3D, score, hand side."""

    part: str
    score: float
    box: np.ndarray         # (4,)
    pose2d: np.ndarray      # (J, 2)
    pose3d: np.ndarray      # (J, 3)
    right: bool = False     # hands only


@dataclass(frozen=True)
class MergeSettings:
    min_score: float = 0.5       # proposals below are dropped
    iou: float = 0.3             # region overlap that makes two proposals one detection
    similarity_3d: float = 0.5   # mean 3D joint distance over the pose's RMS radius below which poses agree
    suppress_iou: float = 0.3    # region overlap above which a lower-scoring proposal is dropped


def merge_part(part: str, rois: np.ndarray, scores: np.ndarray, labels: np.ndarray, pose2d: np.ndarray,
               pose3d: np.ndarray, num_classes: int, settings: MergeSettings) -> list[Detection]:
    """Detections of one part from its N proposals (regions (N, 4), scores (N,), 0-based anchor
    labels (N,), poses)."""
    keep = np.flatnonzero(scores >= settings.min_score)
    if len(keep) == 0:
        return []
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    right = labels[keep] < num_classes // HAND_SIDES if part == "hand" else np.zeros(len(keep), bool)
    boxes = rois[keep]
    centred = pose3d[keep] - pose3d[keep].mean(axis=1, keepdims=True)
    radius = np.sqrt((centred ** 2).sum(-1).mean(-1))
    ious = box_iou(boxes, boxes)
    free = np.ones(len(keep), bool)
    detections = []
    for i in range(len(keep)):
        if not free[i]:
            continue
        distance = np.linalg.norm(centred - centred[i], axis=-1).mean(-1)
        iou = ious[i]
        same = free & (right == right[i])
        group = same & (iou >= settings.iou) & (distance <= settings.similarity_3d * max(radius[i], 1e-6))
        group[i] = True
        free &= ~(group | (same & (iou >= settings.suppress_iou)))
        members = keep[group]
        weight = scores[members] / scores[members].sum()
        detections.append(Detection(part, float(scores[members].max()),
                                    np.tensordot(weight, rois[members], axes=1).astype(np.float32),
                                    np.tensordot(weight, pose2d[members], axes=1).astype(np.float32),
                                    np.tensordot(weight, pose3d[members], axes=1).astype(np.float32),
                                    bool(right[i])))
    return detections
