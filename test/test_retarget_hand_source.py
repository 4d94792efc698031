"""mapping.source hand: each end effector follows the operator's hand alone (wrist motion since
engagement, scaled; hand orientation; pinch), so a camera that sees only hands can drive the robot.
Answers come from the synthetic operator (real MuJoCo model, real mink IK, real check)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pose_retarget.config import MappingConfig, RetargetNodeConfig
from pose_retarget.mapping import InputInvalid, rpy_matrix
from teleop_session.robot_loop import RobotInTheLoop
from teleop_common.status import Reason
from pose_retarget.synthetic import OperatorModel, SyntheticOperator, reachable_trajectory
from teleop_common.layout import PARTS, Part
from teleop_common.pose import PersonPose, PoseFrame

FPS = 30.0
START_NS = 5_000_000_000
LATENCY_NS = 15_000_000


def stamp(k: int) -> int:
    return START_NS + int(k / FPS * 1e9)


def hands_only(person: PersonPose) -> PersonPose:
    """What a camera on the desk sees: both hands, no body (has_body false, body keypoints undetected)."""
    body = PARTS[Part.BODY].slice
    points, confidence = person.points.copy(), person.confidence.copy()
    points[body], confidence[body] = np.nan, 0.0
    return dataclasses.replace(person, points=points, confidence=confidence, present=person.present - {Part.BODY})


def setup(robot: str, source: str = "hand") -> tuple[Retargeter, SyntheticOperator]:
    """The synthetic operator's wrist moves by (robot motion) / (reach / arm length), so that scale as
    hand_scale makes its hands-only frames an exact answer for the hand source too."""
    model = OperatorModel()
    base = RetargetNodeConfig(robot=robot)
    retargeter = RobotInTheLoop(base)
    reach = {arm.config.reach for arm in retargeter.robot.arms}
    assert len(reach) == 1
    mapping = MappingConfig(source=source, hand_scale=reach.pop() / model.arm_length)
    config = dataclasses.replace(base, mapping=mapping)
    return RobotInTheLoop(config, retargeter.robot), SyntheticOperator(retargeter.robot, config.mapping, config.gripper, model)


def frame(operator: SyntheticOperator, q: np.ndarray, k: int, openings=None) -> PoseFrame:
    person = operator.person_pose(operator.robot.ee_poses(q), openings)
    return PoseFrame(stamp_ns=stamp(k), frame_id="camera", poses=[hands_only(person)])


@pytest.mark.parametrize("robot, seed", [("aloha", 0), ("arm7", 1)])
def test_hands_alone_drive_the_end_effectors(robot: str, seed: int) -> None:
    retargeter, operator = setup(robot)
    model = retargeter.robot
    trajectory = reachable_trajectory(model, operator, frames=150, fps=FPS, seed=seed)
    retargeter.step(frame(operator, trajectory[0], 0), stamp(0) + LATENCY_NS)
    assert retargeter.engage(True, stamp(0) + LATENCY_NS) == (True, "engaged")
    errors, angles = [], []
    for k, q in enumerate(trajectory[1:], start=1):
        result = retargeter.step(frame(operator, q, k), stamp(k) + LATENCY_NS)
        assert [a.reason for a in result.arms] == [Reason.OK] * len(model.arms), [a.detail for a in result.arms]
        reached = model.ee_poses(result.command)
        for name, (position, rotation) in model.ee_poses(q).items():
            errors.append(np.linalg.norm(reached[name][0] - position))
            angles.append(np.arccos(np.clip((np.trace(reached[name][1].T @ rotation) - 1) / 2, -1, 1)))
    assert np.median(errors) < 0.005 and np.percentile(errors, 95) < 0.01
    assert np.median(angles) < 0.02
    moved = max(np.linalg.norm(model.ee_poses(q)[n][0] - model.ee_poses(trajectory[0])[n][0])
                for q in trajectory for n in (a.name for a in model.arms))
    assert moved > 0.05                                    # the trajectory is not trivial


def test_motion_counts_from_engagement_and_is_scaled() -> None:
    retargeter, operator = setup("aloha")
    robot, arm = retargeter.robot, retargeter.robot.arms[0]
    home = robot.ee_poses(robot.home)
    person = hands_only(operator.person_pose(home))
    shifted = dataclasses.replace(person, points=person.points + [0.5, 0.0, 0.3])   # the hands sit elsewhere
    retargeter.step(PoseFrame(stamp(0), "camera", [shifted]), stamp(0) + LATENCY_NS)
    target = retargeter.input.targets[arm.name]
    np.testing.assert_allclose(target.position, home[arm.name][0], atol=1e-9)   # where the robot is: no jump
    assert retargeter.engage(True, stamp(0) + LATENCY_NS)[0]
    delta = np.array([0.0, -0.04, 0.0])                     # 4 cm up in the camera
    moved = dataclasses.replace(shifted, points=shifted.points + delta)
    retargeter.step(PoseFrame(stamp(1), "camera", [moved]), stamp(1) + LATENCY_NS)
    mount = rpy_matrix(retargeter.config.mapping.mounting_rpy)
    expected = home[arm.name][0] + retargeter.config.mapping.hand_scale * mount @ delta
    np.testing.assert_allclose(retargeter.input.targets[arm.name].position, expected, atol=1e-9)
    assert expected[2] > home[arm.name][0][2] + 0.03        # up in the camera is up for the robot


def test_the_pinch_drives_the_gripper() -> None:
    retargeter, operator = setup("aloha")
    robot = retargeter.robot
    retargeter.step(frame(operator, robot.home, 0), stamp(0) + LATENCY_NS)
    assert retargeter.engage(True, stamp(0) + LATENCY_NS)[0]
    for k in range(1, 40):
        result = retargeter.step(frame(operator, robot.home, k, {a.name: 0.0 for a in robot.arms}), stamp(k) + LATENCY_NS)
    assert all(a.gripper_opening < 0.05 for a in result.arms)


def test_arm_source_does_not_move_on_hands_alone() -> None:
    retargeter, operator = setup("aloha", source="arm")
    robot = retargeter.robot
    retargeter.step(PoseFrame(stamp(0), "camera", [operator.person_pose(robot.ee_poses(robot.home))]),
                    stamp(0) + LATENCY_NS)
    assert retargeter.engage(True, stamp(0) + LATENCY_NS)[0]
    trajectory = reachable_trajectory(robot, operator, frames=60, fps=FPS, seed=2)
    for k, q in enumerate(trajectory[1:], start=1):
        result = retargeter.step(frame(operator, q, k), stamp(k) + LATENCY_NS)
        # Held (the first input.bridge_s on to the last target, which is where it stands).
        assert all(a.reason == Reason.INPUT_INVALID and (a.held or "bridged" in a.detail) for a in result.arms)
        assert k / FPS <= retargeter.config.input.bridge_s or all(a.held for a in result.arms)
    np.testing.assert_allclose(result.command, robot.home, atol=0.01)   # held where the robot powered up


def test_hand_source_ignores_the_body() -> None:
    retargeter, operator = setup("aloha")
    person = operator.person_pose(retargeter.robot.ee_poses(retargeter.robot.home))
    body = PARTS[Part.BODY].slice
    person.points[body] = np.nan                             # a body that could not be read changes nothing
    arm = retargeter.robot.arms[0]
    at = retargeter.robot.ee_poses(retargeter.robot.home)[arm.name][0]   # where the end effector is
    target = retargeter.input.mapper.map_arm(person, arm, retargeter.robot.shoulders[arm.name], at)
    np.testing.assert_allclose(target.position, at)
    with pytest.raises(InputInvalid):
        hand = PARTS[Part.LEFT_HAND if arm.config.operator_side == "left" else Part.RIGHT_HAND].slice
        person.confidence[hand] = np.nan
        retargeter.input.mapper.rebase()
        retargeter.input.mapper.map_arm(person, arm, retargeter.robot.shoulders[arm.name], at)
