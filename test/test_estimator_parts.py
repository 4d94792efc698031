"""Hand recovery with the palm detector when the body model misplaces a hand (real models, messi5)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import DATA

from teleop_common.layout import Part
from whole_body_pose import roi
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.estimator import detector_regions, load_experts
from whole_body_pose.parts import HAND_POINTS, HandStage
from whole_body_pose.tracks import Body, Track

KEY = (0, Part.LEFT_HAND)


@pytest.fixture(scope="module")
def scene():
    experts = load_experts(PoseNodeConfig())
    image = cv2.cvtColor(cv2.imread(str(DATA / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    found = experts.detector(image, detector_regions(image.shape[1], image.shape[0], 1), 0.5)
    crop = roi.body_crop(found.keypoints[:1])
    return experts, image, crop[0], Body.from_batch(experts.body(image, crop), 0)


def _stage(experts, palm: bool) -> HandStage:
    return HandStage(experts.hand, experts.palm if palm else None, presence=0.5, palm_score=0.5,
                     wrist_visibility=0.1, refine_passes=1, min_side=24.0, retry_interval=5)


def _track(crop: np.ndarray, body: Body) -> Track:
    track = Track(1, crop.copy(), 1.0)
    track.body = body
    return track


@pytest.mark.parametrize("offset_px", [25, 45])
def test_palm_detector_recovers_a_hand_the_body_misplaces(scene, offset_px):
    experts, image, crop, body = scene
    truth = _stage(experts, palm=True)(image, [_track(crop, body)])[KEY]

    misplaced = Body(body.presence, body.pixels.copy(), body.visibility, body.world)
    for i in HAND_POINTS[Part.LEFT_HAND]:  # wrist, index and pinky shifted off the hand
        misplaced.pixels[i] += offset_px
    assert KEY not in _stage(experts, palm=False)(image, [_track(crop, misplaced)])
    recovered = _stage(experts, palm=True)(image, [_track(crop, misplaced)])
    assert KEY in recovered
    assert np.linalg.norm(recovered[KEY].pixels - truth.pixels, axis=1).mean() < 2.0
