"""Pseudo ground truth: the part experts run once over the training frames, cached with the frames.

Each detected part becomes an instance: 2D pose in the letterboxed training image, 3D pose centred
on the part (metres), per-joint weights (the expert's confidence; 0 where it gave nothing), a box
around the confident joints, the expert's score, and after `attach_targets` the anchor class and
the soft targets the distillation loss uses.  The cache is one .npz of plain arrays
(`allow_pickle=False`), so it is safe to load and cheap to reuse between training runs.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from teleop_common.layout import PARTS, Part
from teleop_common.pose import PoseFrame
from whole_body_pose.dope.anchors import class_targets, fit_anchor_poses
from whole_body_pose.dope.frames import Frame, letterbox
from whole_body_pose.dope.parts import PART_NAMES, PartJoints

CACHE_VERSION = 1
BOX_MARGIN = 0.1          # box = tight box of the confident joints grown by 10 % of its size per side
BOX_MIN_CONF = 0.5        # joints the box is built from
MIN_BOX_SIZE = 4.0        # pixels in the training image

# Runs the experts on one full-resolution RGB frame (its index is the stamp).
Expert = Callable[[np.ndarray, int], PoseFrame]


class PseudoGTError(ValueError):
    """A cache file is unreadable, of another version, or does not match the network's joints."""


@dataclass
class PartInstances:
    """All instances of one part over the training frames (arrays share their first axis)."""

    frame: np.ndarray      # (N,) int64 index into the frames
    pose2d: np.ndarray     # (N, J, 2) float32 pixels of the training image
    pose3d: np.ndarray     # (N, J, 3) float32 metres, centred on the part
    conf: np.ndarray       # (N, J) float32 weight of each joint's 2D
    conf3d: np.ndarray     # (N, J) float32 weight of each joint's 3D
    box: np.ndarray        # (N, 4) float32
    score: np.ndarray      # (N,) float32
    right: np.ndarray      # (N,) bool, hands only
    label: np.ndarray | None = None   # (N,) int64 anchor class, 1-based
    soft: np.ndarray | None = None    # (N, K + 1) float32 soft targets

    def __len__(self) -> int:
        return len(self.frame)

    @staticmethod
    def empty(joints: int) -> "PartInstances":
        return PartInstances(np.zeros(0, np.int64), np.zeros((0, joints, 2), np.float32),
                             np.zeros((0, joints, 3), np.float32), np.zeros((0, joints), np.float32),
                             np.zeros((0, joints), np.float32), np.zeros((0, 4), np.float32),
                             np.zeros(0, np.float32), np.zeros(0, bool))


@dataclass
class PseudoGT:
    images: np.ndarray            # (F, H, W, 3) uint8 letterboxed training frames
    names: list[str]              # where each frame came from
    scales: np.ndarray            # (F,) training pixel = source pixel * scale
    parts: dict[str, PartInstances]
    joints: dict[str, PartJoints]
    anchors: dict[str, np.ndarray] | None = None   # (K, J, 5) per part, set by attach_targets
    anchor_request: dict[str, int] | None = None   # the anchor counts asked of attach_targets

    def save(self, path: str | Path) -> None:
        arrays = {"images": self.images, "scales": self.scales,
                  "meta": np.array(json.dumps({"version": CACHE_VERSION, "names": self.names,
                                               "joints": {p: j.to_meta() for p, j in self.joints.items()},
                                               "anchor_request": self.anchor_request}))}
        for part, inst in self.parts.items():
            for f in dataclasses.fields(inst):
                value = getattr(inst, f.name)
                if value is not None:
                    arrays[f"{part}.{f.name}"] = value
        for part, anchor_poses in (self.anchors or {}).items():
            arrays[f"anchors.{part}"] = anchor_poses
        tmp = Path(str(path) + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)

    @staticmethod
    def load(path: str | Path) -> "PseudoGT":
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("version") != CACHE_VERSION:
                    raise PseudoGTError(f"{path}: cache version {meta.get('version')}, expected {CACHE_VERSION}")
                joints = {p: PartJoints.from_meta(j) for p, j in meta["joints"].items()}
                parts = {}
                for part in PART_NAMES:
                    fields = {f.name: data[f"{part}.{f.name}"] for f in dataclasses.fields(PartInstances)
                              if f"{part}.{f.name}" in data}
                    parts[part] = PartInstances(**fields)
                anchors = {p: data[f"anchors.{p}"] for p in PART_NAMES if f"anchors.{p}" in data} or None
                return PseudoGT(data["images"], list(meta["names"]), data["scales"], parts, joints, anchors,
                                meta.get("anchor_request"))
        except (OSError, ValueError, KeyError) as error:
            if isinstance(error, PseudoGTError):
                raise
            raise PseudoGTError(f"{path}: not a readable pseudo ground-truth cache ({error})") from error


def part_box(pose2d: np.ndarray, conf: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """Box around the confident joints (all joints if fewer than two are), clipped; None if degenerate."""
    use = conf >= BOX_MIN_CONF
    if use.sum() < 2:
        use = conf > 0
    if use.sum() < 2:
        return None
    low, high = pose2d[use].min(0), pose2d[use].max(0)
    grow = BOX_MARGIN * (high - low)
    box = np.concatenate([np.maximum(low - grow, 0), np.minimum(high + grow, (width, height))]).astype(np.float32)
    if min(box[2] - box[0], box[3] - box[1]) < MIN_BOX_SIZE:
        return None
    return box


def _instance(pixels: np.ndarray, points: np.ndarray, confidence: np.ndarray, joints: PartJoints,
              scale: float, width: int, height: int) -> tuple[np.ndarray, ...] | None:
    """One part's arrays from layout-part keypoints (source pixels, camera-frame metres)."""
    index = np.asarray(joints.layout)
    mapped = index >= 0
    take = np.where(mapped, index, 0)
    pose2d = pixels[take] * scale
    conf = np.where(mapped & np.isfinite(pose2d).all(-1), np.clip(confidence[take], 0, 1), 0).astype(np.float32)
    pose2d = np.nan_to_num(pose2d).astype(np.float32)
    box = part_box(pose2d, conf, width, height)
    if box is None:
        return None
    points = points[take]
    finite3d = mapped & np.isfinite(points).all(-1)
    centre_joints = [c for c in joints.centre if finite3d[c]]
    if not centre_joints:
        pose3d, conf3d = np.zeros_like(points), np.zeros_like(conf)
    else:
        pose3d = np.nan_to_num(points - points[centre_joints].mean(0))
        conf3d = np.where(finite3d, conf, 0).astype(np.float32)
    return pose2d, pose3d.astype(np.float32), conf, conf3d, box


def collect(frames: Iterable[Frame], expert: Expert, width: int, height: int, joints: dict[str, PartJoints],
            progress: Callable[[Iterable], Iterable] = lambda it: it) -> PseudoGT:
    """Run the experts on every frame and keep their parts as training instances."""
    images, names, scales = [], [], []
    rows: dict[str, list[tuple]] = {p: [] for p in PART_NAMES}
    for index, frame in enumerate(progress(frames)):
        canvas, scale = letterbox(frame.rgb, width, height)
        images.append(canvas)
        names.append(frame.name)
        scales.append(scale)
        for person in expert(frame.rgb, index).poses:
            for part in sorted(person.present):
                name = {Part.BODY: "body", Part.LEFT_HAND: "hand", Part.RIGHT_HAND: "hand", Part.FACE: "face"}[part]
                sl = PARTS[part].slice
                inst = _instance(person.pixels[sl], person.points[sl], person.confidence[sl], joints[name],
                                 scale, width, height)
                if inst is not None:
                    rows[name].append((index, *inst, float(np.clip(person.score, 0, 1)), part == Part.RIGHT_HAND))
    if not images:
        raise PseudoGTError("no training frame")
    parts = {}
    for part in PART_NAMES:
        if not rows[part]:
            parts[part] = PartInstances.empty(joints[part].num_joints)
            continue
        cols = list(zip(*rows[part]))
        parts[part] = PartInstances(np.asarray(cols[0], np.int64), *(np.stack(c) for c in cols[1:6]),
                                    np.asarray(cols[6], np.float32), np.asarray(cols[7], bool))
    return PseudoGT(np.stack(images), names, np.asarray(scales, np.float32), parts, joints)


def attach_targets(gt: PseudoGT, num_anchor_poses: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Fit each part's anchor poses (hands: `num_anchor_poses['hand']` per side) and store them
    with every instance's anchor class and soft targets; returns the anchor poses (K, J, 5)."""
    anchors = {}
    for part in PART_NAMES:
        inst = gt.parts[part]
        sides = inst.right if part == "hand" else None
        anchors[part] = fit_anchor_poses(inst.pose2d, inst.pose3d, inst.box, num_anchor_poses[part], sides, seed)
        inst.label, inst.soft = class_targets(inst.pose3d, anchors[part], inst.score, sides)
    gt.anchors, gt.anchor_request = anchors, dict(num_anchor_poses)
    return anchors
