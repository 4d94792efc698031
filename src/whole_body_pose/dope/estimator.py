"""The `dope` estimator of the pose node: one network instead of the expert cascade.

`DopeEstimator.process(image_rgb, stamp_ns, frame_id, camera) -> PoseFrame` like the experts'
pipeline: the image is letterboxed to the network's input, the network runs (ONNX file on a
registered inference runtime, or a checkpoint in torch), proposals are merged per part, the pose
module joins hands and faces to bodies, and each part's metric 3D is placed in the camera frame
with the experts' helpers (`whole_body_pose.lift`): the body by the translation that reprojects it,
attached hands and faces at the depth of their body's wrist / head, lone parts on their own.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from teleop_common.camera import CameraIntrinsics, intrinsics_for
from teleop_common.layout import PARTS, Part
from teleop_common.pose import PersonPose, PoseFrame, empty_keypoints
from whole_body_pose import lift
from whole_body_pose.config import DopeConfig, PoseNodeConfig
from whole_body_pose.dope.export import read_spec
from whole_body_pose.dope.frames import letterbox
from whole_body_pose.dope.identity import BoxIdentity
from whole_body_pose.dope.loading import load_network
from whole_body_pose.dope.merge import Detection, MergeSettings
from whole_body_pose.dope.network import OUTPUT_NAMES, DopeNet, NetSpec, with_proposals
from whole_body_pose.dope.parts import PART_NAMES
from whole_body_pose.dope.pose_module import WholeBody, assemble
from whole_body_pose.dope.postprocess import detections as merged_detections
from whole_body_pose.models import INPUT_NAME, resolve_model_dir
from whole_body_pose.pipeline import check_image
from whole_body_pose.runtime import RuntimeOptions, open_session

DEFAULT_MODEL = "dope.onnx"


class DopeModel(Protocol):
    """A DOPE network behind any runtime: a letterboxed image batch in, named outputs out."""

    spec: NetSpec
    width: int
    height: int

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


class TorchModel:
    """A checkpoint run in torch (CPU, or CUDA with optional FP16)."""

    def __init__(self, net: DopeNet, width: int, height: int, device: str = "cpu", fp16: bool = False) -> None:
        self.spec, self.width, self.height = net.spec, width, height
        self.device = torch.device(device)
        self.half = fp16 and self.device.type == "cuda"
        self.net = (net.half() if self.half else net).to(self.device).eval()

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        tensor = torch.from_numpy(images).to(self.device)
        with torch.inference_mode():
            outputs = self.net(tensor.half() if self.half else tensor)
        return {name: out.float().cpu().numpy() if out.is_floating_point() else out.cpu().numpy()
                for name, out in zip(OUTPUT_NAMES, outputs)}


class RuntimeModel:
    """An exported ONNX file on a registered inference runtime (onnxruntime, tensorrt)."""

    def __init__(self, path: str | Path, runtime: str, options: RuntimeOptions) -> None:
        self.spec, self.width, self.height = read_spec(path)
        self.session = open_session(runtime, path, options)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return self.session.run({INPUT_NAME: images})


def open_model(config: PoseNodeConfig, model_dir: str | Path) -> DopeModel:
    """The configured DOPE model (`config.dope`) on the configured runtime."""
    dope = config.dope
    path = Path(dope.model) if dope.model else Path(model_dir) / DEFAULT_MODEL
    if config.runtime == "torch":
        device = "cuda" if torch.cuda.is_available() else "cpu"
        net = with_proposals(load_network(path), dope.num_proposals)
        return TorchModel(net, dope.input_width, dope.input_height, device, config.fp16)
    return RuntimeModel(path, config.runtime, config.runtime_options())


def merge_settings(config: DopeConfig) -> dict[str, MergeSettings]:
    scores = {"body": config.body_score, "hand": config.hand_score, "face": config.face_score}
    return {p: MergeSettings(scores[p], config.merge_iou, config.merge_similarity_3d, config.suppress_iou)
            for p in PART_NAMES}


class DopeEstimator:
    """Whole-body poses of everyone in an image from one DOPE network."""

    def __init__(self, model: DopeModel, merge: dict[str, MergeSettings], default_fov_deg: float = 60.0) -> None:
        self.model = model
        self.merge = merge
        self.default_fov_deg = default_fov_deg
        self.identity = BoxIdentity()

    def infer(self, image_rgb: np.ndarray) -> tuple[list[WholeBody], float]:
        """Assembled detections in network-input pixels, and the letterbox scale."""
        image_rgb = check_image(image_rgb)
        canvas, scale = letterbox(image_rgb, self.model.width, self.model.height)
        images = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)
        found = merged_detections(self.model(images), self.model.spec, self.merge)
        return assemble(found, self.model.spec.joints), scale

    def reset(self) -> None:
        """Forget the track ids (every frame is otherwise estimated on its own)."""
        self.identity.reset()

    def process(self, image_rgb: np.ndarray, stamp_ns: int, frame_id: str,
                camera: CameraIntrinsics | None = None) -> PoseFrame:
        started = time.monotonic()
        people, scale = self.infer(image_rgb)
        height, width = image_rgb.shape[:2]
        camera = intrinsics_for(camera, width, height, self.default_fov_deg)
        poses = [self._person(0, person, scale, camera) for person in people]
        for pose, track_id in zip(poses, self.identity.assign(np.array([p.box for p in poses]))):
            pose.track_id = track_id
        return PoseFrame(stamp_ns, frame_id, poses, latency_ms=(time.monotonic() - started) * 1e3)

    def _person(self, track_id: int, person: WholeBody, scale: float, camera: CameraIntrinsics) -> PersonPose:
        pixels, points, confidence = empty_keypoints()
        joints = self.model.spec.joints
        present, boxes = set(), []
        body_points: np.ndarray | None = None
        parts = ((Part.BODY, person.body, "body"), (Part.LEFT_HAND, person.left_hand, "hand"),
                 (Part.RIGHT_HAND, person.right_hand, "hand"), (Part.FACE, person.face, "face"))
        for part, found, name in parts:
            if found is None:
                continue
            index = np.asarray(joints[name].layout)
            mapped = index >= 0
            if not mapped.any():
                continue
            px = found.pose2d / scale
            placed = self._place(part, found, px, body_points, camera)
            if part is Part.BODY:
                body_points = placed
            target = PARTS[part].start + index[mapped]
            pixels[target] = px[mapped]
            confidence[target] = found.score
            if placed is not None:
                points[target] = placed[mapped]
            present.add(part)
            boxes.append(found.box / scale)
        box = np.concatenate([np.min(boxes, 0)[:2], np.max(boxes, 0)[2:]]) if boxes else np.full(4, np.nan)
        return PersonPose(track_id, person.score, box.astype(np.float32), pixels, points, confidence, frozenset(present))

    def _place(self, part: Part, found: Detection, px: np.ndarray, body_points: np.ndarray | None,
               camera: CameraIntrinsics) -> np.ndarray | None:
        """The part's centred 3D moved into the camera frame (None where it cannot be solved)."""
        joints = self.model.spec.joints
        anchor = {Part.LEFT_HAND: "left_wrist", Part.RIGHT_HAND: "right_wrist", Part.FACE: "head"}.get(part)
        if anchor is not None and body_points is not None:
            depth = float(body_points[joints["body"].joint(anchor), 2])
            if np.isfinite(depth) and depth > lift.MIN_DEPTH:
                if part is Part.FACE:   # place the face's centre (its 3D origin) at the head's depth
                    centre = px.mean(axis=0, keepdims=True)
                    return lift.place_hand(np.vstack([np.zeros((1, 3)), found.pose3d]), np.vstack([centre, px]),
                                           depth, camera)[1:].astype(np.float32)
                return lift.place_hand(found.pose3d, px, depth, camera).astype(np.float32)
        root = lift.solve_translation(found.pose3d.astype(np.float64), px, np.ones(len(px)), camera)
        return None if root is None else (found.pose3d + root).astype(np.float32)


def build_dope_estimator(config: PoseNodeConfig) -> DopeEstimator:
    """The estimator for the pose node's configuration (`PoseNodeConfig` with estimator `dope`)."""
    model = open_model(config, resolve_model_dir(config.model_dir or None))
    return DopeEstimator(model, merge_settings(config.dope), config.default_fov_deg)
