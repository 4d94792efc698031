"""Phantom bodies: a person skeleton the body model draws where there is no person (a hand filling
the frame, a headless torso).  A body is accepted only when it is anatomically consistent.

Rules and thresholds come from measurements on the development clips (../shared/media; figures in
notes/issue9-perception.md): per observed body, against the hands seen in the frame (whole-frame
palm detections, hand-only tracks, the body's own hand crops):
  - inside a hand: >= 60 % of nose, shoulders and elbows lie in one hand's crop
    (real people <= 40 %, a thumbs-up pushed at the camera; phantoms in a palm: median 100 %);
  - smaller than a hand it overlaps: shoulder width < 1.5 palm sides
    (real people >= 1.88, same thumbs-up; phantoms: median 0.36-0.76);
  - no torso support: mean shoulder visibility < 0.5 (real >= 0.84, people seen from behind
    included; headless-torso phantoms behind a hand 0.07-0.25);
  - no head: the nose lies outside the image (every real person of the clips had it inside; the
    blurred headless torso behind a hand-only close-up is otherwise a body with arms, 0.44-0.64
    shoulder visibility, that would take the hand as its own).
"""
from __future__ import annotations

import numpy as np

from teleop_common.layout import BODY, SHOULDERS
from whole_body_pose.experts import roi

INSIDE_HAND = 0.6
SMALLER_THAN_HAND = 1.5
TORSO_VISIBILITY = 0.5
PALM_PER_CROP = 1.0 / 2.6  # palm box side per hand crop side (roi.hand_from_palm scales the box 2.6x)
_UPPER = np.array([BODY["nose"], BODY["left_shoulder"], BODY["right_shoulder"], BODY["left_elbow"],
                   BODY["right_elbow"]])
_SHOULDERS = np.array(SHOULDERS)


def phantom_reason(pixels: np.ndarray, visibility: np.ndarray, hand_crops: np.ndarray,
                   image_size: tuple[int, int]) -> str | None:
    """Why a body (33 pixels, visibilities) is not a person, given (M, 5) hand crops and the image's
    (width, height); None if it is one."""
    if float(visibility[_SHOULDERS].mean()) < TORSO_VISIBILITY:
        return "no_torso"
    nose = pixels[BODY["nose"]]
    if not (0.0 <= nose[0] < image_size[0] and 0.0 <= nose[1] < image_size[1]):
        return "no_head"
    if not len(hand_crops):
        return None
    upper = pixels[_UPPER]
    inside = np.stack([roi.contains(crop[None], upper) for crop in hand_crops])
    share = inside.mean(axis=1)
    if share.max() >= INSIDE_HAND:
        return "inside_hand"
    shoulder_width = float(np.linalg.norm(pixels[_SHOULDERS[0]] - pixels[_SHOULDERS[1]]))
    overlapping = share > 0
    if overlapping.any() and shoulder_width < SMALLER_THAN_HAND * PALM_PER_CROP * hand_crops[overlapping, roi.W].max():
        return "smaller_than_hand"
    return None
