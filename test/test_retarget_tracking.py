"""Known-answer tracking: operator trajectories generated from the robot's own reachable poses
(real MuJoCo model, real mink IK, real check) must be followed; engagement rules hold."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from pose_retarget.config import EngageConfig, RetargetNodeConfig
from teleop_session.robot_loop import RobotInTheLoop
from pose_retarget.synthetic import SyntheticOperator, reachable_trajectory
from teleop_common.status import Reason

FPS = 30.0
START_NS = 5_000_000_000
LATENCY_NS = 15_000_000


def stamp(k: int) -> int:
    return START_NS + int(k / FPS * 1e9)


def setup(robot: str, **engage) -> tuple[RobotInTheLoop, SyntheticOperator]:
    config = RetargetNodeConfig(robot=robot, engage=EngageConfig(**engage))
    retargeter = RobotInTheLoop(config)
    return retargeter, SyntheticOperator(retargeter.robot, config.mapping, config.gripper)


@pytest.mark.parametrize("robot, seed", [("aloha", 0), ("aloha", 1), ("arm7", 0), ("arm7", 2)])
def test_reachable_trajectories_are_tracked(robot: str, seed: int) -> None:
    retargeter, operator = setup(robot)
    model = retargeter.robot
    trajectory = reachable_trajectory(model, operator, frames=240, fps=FPS, seed=seed)
    openings = lambda k: {arm.name: 0.5 + 0.5 * np.sin(k / 20.0) for arm in model.arms}
    retargeter.step(operator.frame(trajectory[0], stamp(0), openings(0)), stamp(0) + LATENCY_NS)
    assert retargeter.engage(True, stamp(0) + LATENCY_NS) == (True, "engaged")
    data = mujoco.MjData(model.model)
    position_errors, angle_errors, previous = [], [], retargeter.q.copy()
    for k, q in enumerate(trajectory[1:], start=1):
        result = retargeter.step(operator.frame(q, stamp(k), openings(k)), stamp(k) + LATENCY_NS)
        assert [arm.reason for arm in result.arms] == [Reason.OK] * len(model.arms)
        step = np.abs(result.command - previous)
        previous = result.command
        for arm in model.arms:
            assert step[arm.qpos].max() <= retargeter.config.safety.max_joint_step_rad + 1e-9
        # Independent answer: forward kinematics of the command against that of the generating pose.
        reached = model.ee_poses(result.command, data)
        for name, (position, rotation) in model.ee_poses(q, data).items():
            position_errors.append(np.linalg.norm(reached[name][0] - position))
            angle_errors.append(np.arccos(np.clip((np.trace(reached[name][1].T @ rotation) - 1) / 2, -1, 1)))
    assert np.median(position_errors) < 0.005
    assert np.percentile(position_errors, 95) < 0.01
    assert np.median(angle_errors) < 0.02


def test_gripper_follows_the_pinch() -> None:
    retargeter, operator = setup("aloha")
    home = retargeter.robot.home
    left = retargeter.robot.arms[0]
    retargeter.step(operator.frame(home, stamp(0), {"left": 1.0, "right": 1.0}), stamp(0) + LATENCY_NS)
    retargeter.engage(True, stamp(0) + LATENCY_NS)
    for k in range(1, 40):
        result = retargeter.step(operator.frame(home, stamp(k), {"left": 0.0, "right": 1.0}), stamp(k) + LATENCY_NS)
    assert result.arms[0].gripper_opening == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(result.arms[0].gripper_positions, left.gripper_closed[:1], atol=1e-6)  # one value
    # ... and at the robot both fingers close (the second one mimics the first).
    np.testing.assert_allclose(retargeter.state.measured.q[left.gripper_qpos], left.gripper_closed, atol=0.003)
    assert result.arms[1].gripper_opening == pytest.approx(1.0)


def test_disengaged_robot_does_not_move() -> None:
    retargeter, operator = setup("aloha")
    trajectory = reachable_trajectory(retargeter.robot, operator, frames=60, fps=FPS, seed=3)
    first = None
    for k, q in enumerate(trajectory):
        result = retargeter.step(operator.frame(q, stamp(k), None), stamp(k) + LATENCY_NS)
        assert not result.engaged
        np.testing.assert_array_equal(result.command, retargeter.state.measured.q)   # no command but where it is
        first = result.command if first is None else first
        np.testing.assert_allclose(result.command, first, atol=0.01)                 # ... and it stays there
        assert all(arm.held and arm.target_position is not None and arm.segment is None for arm in result.arms)


def far_pose(retargeter: RobotInTheLoop) -> np.ndarray:
    q = retargeter.robot.home.copy()
    for arm in retargeter.robot.arms:
        q[arm.qpos[1]] += 0.35          # shoulder forward: the end effector ~0.2 m away
    return q


def test_engage_refused_without_input_or_when_far() -> None:
    retargeter, operator = setup("aloha")
    ok, message = retargeter.engage(True, stamp(0))
    assert not ok and "no fresh" in message
    retargeter.step(operator.frame(far_pose(retargeter), stamp(0)), stamp(0) + LATENCY_NS)
    ok, message = retargeter.engage(True, stamp(0) + LATENCY_NS)
    assert not ok and "far" in message
    ok, message = retargeter.engage(True, stamp(0) + 10 ** 9)       # the pose is 1 s old by now
    assert not ok and "no fresh" in message
    assert retargeter.engage(False, stamp(1)) == (True, "disengaged")


def test_sync_mode_moves_slowly_to_the_operator() -> None:
    retargeter, operator = setup("aloha", mode="sync", sync_speed_scale=0.25)
    target = far_pose(retargeter)
    retargeter.step(operator.frame(target, stamp(0)), stamp(0) + LATENCY_NS)
    ok, message = retargeter.engage(True, stamp(0) + LATENCY_NS)
    assert ok and "slowly" in message and retargeter.syncing
    engage = retargeter.config.engage       # 0.25 of the speed at first, full speed after sync_ramp_s
    previous = retargeter.q.copy()
    for k in range(1, 120):
        result = retargeter.step(operator.frame(target, stamp(k)), stamp(k) + LATENCY_NS)
        if retargeter.syncing:
            scale = 0.25 + 0.75 * min(1.0, min(retargeter.syncing.values()) / engage.sync_ramp_s)
            assert np.abs(result.command - previous).max() <= scale * retargeter.config.safety.max_joint_step_rad + 1e-9
            if k <= 3:
                assert np.abs(result.command - previous).max() <= 0.35 * retargeter.config.safety.max_joint_step_rad
        previous = result.command
    assert not retargeter.syncing
    assert all(arm.reason == Reason.OK and arm.tracking_error < 0.005 for arm in result.arms)


def test_switching_operator_disengages() -> None:
    retargeter, operator = setup("aloha")
    home = retargeter.robot.home
    retargeter.step(operator.frame(home, stamp(0)), stamp(0) + LATENCY_NS)
    assert retargeter.engage(True, stamp(0) + LATENCY_NS)[0]
    frame = operator.frame(home, stamp(1))
    frame.poses[0].track_id = 9                       # the operator left; someone else is there, 1 m aside
    frame.poses[0].points[:, 0] += 1.0
    for k in range(1, 45):
        frame.stamp_ns = stamp(k)
        result = retargeter.step(frame, stamp(k) + LATENCY_NS)
    assert result.operator_track_id == 9 and not result.engaged


@pytest.mark.parametrize("robot", ["aloha", "arm7"])
def test_robot_follows_the_commands(robot: str) -> None:
    """The robot process's core (MuJoCo, JTC-like followers) in the loop ends where it was commanded."""
    retargeter, operator = setup(robot)
    trajectory = reachable_trajectory(retargeter.robot, operator, frames=150, fps=FPS, seed=4)
    retargeter.step(operator.frame(trajectory[0], stamp(0)), stamp(0) + LATENCY_NS)
    assert retargeter.engage(True, stamp(0) + LATENCY_NS)[0]
    for k, q in enumerate([*trajectory[1:], *[trajectory[-1]] * 15], start=1):   # then half a second still
        result = retargeter.step(operator.frame(q, stamp(k)), stamp(k) + LATENCY_NS)
        assert all(arm.reason == Reason.OK for arm in result.arms)
    measured = retargeter.state.measured.q
    for arm, commanded in zip(retargeter.robot.arms, result.arms):
        assert np.abs(measured[arm.qpos] - commanded.positions).max() < 0.05
        assert np.abs(measured[arm.gripper_command_qpos] - commanded.gripper_positions).max() < 0.01
