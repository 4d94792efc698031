"""Unsafe targets and bad input: blocked, clamped or held, never a jump or a crash (real MuJoCo
models, real mink IK), for both robot shapes.  Penetration is measured independently."""
from __future__ import annotations

import dataclasses
import math

import mujoco
import numpy as np
import pytest

from pose_retarget.config import RetargetNodeConfig
from pose_retarget.ik import ArmIK
from pose_retarget.mapping import ArmTarget, driving_side
from pose_retarget.robot import Robot
from robot_model.config import load_robot_config
from teleop_session.robot_loop import RobotInTheLoop
from pose_retarget.synthetic import SyntheticOperator
from teleop_common.layout import BODY, PARTS, Part
from teleop_common.pose import PoseFrame
from teleop_common.status import Reason

FPS = 30.0
START_NS = 5_000_000_000
LATENCY_NS = 15_000_000
PENETRATION = RetargetNodeConfig().safety.penetration_m
ROBOTS = ["aloha", "arm7"]


def stamp(k: int) -> int:
    return START_NS + int(k / FPS * 1e9)


class Session:
    """An engaged retargeter at home, and an operator to pose it."""

    def __init__(self, robot: str, bridge_s: float | None = None, floor: bool = True) -> None:
        config = RetargetNodeConfig(robot=robot)
        if bridge_s is not None:
            config = dataclasses.replace(config, input=dataclasses.replace(config.input, bridge_s=bridge_s))
        robot_config = load_robot_config(robot, config.robots_dir)
        if not floor:                              # targets below the table top are left where they are
            robot_config = dataclasses.replace(robot_config, min_target_z=-math.inf)
        self.retargeter = RobotInTheLoop(config, Robot(robot_config))
        self.robot = self.retargeter.robot
        self.arm = self.robot.arms[0]              # the arm the tests move ('left' on ALOHA)
        self.operator = SyntheticOperator(self.robot, config.mapping, config.gripper)
        self.home_poses = self.robot.ee_poses(self.robot.home)
        self.k = 0
        self.step(self.home_poses)
        assert self.retargeter.engage(True, stamp(0) + LATENCY_NS)[0]

    def frame(self, poses=None, people=None) -> PoseFrame:
        people = [self.operator.person_pose(poses)] if people is None else people
        return PoseFrame(stamp_ns=stamp(self.k), frame_id="camera", poses=people)

    def step(self, poses=None, people=None, frame: PoseFrame | None = None):
        frame = frame or self.frame(poses, people)
        result = self.retargeter.step(frame, stamp(self.k) + LATENCY_NS)
        self.k += 1
        return result

    def moved(self, position: np.ndarray) -> dict:
        """Home poses, with the first arm's target at `position` (home orientation)."""
        return dict(self.home_poses, **{self.arm.name: (position, self.home_poses[self.arm.name][1])})


def penetration(robot, q: np.ndarray) -> float:
    """Deepest contact of the configuration, contacts inside one gripper excepted."""
    data = mujoco.MjData(robot.model)
    data.qpos[:] = q
    mujoco.mj_forward(robot.model, data)
    depth = 0.0
    for contact in data.contact[: data.ncon]:
        if not any(contact.geom1 in arm.gripper_geoms and contact.geom2 in arm.gripper_geoms for arm in robot.arms):
            depth = max(depth, -contact.dist)
    return depth


def hold_target(session: Session, position: np.ndarray, frames: int):
    results = []
    for _ in range(frames):
        results.append(session.step(session.moved(position)))
        assert penetration(session.robot, results[-1].command) <= PENETRATION
    return results


# Into the table top (z = 0), chosen within the operator's reach for each robot.
TABLE_TARGETS = {"aloha": [0.0, 0.0, -0.04], "arm7": [0.0, -0.09, -0.03]}


@pytest.mark.parametrize("robot", ROBOTS)
def test_target_inside_the_table_is_blocked(robot: str) -> None:
    """Without the robot's min_target_z the target stays in the table: the collision check stops the arm."""
    session = Session(robot, floor=False)
    start = session.home_poses[session.arm.name][0]
    results = hold_target(session, start * [1, 1, 0] + TABLE_TARGETS[robot], frames=90)
    assert results[-1].arms[0].reason == Reason.COLLISION
    reached = session.robot.ee_poses(results[-1].command)[session.arm.name][0]
    assert 0.0 < reached[2] < start[2] - 0.15                    # it went down, and stopped above the table
    assert all(a.reason == Reason.OK for r in results for a in r.arms[1:])


@pytest.mark.parametrize("robot", ROBOTS)
def test_target_below_the_table_top_is_raised_onto_it(robot: str) -> None:
    """A hand below the table top drives the gripper onto the table (min_target_z), clamped, and the arm
    gets there: it follows the projection instead of pressing against the contact check."""
    session = Session(robot)
    floor = session.robot.config.min_target_z
    start = session.home_poses[session.arm.name][0]
    results = hold_target(session, start * [1, 1, 0] + TABLE_TARGETS[robot], frames=90)
    last = results[-1].arms[0]
    assert last.reason == Reason.OUT_OF_REACH and last.clamped and not last.held
    assert last.target_position is not None
    reached = session.robot.ee_poses(results[-1].command)[session.arm.name][0]
    assert floor - 0.01 <= reached[2] < start[2] - 0.1 and last.tracking_error < 0.05   # down, onto the floor
    assert all(a.reason == Reason.OK for r in results for a in r.arms[1:])


def test_target_inside_the_other_arm_is_blocked() -> None:
    session = Session("aloha")
    right_tcp = session.home_poses["right"][0]
    results = hold_target(session, right_tcp, frames=90)
    assert results[-1].arms[0].reason == Reason.COLLISION
    reached = session.robot.ee_poses(results[-1].command)
    assert np.linalg.norm(reached["left"][0] - session.home_poses["left"][0]) > 0.15   # it went there ...
    data = mujoco.MjData(session.robot.model)                                          # ... and stopped short
    data.qpos[:] = results[-1].command
    mujoco.mj_kinematics(session.robot.model, data)
    left, right = session.robot.arms
    gap = min(mujoco.mj_geomDistance(session.robot.model, data, a, b, 1.0, None)
              for a in left.geoms for b in right.geoms
              if session.robot.model.geom_contype[a] and session.robot.model.geom_contype[b])
    assert gap > 0.003


@pytest.mark.parametrize("robot", ROBOTS)
def test_unreachable_target_is_clamped_not_held(robot: str) -> None:
    session = Session(robot)
    arm = session.arm
    shoulder = session.robot.shoulders[arm.name]
    anchor = session.robot.anchors[arm.name]
    away = (anchor - shoulder) / np.linalg.norm(anchor - shoulder)
    target = anchor + 0.98 * arm.config.reach * away          # the operator can point there, the arm cannot reach
    assert np.linalg.norm(target - shoulder) > arm.config.max_reach + 0.3
    results = hold_target(session, target, frames=90)
    first = results[0].arms[0]
    assert first.reason == Reason.OUT_OF_REACH and not first.held
    assert all(r.arms[0].reason in (Reason.OUT_OF_REACH, Reason.SINGULARITY) for r in results)
    reached = session.robot.ee_poses(results[-1].command)[arm.name][0]
    assert np.linalg.norm(reached - shoulder) <= arm.config.max_reach + 1e-3
    assert np.linalg.norm(reached - target) < np.linalg.norm(session.home_poses[arm.name][0] - target) - 0.1


@pytest.mark.parametrize("robot", ROBOTS)
def test_stale_and_repeated_frames_hold(robot: str) -> None:
    session = Session(robot)
    moved = session.moved(session.home_poses[session.arm.name][0] + [0.0, 0.03, 0.0])
    before = session.step(moved).command
    used = stamp(session.k - 1)
    old = session.frame(moved)
    old.stamp_ns -= 300_000_000                            # 0.3 s old > stale_timeout_s
    result = session.step(frame=old)
    assert all(a.reason == Reason.INPUT_STALE and a.held for a in result.arms)
    np.testing.assert_array_equal(result.command, before)
    repeated = session.frame(moved)
    repeated.stamp_ns = used                               # same stamp as the last frame used
    assert session.step(frame=repeated).arms[0].reason == Reason.INPUT_STALE
    result = session.step(moved)
    assert result.arms[0].reason == Reason.OK and not result.arms[0].held


def spoiled(session: Session, case: str) -> list:
    person = session.operator.person_pose(session.home_poses)
    if case == "empty":
        return []
    if case == "all_nan":
        person.points[:] = np.nan
        person.confidence[:] = 0.0
    elif case == "inf_wrist":
        person.points[BODY["left_wrist"]] = person.points[BODY["right_wrist"]] = [np.inf, 0.0, 1.0]
    elif case == "right_hidden":                  # half visible: the person's right side is cut off
        hand = PARTS[Part.RIGHT_HAND]
        for index in [BODY[n] for n in BODY if n.startswith("right_")] + list(range(hand.start, hand.start + hand.size)):
            person.points[index] = np.nan
            person.confidence[index] = 0.0
    elif case == "low_confidence":
        person.confidence[:] = 0.2
    elif case == "out_of_range":
        person.points[:, 2] += 100.0
    return [person]


@pytest.mark.parametrize("robot", ROBOTS)
@pytest.mark.parametrize("case", ["empty", "all_nan", "inf_wrist", "right_hidden", "low_confidence", "out_of_range"])
def test_bad_input_holds_without_crashing(robot: str, case: str) -> None:
    session = Session(robot, bridge_s=0.0)                  # no bridging: it holds from the first bad frame
    before = session.step(session.home_poses).command
    result = session.step(people=spoiled(session, case))
    for arm_result, arm in zip(result.arms, session.robot.arms):
        expected_invalid = case != "right_hidden" or arm.config.operator_side == "right"
        if expected_invalid:
            assert arm_result.reason == Reason.INPUT_INVALID and arm_result.held and arm_result.detail
            np.testing.assert_array_equal(result.command[arm.qpos], before[arm.qpos])
        else:                                     # the visible arm keeps working
            assert arm_result.reason == Reason.OK


@pytest.mark.parametrize("robot", ROBOTS)
def test_no_jump_after_input_returns_far_away(robot: str) -> None:
    session = Session(robot)
    far = session.moved(session.home_poses[session.arm.name][0] + [0.1, 0.1, -0.1])
    for _ in range(7):                                    # operator gone for a quarter of a second (back
        session.step(people=[])                           # within operator.reacquire_timeout_s: the same person)
    previous = session.retargeter.q.copy()
    result = session.step(far)
    assert session.arm.name in session.retargeter.syncing      # the returning arm re-syncs at reduced speed
    for _ in range(120):
        assert np.abs(result.command - previous).max() <= session.retargeter.config.safety.max_joint_step_rad + 1e-9
        previous = result.command
        result = session.step(far)
    assert result.arms[0].tracking_error < 0.01 and not session.retargeter.syncing


@pytest.mark.parametrize("robot", ROBOTS)
def test_infeasible_ik_holds_the_last_safe_configuration(robot: str) -> None:
    session = Session(robot)
    arm = session.arm
    outside = session.robot.home.copy()
    outside[arm.qpos[1]] = arm.lower[1] - 0.1             # a state the limits cannot be met from in one step
    ik = ArmIK(session.robot, session.retargeter.config.ik)
    assert ik.solve(outside, {arm.name: session.home_poses[arm.name]}, dt=0.002) is None
    session.retargeter.q = outside.copy()
    frame = session.frame(session.home_poses)
    result = session.retargeter.step(frame, stamp(session.k - 1) + LATENCY_NS + 2_000_000)  # min_dt_s after the last
    assert result.arms[0].held and result.arms[0].reason == Reason.JOINT_LIMIT
    np.testing.assert_array_equal(result.command, outside)


# --- the MuJoCo check on its own (candidates that the IK would not produce) -------------------------


def target_at(robot, arm, q: np.ndarray) -> dict[str, ArmTarget]:
    position, rotation = robot.ee_poses(q)[arm.name]
    return {arm.name: ArmTarget(position, rotation, 1.0, False)}


TIP_FORWARD = {"aloha": (1, +0.005), "arm7": (1, -0.005)}     # (joint index, step) that lowers the gripper


@pytest.mark.parametrize("robot", ROBOTS)
def test_check_holds_a_candidate_that_penetrates_the_table(robot: str) -> None:
    session = Session(robot)
    check, model, arm = session.retargeter.check, session.robot, session.arm
    joint, step = TIP_FORWARD[robot]
    q = model.home.copy()
    while penetration(model, q) <= PENETRATION:           # tip the arm forward until it digs in
        previous = q.copy()
        q[arm.qpos[joint]] += step
    check.reset(previous)
    commanded, verdicts = check.evaluate(previous, q, target_at(model, arm, q), dt=0.1)
    assert verdicts[arm.name].reason == Reason.COLLISION and verdicts[arm.name].held
    np.testing.assert_array_equal(commanded, previous)


@pytest.mark.parametrize("robot", ROBOTS)
def test_check_holds_joint_limit_and_speed_violations(robot: str) -> None:
    session = Session(robot)
    check, model, arm = session.retargeter.check, session.robot, session.arm
    current = model.home.copy()
    current[arm.qpos[2]] = arm.upper[2] - 0.005
    check.reset(current)
    beyond = current.copy()
    beyond[arm.qpos[2]] = arm.upper[2] + 0.02
    commanded, verdicts = check.evaluate(current, beyond, target_at(model, arm, beyond), dt=0.1)
    assert verdicts[arm.name].reason == Reason.JOINT_LIMIT and verdicts[arm.name].held
    np.testing.assert_array_equal(commanded, current)
    fast = model.home.copy()
    fast[arm.qpos[0]] += 0.09                              # 9 rad/s over 10 ms; the limit is 2 rad/s
    check.reset(model.home)
    commanded, verdicts = check.evaluate(model.home, fast, target_at(model, arm, fast), dt=0.01)
    assert verdicts[arm.name].reason == Reason.JOINT_LIMIT and verdicts[arm.name].held


@pytest.mark.parametrize("robot", ROBOTS)
def test_check_limits_the_step_per_cycle(robot: str) -> None:
    session = Session(robot)
    check, model, arm = session.retargeter.check, session.robot, session.arm
    big = model.home.copy()
    big[arm.qpos[0]] += 0.5
    commanded, verdicts = check.evaluate(model.home, big, target_at(model, arm, big), dt=0.1)
    assert not verdicts[arm.name].held and verdicts[arm.name].reason == Reason.OK     # moving towards it
    assert commanded[arm.qpos[0]] - model.home[arm.qpos[0]] == pytest.approx(0.1)


# (joint index whose zero is singular, angle before / after slowing down, before / after stopping)
SINGULAR = {"aloha": (4, (-0.2, -0.1), (-0.08, -0.04)),        # wrist_angle: forearm_roll and wrist_rotate align
            "arm7": (3, (-0.3, -0.2), (-0.15, -0.08))}         # elbow stretched


@pytest.mark.parametrize("robot", ROBOTS)
def test_singularity_slows_down_then_stops(robot: str) -> None:
    session = Session(robot)
    check, model, arm = session.retargeter.check, session.robot, session.arm
    joint, (start, nearer), (close, singular) = SINGULAR[robot]

    def at(angle: float) -> np.ndarray:
        q = model.home.copy()
        q[arm.qpos[joint]] = angle
        return q

    check.reset(at(nearer))
    assert model.config.singularity_slow < check.condition(arm) < model.config.singularity_stop
    check.reset(at(start))
    commanded, verdicts = check.evaluate(at(start), at(nearer), target_at(model, arm, at(nearer)), dt=0.1)
    assert verdicts[arm.name].reason == Reason.SINGULARITY and not verdicts[arm.name].held
    assert start < commanded[arm.qpos[joint]] < nearer                  # slowed down
    check.reset(at(singular))
    assert check.condition(arm) > model.config.singularity_stop
    check.reset(at(close))
    commanded, verdicts = check.evaluate(at(close), at(singular), target_at(model, arm, at(singular)), dt=0.1)
    assert verdicts[arm.name].reason == Reason.SINGULARITY and verdicts[arm.name].held
    np.testing.assert_array_equal(commanded, at(close))
    check.reset(at(singular))                                          # moving away is allowed
    commanded, verdicts = check.evaluate(at(singular), at(close), target_at(model, arm, at(close)), dt=0.1)
    assert verdicts[arm.name].reason == Reason.OK
    np.testing.assert_array_equal(commanded, at(close))


@pytest.mark.parametrize("robot", ["aloha"])
def test_engage_with_one_arm_out_of_view_then_it_joins_slowly(robot: str) -> None:
    """Half-visible operator: the visible arm engages; the hidden one holds, then re-syncs without a jump."""
    config = RetargetNodeConfig(robot=robot)
    retargeter = RobotInTheLoop(config)
    session = Session.__new__(Session)
    session.retargeter, session.robot = retargeter, retargeter.robot
    session.arm = session.robot.arms[0]
    session.operator = SyntheticOperator(session.robot, config.mapping, config.gripper)
    session.home_poses = session.robot.ee_poses(session.robot.home)
    session.k = 0
    hidden = next(arm for arm in session.robot.arms if arm.config.operator_side == "right")
    session.step(people=spoiled(session, "right_hidden"))
    ok, message = retargeter.engage(True, stamp(0) + LATENCY_NS)
    assert ok and hidden.name in message
    result = session.step(people=spoiled(session, "right_hidden"))
    by_name = {arm.name: arm for arm in result.arms}
    assert result.engaged and by_name[hidden.name].reason == Reason.INPUT_INVALID and by_name[hidden.name].held
    assert all(by_name[a.name].reason == Reason.OK for a in session.robot.arms if a is not hidden)
    # The hidden arm's input comes back somewhere else: it moves there at reduced speed, never in a jump.
    home_position, home_rotation = session.home_poses[hidden.name]
    away = dict(session.home_poses, **{hidden.name: (home_position + [-0.1, -0.1, 0.1], home_rotation)})  # reachable
    previous = retargeter.q.copy()
    result = session.step(away)
    assert hidden.name in retargeter.syncing
    steps = []
    for _ in range(150):
        steps.append(np.abs(result.command[hidden.qpos] - previous[hidden.qpos]).max())
        previous = result.command
        if hidden.name not in retargeter.syncing:
            break
        result = session.step(away)
    assert hidden.name not in retargeter.syncing, "the returning arm never reached the operator's pose"
    engage = config.engage     # from sync_speed_scale, rising to full speed over sync_ramp_s
    for k, step in enumerate(steps):
        ramp = min(1.0, (k + 1) / FPS / engage.sync_ramp_s)
        scale = engage.sync_speed_scale + (1.0 - engage.sync_speed_scale) * ramp
        assert step <= config.safety.max_joint_step_rad * scale + 1e-6, (k, step, scale)


@pytest.mark.parametrize("robot", ROBOTS)
def test_a_wrist_missed_for_a_frame_is_bridged_then_held(robot: str) -> None:
    """input.bridge_s: an arm whose keypoints turn invalid keeps moving to its last target (reported
    INPUT_INVALID, not held, with why); past bridge_s it holds; when the input returns within the window
    the arm goes on at full speed (it does not re-sync slowly)."""
    session = Session(robot)
    far = session.moved(session.home_poses[session.arm.name][0] + [0.0, 0.0, 0.08])
    session.step(far)                                      # the operator moves: the arm starts towards it

    def wrist_missed() -> list:
        person = session.operator.person_pose(far)
        person.confidence[BODY[f"{driving_side(session.arm, session.retargeter.input.mapper.mirror)}_wrist"]] = 0.0
        return [person]

    bridge_frames = int(session.retargeter.config.input.bridge_s * FPS)
    moving = []
    for _ in range(bridge_frames):
        result = session.step(people=wrist_missed())
        arm = result.arms[0]
        assert arm.reason != Reason.OK and not arm.held and "bridged" in arm.detail    # INPUT_INVALID, or what
        moving.append(result.command[session.arm.qpos].copy())
    assert np.abs(np.diff(moving, axis=0)).max() > 1e-3      # it went on moving towards the last target
    result = session.step(people=wrist_missed())            # beyond the window: held
    assert result.arms[0].reason == Reason.INPUT_INVALID and result.arms[0].held and "bridged" not in result.arms[0].detail
    session = Session(robot)
    session.step(far)
    session.step(people=wrist_missed())                    # one frame missed, then back
    session.step(far)
    assert session.arm.name not in session.retargeter.syncing
