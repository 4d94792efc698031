"""The part experts (MediaPipe's detectors and landmark models) behind batched, image-level calls.

Each expert takes the full image and N regions, crops them into one batch, runs one inference
call and returns its outputs mapped back to image pixels (and metres for world landmarks), so the
pipeline never sees tensor coordinates.  Post-processing follows MediaPipe 0.10.21's graphs
(heat-map refinement of body landmarks, sigmoid activations, world-landmark rotation).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from whole_body_pose.experts import roi, ssd
from whole_body_pose.experts.crops import CropBatch
from whole_body_pose.models import ModelInfo
from whole_body_pose.runtime import InferenceSession


def select_rows(result: Any, index: np.ndarray) -> Any:
    """The rows `index` of a landmark result (a dataclass whose fields hold one row per crop)."""
    return type(result)(*(getattr(result, f.name)[index] for f in dataclasses.fields(result)))


def join_rows(first: Any, second: Any) -> Any:
    """`second`'s rows after `first`'s (two results of one landmark model)."""
    return type(first)(*(np.concatenate([getattr(first, f.name), getattr(second, f.name)])
                         for f in dataclasses.fields(first)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _Expert:
    """A session plus the crop buffers for its input size."""

    def __init__(self, session: InferenceSession, info: ModelInfo, zero_border: bool = False) -> None:
        self.session = session
        self.size = info.input_size[0]
        self.crops = CropBatch(self.size, info.input_range, zero_border)
        self.input_name = session.input_names[0]

    def infer(self, image: np.ndarray, rois: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Outputs of the model on the ROIs' crops, and the (N, 2, 3) tensor->image affines."""
        affines = roi.tensor_to_image(rois, self.size)
        return self.session.run({self.input_name: self.crops(image, affines)}), affines


# --- body -----------------------------------------------------------------------------------------

@dataclass
class BodyResult:
    presence: np.ndarray    # (N,) probability that a person fills the crop
    pixels: np.ndarray      # (N, 33, 2) image pixels
    visibility: np.ndarray  # (N, 33)
    world: np.ndarray       # (N, 33, 3) metres, hip-centred, image-aligned axes
    auxiliary: np.ndarray   # (N, 2, 2) points that define the next frame's crop


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = 9,
                        min_confidence: float = 0.5) -> np.ndarray:
    """MediaPipe's heat-map refinement: (N, K, 2) crop-normalised points, (N, h, w, K) heat-map logits.

    Each point moves to the sigmoid-weighted mean of the kernel around its heat-map cell, when the
    kernel's peak is confident.  MediaPipe's quirks are kept on purpose (cell index, not centre, as
    the coordinate; the row is not bounded above) since the models' accuracy was measured with them.
    The graph says kernel 7, but 0.10.21's binary behaves as 9: with 9 our body landmarks agree with
    mp.solutions.holistic to 0.02-0.12 px mean on messi5 and Megamind frames (7: 0.2-1.2 px).
    """
    n, hm_h, hm_w, k = heatmap.shape
    col = np.trunc(xy[..., 0] * hm_w).astype(np.int64)
    row = np.trunc(xy[..., 1] * hm_h).astype(np.int64)
    inside = (col >= 0) & (col < hm_w) & (row >= 0)
    off = np.arange(kernel) - (kernel - 1) // 2
    cols = col[..., None, None] + off[None, None, None, :]          # (N, K, 1, k)
    rows = row[..., None, None] + off[None, None, :, None]          # (N, K, k, 1)
    valid = (cols >= 0) & (cols < hm_w) & (rows >= 0) & (rows < hm_h) & inside[..., None, None]
    cc, rr = np.clip(cols, 0, hm_w - 1), np.clip(rows, 0, hm_h - 1)
    ni = np.arange(n)[:, None, None, None]
    ki = np.arange(k)[None, :, None, None]
    conf = np.where(valid, _sigmoid(heatmap[ni, rr, cc, ki]), 0.0)   # (N, K, k, k)
    total = conf.sum(axis=(2, 3))
    refine = (conf.max(axis=(2, 3)) >= min_confidence) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    out = xy.copy()
    out[..., 0] = np.where(refine, (conf * cols).sum(axis=(2, 3)) / hm_w / safe, xy[..., 0])
    out[..., 1] = np.where(refine, (conf * rows).sum(axis=(2, 3)) / hm_h / safe, xy[..., 1])
    return out


class BodyLandmarker(_Expert):
    """BlazePose full: 33 body landmarks (+2 auxiliary) and metric world landmarks per crop."""

    def __call__(self, image: np.ndarray, rois: np.ndarray) -> BodyResult:
        out, affines = self.infer(image, rois)
        n = len(rois)
        raw = out["landmarks"].reshape(n, 39, 5)
        xy = refine_from_heatmap(raw[..., :2] / self.size, out["heatmap"]) * self.size
        pixels = roi.project(xy, affines)
        world = roi.rotate_xy(out["world_landmarks"].reshape(n, 39, 3)[:, :33].astype(np.float64), rois[:, roi.ROT])
        return BodyResult(presence=out["presence"].reshape(n).astype(np.float64), pixels=pixels[:, :33],
                          visibility=_sigmoid(raw[:, :33, 3].astype(np.float64)), world=world,
                          auxiliary=pixels[:, 33:35])


# --- hands ----------------------------------------------------------------------------------------

@dataclass
class HandResult:
    presence: np.ndarray    # (N,)
    pixels: np.ndarray      # (N, 21, 2)
    world: np.ndarray       # (N, 21, 3) metres, image-aligned axes, origin near the hand centre
    handedness: np.ndarray  # (N,) the model's handedness score (see hand_only.RIGHT_HAND_SCORE)


class HandLandmarker(_Expert):
    def __call__(self, image: np.ndarray, rois: np.ndarray) -> HandResult:
        out, affines = self.infer(image, rois)
        n = len(rois)
        pixels = roi.project(out["landmarks"].reshape(n, 21, 3)[..., :2].astype(np.float64), affines)
        world = roi.rotate_xy(out["world_landmarks"].reshape(n, 21, 3).astype(np.float64), rois[:, roi.ROT])
        return HandResult(presence=out["presence"].reshape(n).astype(np.float64), pixels=pixels, world=world,
                          handedness=out["handedness"].reshape(n).astype(np.float64))


# --- face -----------------------------------------------------------------------------------------

@dataclass
class FaceResult:
    presence: np.ndarray  # (N,)
    pixels: np.ndarray    # (N, 468, 2)
    depth: np.ndarray     # (N, 468) relative depth in image pixels (same scale as x), + = away


class FaceLandmarker(_Expert):
    def __call__(self, image: np.ndarray, rois: np.ndarray) -> FaceResult:
        out, affines = self.infer(image, rois)
        n = len(rois)
        raw = out["landmarks"].reshape(n, 468, 3).astype(np.float64)
        pixels = roi.project(raw[..., :2], affines)
        depth = raw[..., 2] / self.size * rois[:, roi.W, None]
        presence = _sigmoid(out["presence_logit"].reshape(n).astype(np.float64))
        return FaceResult(presence=presence, pixels=pixels, depth=depth)


# --- detectors ------------------------------------------------------------------------------------

@dataclass
class ImageDetections:
    """Detections mapped to image pixels; `source` says which input region each came from."""

    scores: np.ndarray     # (D,)
    boxes: np.ndarray      # (D, 4) x0, y0, x1, y1
    keypoints: np.ndarray  # (D, K, 2)
    source: np.ndarray     # (D,) index of the region (ROI) that produced it

    def __len__(self) -> int:
        return len(self.scores)

    @cached_property
    def centres(self) -> np.ndarray:
        """(D, 2) box centres."""
        return 0.5 * (self.boxes[:, :2] + self.boxes[:, 2:])

    @cached_property
    def hand_crops(self) -> np.ndarray:
        """(D, 5) hand crops of palm detections; computed once, for all who use one frame's palms."""
        return roi.hand_from_palm(self.centres, self.boxes[:, 2:] - self.boxes[:, :2], self.keypoints)


class Detector(_Expert):
    """An SSD detector (person or palm) run on N square regions in one batch."""

    def __init__(self, session: InferenceSession, info: ModelInfo, strides: tuple[int, ...],
                 num_keypoints: int) -> None:
        super().__init__(session, info, zero_border=True)
        self.anchors = ssd.anchors(self.size, strides)
        self.num_keypoints = num_keypoints

    def __call__(self, image: np.ndarray, rois: np.ndarray, min_score: float) -> ImageDetections:
        out, affines = self.infer(image, rois)
        regressors, logits = out["box_regressors"], out["score_logits"]
        scores, boxes, kps, source = [], [], [], []
        for i in range(len(rois)):
            dets = ssd.weighted_nms(ssd.decode(regressors[i], logits[i], self.anchors, self.size,
                                               self.num_keypoints, min_score))
            if not len(dets):
                continue
            # Regions are axis-aligned, so box corners map to box corners.
            boxes.append(roi.project(dets.boxes.reshape(1, -1, 2) * self.size, affines[i:i + 1])[0].reshape(-1, 4))
            kps.append(roi.project(dets.keypoints.reshape(1, -1, 2) * self.size, affines[i:i + 1])[0]
                       .reshape(len(dets), self.num_keypoints, 2))
            scores.append(dets.scores)
            source.append(np.full(len(dets), i))
        if not scores:
            return ImageDetections(np.zeros(0), np.zeros((0, 4)), np.zeros((0, self.num_keypoints, 2)),
                                   np.zeros(0, np.int64))
        return ImageDetections(np.concatenate(scores), np.concatenate(boxes), np.concatenate(kps),
                               np.concatenate(source))


POSE_DETECTOR_STRIDES = (8, 16, 32, 32, 32)
PALM_DETECTOR_STRIDES = (8, 16, 16, 16)
