"""Anchor poses by k-means over the pseudo ground truth's 3D poses, and the class targets.

An anchor pose is (J, 5): the 2D pose in box-relative units (0..1 across the part's box) then the
part-centred 3D pose, both averaged over the members of one 3D cluster.  Hands are clustered in
the right-hand frame (left hands mirrored) and the classes are the K right anchors followed by
their K mirror images (left), the convention of the public models.
"""
from __future__ import annotations

import numpy as np

HAND_SIDES = 2


def mirror(anchor_poses: np.ndarray) -> np.ndarray:
    """Left/right mirror image of poses (..., J, 5): u -> 1 - u in the box, x -> -x in 3D."""
    out = anchor_poses.copy()
    out[..., 0] = 1.0 - out[..., 0]
    out[..., 2] = -out[..., 2]
    return out


def box_relative(pose2d: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """2D poses (N, J, 2) in units of their boxes (N, 4)."""
    size = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6)
    return (pose2d - boxes[:, None, :2]) / size[:, None]


def kmeans(points: np.ndarray, k: int, iterations: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Centres (k', D) and assignments (N,) with k-means++ seeding; k' <= k distinct centres."""
    rng = np.random.default_rng(seed)
    unique = np.unique(points, axis=0)
    k = max(1, min(k, len(unique)))
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        dist = np.min(((points[:, None] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(points[rng.choice(len(points), p=dist / dist.sum())] if dist.sum() > 0 else unique[len(centres)])
    centres = np.asarray(centres, np.float64)
    assign = np.zeros(len(points), np.int64)
    for _ in range(iterations):
        assign = np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        moved = np.array([points[assign == c].mean(0) if np.any(assign == c) else centres[c] for c in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    return centres, assign


def fit_anchor_poses(pose2d: np.ndarray, pose3d: np.ndarray, boxes: np.ndarray, k: int,
                     is_right: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Anchor poses (K, J, 5) for one part from its instances (2D pixels, centred 3D, boxes).

    `is_right` marks hands; the result then has 2K classes (right anchors, then mirrored left).
    With no instance at all a single neutral anchor is returned, so the part still has a
    classifier (it will only ever learn background).
    """
    joints = pose2d.shape[1]
    if len(pose2d) == 0:
        neutral = np.zeros((1, joints, 5), np.float32)
        neutral[..., :2] = 0.5
        return np.concatenate([neutral, neutral]) if is_right is not None else neutral
    poses = np.concatenate([box_relative(pose2d, boxes), pose3d], axis=-1)
    if is_right is not None:
        poses = np.where(is_right[:, None, None], poses, mirror(poses))
    _, assign = kmeans(poses[..., 2:].reshape(len(poses), -1), k, seed=seed)
    anchors = np.stack([poses[assign == c].mean(0) for c in np.unique(assign)]).astype(np.float32)
    return np.concatenate([anchors, mirror(anchors)]) if is_right is not None else anchors


def class_distances(pose3d: np.ndarray, anchor_poses: np.ndarray, is_right: np.ndarray | None = None) -> np.ndarray:
    """Mean per-joint 3D distance (N, K) of each instance to each anchor; inf for the wrong hand side."""
    dist = np.linalg.norm(pose3d[:, None] - anchor_poses[None, :, :, 2:], axis=-1).mean(-1)
    if is_right is not None:
        half = anchor_poses.shape[0] // HAND_SIDES
        right_class = np.arange(anchor_poses.shape[0]) < half
        dist = np.where(is_right[:, None] == right_class[None], dist, np.inf)
    return dist


def class_targets(pose3d: np.ndarray, anchor_poses: np.ndarray, scores: np.ndarray,
                  is_right: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hard classes (N,), 1-based (0 is background), and soft targets (N, K + 1).

    The soft target spreads the expert's confidence over anchors by 3D similarity,
    softmax(-d^2 / tau) with tau the median squared distance to the nearest anchor (so it adapts
    to the part's scale), and gives background 1 - confidence.
    """
    count, k = len(pose3d), anchor_poses.shape[0]
    if count == 0:
        return np.zeros(0, np.int64), np.zeros((0, k + 1), np.float32)
    dist = class_distances(pose3d, anchor_poses, is_right)
    hard = np.argmin(dist, axis=1) + 1
    nearest = dist.min(axis=1)
    tau = max(float(np.median(nearest ** 2)), 1e-8)
    logits = -(dist ** 2) / tau
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=1, keepdims=True)
    confidence = np.clip(scores, 0.0, 1.0)[:, None]
    soft = np.concatenate([1.0 - confidence, confidence * weights], axis=1).astype(np.float32)
    return hard.astype(np.int64), soft
