"""Agreement with MediaPipe's own Holistic solution (test-only reference) on single-person images.

Both run the same part experts (hand_tracking_model: full, Holistic's hand model); the body crop
rules are reproduced exactly, the hand crop differs (Holistic re-crops hands with a model we do not
ship), so hands agree less tightly than bodies.  The default lite hand tracking model is checked
against the full one on the same images.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import DATA

from teleop_common.layout import HAND, Part
from whole_body_pose.config import OneEuroConfig, PoseNodeConfig
from whole_body_pose.pipeline import build_estimator

mp = pytest.importorskip("mediapipe")

SINGLE_PERSON = ["messi5.jpg", "megamind_0010.jpg", "megamind_0030.jpg"]
MAX_MEAN_ERROR_PX = 3.0
MAX_FACE_ERROR_PX = 5.0  # the face crop comes from the body here, from a face detector in Holistic


def _rgb(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)


def _pixels(landmarks, width: int, height: int) -> np.ndarray | None:
    if landmarks is None:
        return None
    return np.array([[p.x * width, p.y * height] for p in landmarks.landmark])


def _estimator(hand_tracking_model: str):
    return build_estimator(PoseNodeConfig(max_people=1, hand_tracking_model=hand_tracking_model,
                                          one_euro=OneEuroConfig(enabled=False)))


@pytest.fixture(scope="module")
def estimator():
    return _estimator("full")


@pytest.mark.parametrize("name", SINGLE_PERSON)
def test_matches_holistic(name, estimator):
    image = _rgb(name)
    height, width = image.shape[:2]
    with mp.solutions.holistic.Holistic(static_image_mode=True) as holistic:
        reference = holistic.process(image)
    estimator.reset()
    frame = estimator.process(image, 0, "camera", None)

    assert len(frame.poses) == 1
    pose = frame.poses[0]
    expected = {Part.BODY: reference.pose_landmarks, Part.LEFT_HAND: reference.left_hand_landmarks,
                Part.RIGHT_HAND: reference.right_hand_landmarks, Part.FACE: reference.face_landmarks}
    compared = 0
    for part, landmarks in expected.items():
        ref = _pixels(landmarks, width, height)
        if ref is None:
            continue
        assert part in pose.present, f"{name}: Holistic finds the {part.name.lower()}, we do not"
        error = np.linalg.norm(pose.part_pixels(part) - ref, axis=1).mean()
        limit = MAX_FACE_ERROR_PX if part is Part.FACE else MAX_MEAN_ERROR_PX
        assert error <= limit, f"{name}: {part.name.lower()} mean error {error:.2f} px > {limit} px"
        compared += part is not Part.FACE
    assert compared >= 2, "every case compares the body and at least one hand"


def test_lite_hand_tracking_finds_the_same_hands_close_to_full():
    """Tracked frames (the second on) run the lite model: same hands, landmarks within a quarter palm
    (measured: 0.04-0.15 palm lengths on these images, README benchmark)."""
    models = {name: _estimator(name) for name in ("full", "lite")}
    for name in SINGLE_PERSON:
        image = _rgb(name)
        poses = {}
        for model, estimator in models.items():
            estimator.reset()
            for index in range(3):
                frame = estimator.process(image, int(index * 1e9 / 30), "camera", None)
            poses[model] = frame.poses[0]
        hands = poses["full"].present - {Part.BODY, Part.FACE}
        assert hands and hands == poses["lite"].present - {Part.BODY, Part.FACE}, name
        for part in hands:
            full, lite = poses["full"].part_pixels(part), poses["lite"].part_pixels(part)
            palm = np.linalg.norm(full[HAND["middle_mcp"]] - full[HAND["wrist"]])
            error = np.linalg.norm(lite - full, axis=1).mean()
            assert error < 0.25 * palm, f"{name}: {part.name.lower()} lite vs full {error:.1f} px, palm {palm:.1f} px"
