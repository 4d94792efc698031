"""Metric 3D in the camera frame: human bone lengths, consistent projection, parts joined to the body."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import DATA

from teleop_common.camera import CameraIntrinsics
from teleop_common.layout import BODY, PARTS, Part, index
from whole_body_pose.config import OneEuroConfig, PoseNodeConfig
from whole_body_pose.pipeline import build_estimator

# (a, b, min metres, max metres): adult ranges, generous for partial views and model error.
BODY_BONES = [("left_shoulder", "right_shoulder", 0.25, 0.50), ("left_hip", "right_hip", 0.15, 0.40),
              ("left_shoulder", "left_elbow", 0.20, 0.42), ("right_shoulder", "right_elbow", 0.20, 0.42),
              ("left_elbow", "left_wrist", 0.17, 0.38), ("right_elbow", "right_wrist", 0.17, 0.38),
              ("left_hip", "left_knee", 0.28, 0.60), ("right_hip", "right_knee", 0.28, 0.60),
              ("left_knee", "left_ankle", 0.28, 0.60), ("right_knee", "right_ankle", 0.28, 0.60)]
HAND_BONES = [("wrist", "index_mcp", 0.06, 0.13), ("wrist", "pinky_mcp", 0.05, 0.12)]
MIDDLE_FINGER = ("middle_mcp", "middle_pip", "middle_dip", "middle_tip")  # 6-10 cm along its joints
EYE_CORNERS = (33, 263)  # face-mesh outer eye corners: 7-12 cm apart on adults


def _rgb(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def estimator():
    return build_estimator(PoseNodeConfig(max_people=1, one_euro=OneEuroConfig(enabled=False)))


@pytest.fixture(scope="module")
def messi(estimator):
    estimator.reset()
    return estimator.process(_rgb("messi5.jpg"), 0, "camera", None).poses[0]


def _length(points: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(points[a] - points[b]))


def test_body_and_hand_bones_have_human_lengths(messi):
    assert {Part.BODY, Part.LEFT_HAND, Part.RIGHT_HAND, Part.FACE} <= messi.present
    for a, b, low, high in BODY_BONES:
        assert low <= _length(messi.points, BODY[a], BODY[b]) <= high, (a, b)
    for part in (Part.LEFT_HAND, Part.RIGHT_HAND):
        for a, b, low, high in HAND_BONES:
            assert low <= _length(messi.points, index(part, a), index(part, b)) <= high, (part, a, b)
        joints = [index(part, name) for name in MIDDLE_FINGER]
        finger = sum(_length(messi.points, a, b) for a, b in zip(joints, joints[1:]))
        assert 0.05 <= finger <= 0.11, (part, finger)
    eyes = _length(messi.points, *(PARTS[Part.FACE].start + i for i in EYE_CORNERS))
    assert 0.07 <= eyes <= 0.12


def test_points_reproject_onto_pixels(messi):
    camera = CameraIntrinsics.from_fov(548, 342, 60.0)
    for part, tolerance in ((Part.BODY, 0.04), (Part.LEFT_HAND, 0.02), (Part.RIGHT_HAND, 0.02), (Part.FACE, 0.002)):
        points, pixels = messi.part_points(part), messi.part_pixels(part)
        projected = points[:, :2] / points[:, 2:] * [camera.fx, camera.fy] + [camera.cx, camera.cy]
        keep = messi.part_confidence(part) > 0.5
        error = np.median(np.linalg.norm(projected[keep] - pixels[keep], axis=1))
        height = np.ptp(messi.part_pixels(Part.BODY)[:, 1])
        assert error < tolerance * height, (part, error)
    assert 1.0 < np.median(messi.part_points(Part.BODY)[:, 2]) < 10.0


def test_parts_are_joined_to_the_body(messi):
    for part, wrist in ((Part.LEFT_HAND, "left_wrist"), (Part.RIGHT_HAND, "right_wrist")):
        gap = np.linalg.norm(messi.points[index(part, "wrist")] - messi.points[BODY[wrist]])
        assert gap < 0.10, (part, gap)
    nose_tip = PARTS[Part.FACE].start + 1
    assert np.linalg.norm(messi.points[nose_tip] - messi.points[BODY["nose"]]) < 0.06


def test_longer_focal_length_places_the_person_farther(estimator, messi):
    default = CameraIntrinsics.from_fov(548, 342, 60.0)
    narrow = CameraIntrinsics(2 * default.fx, 2 * default.fy, default.cx, default.cy, 548, 342)
    estimator.reset()
    far = estimator.process(_rgb("messi5.jpg"), 0, "camera", narrow).poses[0]
    ratio = np.median(far.part_points(Part.BODY)[:, 2]) / np.median(messi.part_points(Part.BODY)[:, 2])
    assert 1.8 < ratio < 2.2
    for a, b, _, _ in BODY_BONES:  # the metric shape does not depend on the camera
        assert abs(_length(far.points, BODY[a], BODY[b]) - _length(messi.points, BODY[a], BODY[b])) < 1e-3


def test_camera_info_of_another_resolution_is_rescaled(estimator, messi):
    full = CameraIntrinsics.from_fov(2 * 548, 2 * 342, 60.0)  # published for a 2x stream
    estimator.reset()
    pose = estimator.process(_rgb("messi5.jpg"), 0, "camera", full).poses[0]
    np.testing.assert_allclose(pose.points, messi.points, atol=1e-4)
