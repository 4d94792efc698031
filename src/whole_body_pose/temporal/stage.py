"""The posebert temporal stage: wraps any estimator (experts or DOPE) and refines its poses per track.

Each person's 12 limb joints go through the body model and each hand's shape (wrist-relative,
left hands mirrored) through the hand model, all people and hands batched in one run per model.
The other body keypoints follow the refined joint they hang from (face points the shoulders,
body hand points the wrist, feet the ankle).  A frame in which the estimator missed a person or a
hand (it publishes a held pose with decaying confidence) is filled by the model instead of the hold.
Pixels are left as estimated: the models refine the metric 3D the robot follows.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from teleop_common.camera import CameraIntrinsics
from teleop_common.layout import BODY, PARTS, Part
from teleop_common.pose import PersonPose, PoseFrame
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.temporal.refiner import Streams
from whole_body_pose.temporal.skeleton import BODY_INDEX, mirror

_HANDS = (Part.LEFT_HAND, Part.RIGHT_HAND)
# Body keypoints that are not limb joints follow the delta of: shoulders' mean (-1) or a limb row.
_FOLLOW = {**{i: -1 for i in range(11)},
           **{BODY[f"{s}_{p}"]: (4 if s == "left" else 5) for s in ("left", "right") for p in ("pinky", "index", "thumb")},
           **{BODY[f"{s}_{p}"]: (10 if s == "left" else 11) for s in ("left", "right") for p in ("heel", "foot_index")}}


class TemporalStage:
    """An estimator whose output poses are refined by the posebert models."""

    def __init__(self, inner, config: PoseNodeConfig) -> None:
        self.inner = inner
        self.min_confidence = config.temporal.min_confidence
        backend = config.temporal_runtime()
        # one thread, fp32: small models beside the experts; the node's TensorRT settings still apply
        options = dataclasses.replace(config.runtime_options(), threads=1, fp16=False)
        self.body = Streams("body", backend, options)
        self.hands = Streams("hand", backend, options)

    def reset(self) -> None:
        self.inner.reset()
        self.body.forget(set())
        self.hands.forget(set())

    def process(self, image_rgb: np.ndarray, stamp_ns: int, frame_id: str,
                camera: CameraIntrinsics | None) -> PoseFrame:
        frame = self.inner.process(image_rgb, stamp_ns, frame_id, camera)
        started = time.perf_counter()
        self.refine(frame)
        refine_ms = (time.perf_counter() - started) * 1e3
        # the model's time belongs to the frame's "temporal" stage and its latency (diagnostics, bench)
        frame.stage_ms["temporal"] = frame.stage_ms.get("temporal", 0.0) + refine_ms
        frame.latency_ms += refine_ms
        return frame

    def __getattr__(self, name: str):  # counters and settings of the wrapped estimator
        return getattr(self.inner, name)

    def refine(self, frame: PoseFrame) -> None:
        """Replace each pose's metric limb joints and hand shapes by the models' current frame."""
        t = frame.stamp_ns * 1e-9
        people = {pose.track_id: pose for pose in frame.poses}
        hand_keys = []
        for tid, pose in people.items():
            seen = Part.BODY in pose.present
            points = pose.points[BODY_INDEX].astype(np.float64)
            valid = np.isfinite(points).all(axis=1) & (pose.confidence[BODY_INDEX] >= self.min_confidence)
            self.body.push(tid, t, points if seen else None, valid if seen else None)
            for part in _HANDS:
                hand = pose.points[PARTS[part].slice].astype(np.float64)
                if part not in pose.present and not self.hands.seen((tid, part)):
                    continue
                shape = hand[1:] - hand[:1]
                shape = mirror(shape) if part is Part.LEFT_HAND else shape
                ok = part in pose.present and np.isfinite(shape).all()
                self.hands.push((tid, part), t, shape if ok else None, np.ones(20, bool) if ok else None)
                hand_keys.append((tid, part))
        self.body.forget(set(people))
        self.hands.forget(set(hand_keys))
        bodies = self.body.refine(list(people))
        shapes = self.hands.refine(hand_keys)
        for tid, pose in people.items():
            wrist_delta = self._body(pose, bodies.get(tid))
            for part in _HANDS:
                if (tid, part) in shapes:
                    self._hand(pose, part, shapes[(tid, part)], wrist_delta.get(part, np.zeros(3)))

    @staticmethod
    def _body(pose: PersonPose, refined: np.ndarray | None) -> dict[Part, np.ndarray]:
        if refined is None:
            return {}
        points = pose.points.astype(np.float64)
        before = points[BODY_INDEX]
        delta = np.where(np.isfinite(before), refined - before, 0.0)
        for index, row in _FOLLOW.items():
            points[index] += delta[:2].mean(axis=0) if row < 0 else delta[row]
        points[BODY_INDEX] = refined
        pose.points = points.astype(np.float32)
        return {Part.LEFT_HAND: delta[4], Part.RIGHT_HAND: delta[5]}

    @staticmethod
    def _hand(pose: PersonPose, part: Part, shape: np.ndarray, wrist_delta: np.ndarray) -> None:
        sl = PARTS[part].slice
        wrist = pose.points[sl.start].astype(np.float64)
        if not np.isfinite(wrist).all():
            return
        shape = mirror(shape) if part is Part.LEFT_HAND else shape
        wrist = wrist + wrist_delta
        pose.points[sl] = np.concatenate([wrist[None], wrist + shape]).astype(np.float32)
