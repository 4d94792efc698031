"""Operator -> end-effector targets, against answers worked out by hand (ALOHA, default mounting:
the camera faces the operator, who faces +y of the robot's world)."""
from __future__ import annotations

import numpy as np
import pytest

from pose_retarget.config import GripperConfig, InputConfig, MappingConfig
from robot_model.config import load_robot_config
from pose_retarget.mapping import InputInvalid, Mapper
from pose_retarget.robot import Robot
from pose_retarget.synthetic import SyntheticOperator, reachable_trajectory
from teleop_common.layout import BODY, Part, index
from teleop_common.pose import PersonPose, empty_keypoints

ROBOTS = {name: Robot(load_robot_config(name)) for name in ("aloha", "arm7")}
ALOHA = ROBOTS["aloha"]
LEFT, RIGHT = ALOHA.arms
Rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def reaching_person(direction=(0.0, 0.0, -1.0), size: float = 1.0, pinch: float = 0.045,
                    right_hand: bool = False) -> PersonPose:
    """Camera frame.  Left arm straight along `direction` (default: towards the camera, i.e. the
    operator's forward), left hand palm down with fingers along it; right arm hanging down."""
    pixels, points, confidence = empty_keypoints()
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    shoulder = np.array([0.19, -0.2, 2.0]) * [size, 1, 1]
    points[BODY["left_shoulder"]] = shoulder
    points[BODY["left_elbow"]] = shoulder + 0.30 * size * direction
    wrist = points[BODY["left_wrist"]] = shoulder + 0.57 * size * direction
    towards_centre = np.cross(direction, [0.0, -1.0, 0.0])  # the operator's right, for a left hand palm down
    towards_centre /= np.linalg.norm(towards_centre)
    hand = {"wrist": wrist, "index_mcp": wrist + 0.09 * direction + 0.04 * towards_centre,
            "pinky_mcp": wrist + 0.081 * direction - 0.04 * towards_centre,
            "middle_mcp": wrist + 0.09 * direction, "index_tip": wrist + 0.16 * direction}
    hand["thumb_tip"] = hand["index_tip"] + [0.0, pinch, 0.0]
    for name, point in hand.items():
        points[index(Part.LEFT_HAND, name)] = point
    right = np.array([-0.19, -0.2, 2.0])
    points[BODY["right_shoulder"]] = right
    points[BODY["right_elbow"]] = right + [0.0, 0.3, 0.0]
    points[BODY["right_wrist"]] = right + [0.0, 0.57, 0.0]
    if right_hand:
        for name, offset in (("wrist", 0.0), ("index_mcp", 0.09), ("pinky_mcp", 0.08), ("middle_mcp", 0.09),
                             ("index_tip", 0.16), ("thumb_tip", 0.15)):
            points[index(Part.RIGHT_HAND, name)] = right + [0.02 * (name == "index_mcp"), 0.57 + offset, 0.0]
    confidence[np.all(np.isfinite(points), axis=1)] = 0.9
    return PersonPose(track_id=1, score=0.9, box=np.array([0, 0, 100, 200], np.float32), pixels=pixels,
                      points=points, confidence=confidence, present=frozenset({Part.BODY, Part.LEFT_HAND}))


def mapper(mirror: bool = False, robot: Robot = ALOHA) -> Mapper:
    return Mapper(robot, MappingConfig(mirror=mirror), InputConfig())


def test_forward_reach_lands_ahead_of_the_anchor_with_the_hand_orientation() -> None:
    target = mapper().map_arm(reaching_person(), LEFT, ALOHA.shoulders["left"])
    # anchor (-0.3, 0.05, 0.42) + reach 0.75 along +y; fingers along +y, back of the hand up.
    np.testing.assert_allclose(target.position, [-0.3, 0.8, 0.42], atol=1e-6)
    np.testing.assert_allclose(target.rotation, Rz90, atol=1e-6)
    assert not target.clamped
    assert target.pinch_ratio == pytest.approx(0.045 / 0.09)


def test_scale_follows_the_measured_arm_length() -> None:
    """A 20 % larger person doing the same gesture gives the same target."""
    target = mapper().map_arm(reaching_person(size=1.2), LEFT, ALOHA.shoulders["left"])
    np.testing.assert_allclose(target.position, [-0.3, 0.8, 0.42], atol=1e-6)


def test_arm_length_is_a_running_median() -> None:
    m = mapper()
    for _ in range(5):
        m.map_arm(reaching_person(), LEFT, ALOHA.shoulders["left"])
    outlier = reaching_person(size=1.2)           # one frame with a 1.2x longer arm ...
    target = m.map_arm(outlier, LEFT, ALOHA.shoulders["left"])
    # ... is scaled by the median (0.57 m), so the target overshoots by the extra 20 %.
    np.testing.assert_allclose(target.position, [-0.3, 0.05 + 0.75 * 1.2, 0.42], atol=1e-6)


def test_mirror_swaps_arms_and_reflects_sideways_motion() -> None:
    person = reaching_person(direction=(0.3, 0.0, -1.0))    # forward and to the operator's left
    plain = mapper().map_arm(person, LEFT, ALOHA.shoulders["left"])
    mirrored = mapper(mirror=True).map_arm(person, RIGHT, ALOHA.shoulders["right"])
    # Same forward and height; sideways motion reflected; the left-hand mirror image is a right hand.
    left_anchor, right_anchor = ALOHA.anchors["left"], ALOHA.anchors["right"]
    np.testing.assert_allclose(right_anchor, left_anchor * [-1, 1, 1], atol=1e-5)     # the model is symmetric
    np.testing.assert_allclose(plain.position - left_anchor, (mirrored.position - right_anchor) * [-1, 1, 1], atol=1e-9)
    assert plain.position[0] < left_anchor[0] < right_anchor[0] < mirrored.position[0]
    assert np.linalg.det(mirrored.rotation) == pytest.approx(1.0)
    straight = mapper(mirror=True).map_arm(reaching_person(), RIGHT, ALOHA.shoulders["right"])
    np.testing.assert_allclose(straight.rotation, Rz90, atol=1e-6)
    with pytest.raises(InputInvalid):      # the operator's right hand drives the left arm: not visible
        mapper(mirror=True).map_arm(person, LEFT, ALOHA.shoulders["left"])


def test_target_beyond_reach_is_clamped_to_the_workspace() -> None:
    target = mapper().map_arm(reaching_person(direction=(1.0, 0.0, 0.0)), LEFT, ALOHA.shoulders["left"])
    unclamped = np.array([-0.3 - 0.75, 0.05, 0.42])
    shoulder = ALOHA.shoulders["left"]
    assert target.clamped
    expected = shoulder + (unclamped - shoulder) / np.linalg.norm(unclamped - shoulder) * 0.72
    np.testing.assert_allclose(target.position, expected, atol=1e-9)


@pytest.mark.parametrize("spoil", [
    lambda p: p.points.__setitem__(BODY["left_wrist"], np.nan),
    lambda p: p.confidence.__setitem__(BODY["left_elbow"], 0.1),
    lambda p: p.points.__setitem__(index(Part.LEFT_HAND, "index_tip"), [np.nan, 0.0, 1.0]),
    lambda p: p.points.__setitem__(BODY["left_shoulder"], [0.19, -0.2, 60.0]),           # depth out of range
    lambda p: p.points.__setitem__(BODY["left_elbow"], [0.19, 1.5, 2.0]),                # 2.5 m arm
    lambda p: p.points.__setitem__(index(Part.LEFT_HAND, "middle_mcp"),
                                   p.points[index(Part.LEFT_HAND, "wrist")] + [0, 0, -0.5]),  # huge hand
    lambda p: [p.points.__setitem__(index(Part.LEFT_HAND, n), p.points[index(Part.LEFT_HAND, "wrist")] + [0, 0, -0.09])
               for n in ("index_mcp", "pinky_mcp")],                                     # collinear palm
])
def test_bad_keypoints_raise_input_invalid(spoil) -> None:
    person = reaching_person()
    spoil(person)
    with pytest.raises(InputInvalid):
        mapper().map_arm(person, LEFT, ALOHA.shoulders["left"])


def test_missing_hand_is_invalid_for_that_arm_only() -> None:
    m = mapper()
    person = reaching_person()
    m.map_arm(person, LEFT, ALOHA.shoulders["left"])
    with pytest.raises(InputInvalid, match="right"):
        m.map_arm(person, RIGHT, ALOHA.shoulders["right"])


@pytest.mark.parametrize("name", ["aloha", "arm7"])
@pytest.mark.parametrize("mirror", [False, True])
def test_synthetic_operator_maps_back_onto_the_robot_poses(name: str, mirror: bool) -> None:
    """The known-answer generator and the mapping are inverse of each other on reachable poses."""
    robot = ROBOTS[name]
    m = Mapper(robot, MappingConfig(mirror=mirror), InputConfig())
    operator = SyntheticOperator(robot, MappingConfig(mirror=mirror), GripperConfig())
    for q in reachable_trajectory(robot, operator, frames=60, fps=10.0, seed=1)[::6]:
        poses = robot.ee_poses(q)
        person = operator.person_pose(poses, {arm.name: 0.3 for arm in robot.arms})
        for arm in robot.arms:
            target = m.map_arm(person, arm, robot.shoulders[arm.name])
            np.testing.assert_allclose(target.position, poses[arm.name][0], atol=1e-5)   # float32 keypoints
            np.testing.assert_allclose(target.rotation, poses[arm.name][1], atol=1e-5)
            assert target.pinch_ratio == pytest.approx(operator.pinch_ratio(0.3), rel=1e-5)   # float32 keypoints
