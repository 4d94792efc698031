"""Which keypoints each temporal model refines, and the operator-scaled frame they are seen in.

Body model: the 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles) in the camera frame,
centred on the latest shoulder midpoint and divided by the operator's own shoulder width, so one
model suits every operator and distance; outputs are mapped back to metres with the same numbers.
Hand model: the 20 non-wrist joints relative to the hand's own wrist, divided by the hand's size
(wrist to middle knuckle); a left hand is mirrored (x -> -x) into a right one so one model serves both.
"""
from __future__ import annotations

import numpy as np

from teleop_common.layout import BODY, HAND

BODY_JOINTS: tuple[str, ...] = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                                "left_wrist", "right_wrist", "left_hip", "right_hip",
                                "left_knee", "right_knee", "left_ankle", "right_ankle")
BODY_INDEX = np.array([BODY[n] for n in BODY_JOINTS])
SHOULDERS = (0, 1)                 # rows of BODY_JOINTS
HAND_INDEX = np.arange(1, 21)      # hand joints the hand model sees (the wrist is its origin)
HAND_SIZE = HAND["middle_mcp"] - 1  # row of the wrist-relative shape: wrist -> middle knuckle, the hand's size
MIN_SCALE = 1e-3                   # metres: below this a scale is treated as unknown


def forward_fill(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each invalid entry of (..., T, J, C) replaced by the latest valid one before it (0 if none): the hold."""
    t = x.shape[-3]
    idx = np.where(valid, np.arange(t)[:, None], -1)
    idx = np.maximum.accumulate(idx, axis=-2)
    filled = np.take_along_axis(x, np.maximum(idx, 0)[..., None], axis=-3)
    return np.where((idx >= 0)[..., None], filled, 0.0)


def mirror(x: np.ndarray) -> np.ndarray:
    """Left hand <-> right hand: reflect the camera x axis."""
    return x * np.array([-1.0, 1.0, 1.0], dtype=x.dtype)
