"""Rotated regions of interest, vectorised over people and parts.

A ROI array is (N, 5): centre x, centre y, width, height (pixels of the full image) and rotation
(radians, clockwise in image coordinates), the convention of MediaPipe's NormalizedRect expressed
in pixels.  The rules below reproduce the ones MediaPipe 0.10.21 applies in its pose, hand and face
graphs, because each landmark model was trained on crops made exactly this way: a crop that is
off by a few percent in scale or angle costs pixels of accuracy.
"""
from __future__ import annotations

import numpy as np

CX, CY, W, H, ROT = range(5)


def normalize_radians(angle: np.ndarray) -> np.ndarray:
    """Wrap to [-pi, pi)."""
    return angle - 2.0 * np.pi * np.floor((angle + np.pi) / (2.0 * np.pi))


def rotation_towards(start: np.ndarray, end: np.ndarray, target: float) -> np.ndarray:
    """Rotation that makes the start->end vector point at `target` radians (pi/2 = up)."""
    d = end - start
    return normalize_radians(target - np.arctan2(-d[..., 1], d[..., 0]))


def transform(rois: np.ndarray, scale: float, shift_y: float = 0.0) -> np.ndarray:
    """Shift along the ROI's own y axis (in ROI heights), square to the long side, then scale."""
    out = rois.copy()
    if shift_y:
        c, s = np.cos(rois[:, ROT]), np.sin(rois[:, ROT])
        out[:, CX] -= rois[:, H] * shift_y * s
        out[:, CY] += rois[:, H] * shift_y * c
    side = np.maximum(rois[:, W], rois[:, H])
    out[:, W] = side
    out[:, H] = side
    out[:, W] *= scale
    out[:, H] *= scale
    return out


def from_alignment(center: np.ndarray, scale_point: np.ndarray, target: float) -> np.ndarray:
    """ROI centred on `center`, side 2*|scale_point - center|, rotated so center->scale_point aims at target."""
    side = 2.0 * np.linalg.norm(scale_point - center, axis=-1)
    rot = rotation_towards(center, scale_point, target)
    return np.stack([center[:, 0], center[:, 1], side, side, rot], axis=1)


def _aligned_box(points: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Tightest box of (N, K, 2) points whose axes follow `rot` (MediaPipe's landmarks-to-rect rule)."""
    lo, hi = points.min(axis=1), points.max(axis=1)
    centre = 0.5 * (lo + hi)
    c, s = np.cos(-rot)[:, None], np.sin(-rot)[:, None]
    rel = points - centre[:, None, :]
    px = rel[..., 0] * c - rel[..., 1] * s
    py = rel[..., 0] * s + rel[..., 1] * c
    pcx = 0.5 * (px.min(axis=1) + px.max(axis=1))
    pcy = 0.5 * (py.min(axis=1) + py.max(axis=1))
    c, s = np.cos(rot), np.sin(rot)
    return np.stack([pcx * c - pcy * s + centre[:, 0], pcx * s + pcy * c + centre[:, 1],
                     px.max(axis=1) - px.min(axis=1), py.max(axis=1) - py.min(axis=1), rot], axis=1)


def _bounding_box(points: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Axis-aligned box of (N, K, 2) points, given a rotation (MediaPipe's detection-to-rect rule)."""
    lo, hi = points.min(axis=1), points.max(axis=1)
    centre, size = 0.5 * (lo + hi), hi - lo
    return np.stack([centre[:, 0], centre[:, 1], size[:, 0], size[:, 1], rot], axis=1)


# --- body -----------------------------------------------------------------------------------------

def body_crop(points: np.ndarray) -> np.ndarray:
    """Body crop from a hip-centre point and a full-body scale point, (N, >=2, 2): the person
    detector's first two keypoints, or the landmark model's auxiliary points for the next frame."""
    return transform(from_alignment(points[:, 0], points[:, 1], np.pi / 2), 1.25)


# --- hands ----------------------------------------------------------------------------------------

_PALM_SUBSET = np.array([0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18])


# MediaPipe Holistic expands the body-derived hand box 2.7x to feed its re-crop model; without
# that model a tighter 2.2x crop gives the hand model a first pass closest to Holistic's output
# (mean 2.3 px vs 4.1 px over messi5 and Megamind hands, measured).
HAND_FROM_BODY_SCALE = 2.2


def hand_from_body(wrist: np.ndarray, index: np.ndarray, pinky: np.ndarray) -> np.ndarray:
    """Hand crop from the body model's wrist, index and pinky points (each (N, 2))."""
    middle = (2.0 * index + pinky) / 3.0
    side = 2.0 * np.linalg.norm(middle - wrist, axis=-1)
    rot = rotation_towards(wrist, middle, np.pi / 2)
    rois = np.stack([middle[:, 0], middle[:, 1], side, side, rot], axis=1)
    return transform(rois, HAND_FROM_BODY_SCALE, shift_y=-0.1)


def hand_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Hand crop from 21 hand landmarks (N, 21, 2): palm-aligned box of the palm points, x2."""
    palm = landmarks[:, _PALM_SUBSET]
    knuckles = 0.5 * (0.5 * (palm[:, 4] + palm[:, 8]) + palm[:, 6])
    rot = rotation_towards(palm[:, 0], knuckles, np.pi / 2)
    return transform(_aligned_box(palm, rot), 2.0, shift_y=-0.1)


def hand_from_palm(box_centre: np.ndarray, box_size: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Hand crop from a palm detection: box (N, 2)+(N, 2), keypoints (N, 7, 2); wrist->middle knuckle up."""
    rot = rotation_towards(keypoints[:, 0], keypoints[:, 2], np.pi / 2)
    rois = np.stack([box_centre[:, 0], box_centre[:, 1], box_size[:, 0], box_size[:, 1], rot], axis=1)
    return transform(rois, 2.6, shift_y=-0.5)


# --- face -----------------------------------------------------------------------------------------

# Ratio between the crop the face model expects (its own landmarks' box x1.5) and the box of the
# body model's 11 face points; measured on MediaPipe Holistic outputs (messi5, Megamind frames).
FACE_FROM_BODY_SCALE = 2.0


def face_from_body(face_points: np.ndarray) -> np.ndarray:
    """Face crop from the body model's face points (N, 11, 2); eyes give the roll."""
    rot = rotation_towards(face_points[:, 5], face_points[:, 2], 0.0)
    return transform(_bounding_box(face_points, rot), FACE_FROM_BODY_SCALE)


def face_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Face crop from 468 face-mesh landmarks (N, 468, 2): their box x1.5, eye corners give the roll."""
    rot = rotation_towards(landmarks[:, 33], landmarks[:, 263], 0.0)
    return transform(_bounding_box(landmarks, rot), 1.5)


# --- crops ----------------------------------------------------------------------------------------

def tensor_to_image(rois: np.ndarray, size: int) -> np.ndarray:
    """(N, 2, 3) affine maps from tensor pixels (0..size) to image pixels, corner to corner."""
    c, s = np.cos(rois[:, ROT]), np.sin(rois[:, ROT])
    sx, sy = rois[:, W] / size, rois[:, H] / size
    m = np.empty((len(rois), 2, 3))
    m[:, 0, 0], m[:, 0, 1] = c * sx, -s * sy
    m[:, 1, 0], m[:, 1, 1] = s * sx, c * sy
    m[:, 0, 2] = rois[:, CX] - 0.5 * (c * rois[:, W] - s * rois[:, H])
    m[:, 1, 2] = rois[:, CY] - 0.5 * (s * rois[:, W] + c * rois[:, H])
    return m


def project(points: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Map (N, K, 2) tensor-pixel points to image pixels with (N, 2, 3) affines."""
    return np.einsum("nij,nkj->nki", affines[:, :, :2], points) + affines[:, None, :, 2]


def rotate_xy(points: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Rotate the x, y of (N, K, 3) metric points by each ROI's rotation (crop frame -> image frame)."""
    c, s = np.cos(rot)[:, None], np.sin(rot)[:, None]
    out = points.copy()
    out[..., 0] = c * points[..., 0] - s * points[..., 1]
    out[..., 1] = s * points[..., 0] + c * points[..., 1]
    return out


def contains(rois: np.ndarray, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(N,) whether each (N, 2) point lies inside its ROI shrunk (margin < 0) or grown by `margin`.

    Either side may be a single one (one (2,) point in N ROIs, or one (1, 5) ROI around N points)."""
    c, s = np.cos(-rois[:, ROT]), np.sin(-rois[:, ROT])
    d = points - rois[:, :2]
    u = d[:, 0] * c - d[:, 1] * s
    v = d[:, 0] * s + d[:, 1] * c
    k = 0.5 * (1.0 + margin)
    return (np.abs(u) < k * rois[:, W]) & (np.abs(v) < k * rois[:, H])
