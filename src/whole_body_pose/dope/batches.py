"""Training batches from the pseudo ground truth: image tensors plus padded per-part targets.

Augmentation is a random zoom/shift (keeps boxes axis-aligned, so targets move exactly with the
image) and a brightness/contrast change; instances pushed mostly out of the image are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from whole_body_pose.dope.parts import PART_NAMES
from whole_body_pose.dope.pseudo_gt import MIN_BOX_SIZE, PseudoGT

KEEP_VISIBLE = 0.5   # an augmented instance is kept while half of its box stays in the image


@dataclass
class PartTargets:
    """One part's instances for a batch, padded to G per image (`valid` marks real ones)."""

    boxes: Tensor    # (B, G, 4)
    valid: Tensor    # (B, G) bool
    pose2d: Tensor   # (B, G, J, 2)
    pose3d: Tensor   # (B, G, J, 3)
    conf: Tensor     # (B, G, J)
    conf3d: Tensor   # (B, G, J)
    label: Tensor    # (B, G) int64, 1-based anchor class
    soft: Tensor     # (B, G, K + 1)


@dataclass
class Batch:
    images: Tensor                    # (B, 3, H, W) float RGB in [0, 1]
    parts: dict[str, PartTargets]

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.images.to(device), {p: PartTargets(*(getattr(t, f).to(device) for f in t.__dataclass_fields__))
                                              for p, t in self.parts.items()})


def _augment(image: np.ndarray, rng: np.random.Generator, amount: float) -> tuple[np.ndarray, float, np.ndarray]:
    height, width = image.shape[:2]
    scale = float(np.exp(rng.uniform(-amount, amount)))
    shift = rng.uniform(-amount, amount, 2) * (width, height) + (1 - scale) * np.array([width, height]) / 2
    matrix = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]], np.float32)
    warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    gain, bias = rng.uniform(1 - amount, 1 + amount), rng.uniform(-20, 20) * amount / 0.2
    warped = np.clip(warped.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    return warped, scale, shift.astype(np.float32)


def make_batch(gt: PseudoGT, frames: np.ndarray, rng: np.random.Generator | None = None,
               augment: float = 0.0) -> Batch:
    """Batch of `frames` (indices into gt); `augment` is the zoom/shift/brightness amplitude (0 = off)."""
    height, width = gt.images.shape[1:3]
    images, moves = [], []
    for frame in frames:
        if augment > 0 and rng is not None:
            image, scale, shift = _augment(gt.images[frame], rng, augment)
        else:
            image, scale, shift = gt.images[frame], 1.0, np.zeros(2, np.float32)
        images.append(image)
        moves.append((scale, shift))
    parts = {}
    for part in PART_NAMES:
        inst = gt.parts[part]
        picked: list[list[tuple[int, np.ndarray, np.ndarray]]] = []
        for frame, (scale, shift) in zip(frames, moves):
            rows = []
            for i in np.flatnonzero(inst.frame == frame):
                box = inst.box[i] * scale + np.tile(shift, 2)
                clipped = np.clip(box, 0, [width, height, width, height])
                size = clipped[2:] - clipped[:2]
                if size.min() < MIN_BOX_SIZE or size.prod() < KEEP_VISIBLE * np.prod(box[2:] - box[:2]):
                    continue
                rows.append((i, clipped, inst.pose2d[i] * scale + shift))
            picked.append(rows)
        parts[part] = _pad(inst, picked, len(frames))
    tensor = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)
    return Batch(tensor, parts)


def _pad(inst, picked: list[list[tuple[int, np.ndarray, np.ndarray]]], batch: int) -> PartTargets:
    count = max(1, max(len(rows) for rows in picked))
    joints = inst.pose2d.shape[1]
    classes = inst.soft.shape[1]
    boxes = np.tile(np.array([0, 0, 1, 1], np.float32), (batch, count, 1))
    valid = np.zeros((batch, count), bool)
    pose2d = np.zeros((batch, count, joints, 2), np.float32)
    pose3d = np.zeros((batch, count, joints, 3), np.float32)
    conf = np.zeros((batch, count, joints), np.float32)
    conf3d = np.zeros((batch, count, joints), np.float32)
    label = np.zeros((batch, count), np.int64)
    soft = np.zeros((batch, count, classes), np.float32)
    for b, rows in enumerate(picked):
        for g, (i, box, p2d) in enumerate(rows):
            boxes[b, g], valid[b, g], pose2d[b, g] = box, True, p2d
            pose3d[b, g], conf[b, g], conf3d[b, g] = inst.pose3d[i], inst.conf[i], inst.conf3d[i]
            label[b, g], soft[b, g] = inst.label[i], inst.soft[i]
    return PartTargets(*(torch.from_numpy(a) for a in (boxes, valid, pose2d, pose3d, conf, conf3d, label, soft)))
