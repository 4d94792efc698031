"""An engaged robot in `mapping.source: arm` does not move on real hand-only footage: the real
estimator runs on the clip's frames and its poses go to the retargeting core.  The worst case is set
up: the operator's track id is the id the estimator gives whatever it sees in the clip, and the
clip starts while the operator is still fresh, so a phantom body would inherit the engagement.
With `mapping.source: hand` the same footage does drive the robot, within its speed limits."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pose_retarget.config import RetargetNodeConfig
from teleop_session.robot_loop import RobotInTheLoop
from pose_retarget.synthetic import SyntheticOperator
from teleop_common.pose import PoseFrame
from teleop_common.status import Reason

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"   # not shipped: development clips
HAND_CLIPS = ["hand_open_palm_turning_no_face__mediapipe-samples.mp4",
              "hand_only_fist_then_open_palm__tf-examples-pr427.mp4"]
EVERY = 2                      # every other frame: the clip's motion at half the cost
LATENCY_NS = 30_000_000
SETTLE_RAD = 0.02              # measured vs a held setpoint: the simulated controllers' sag and jitter


@pytest.fixture(scope="module")
def estimator():
    """Configured like the pose node (config/whole_body_pose.yaml: phantom rejection, temporal model)."""
    from teleop_common.config import load
    from teleop_session.graph import CONFIG_DIR, WHOLE_BODY_POSE
    from whole_body_pose.pipeline import build_estimator

    return build_estimator(load(WHOLE_BODY_POSE.load_config_class(), CONFIG_DIR / WHOLE_BODY_POSE.config_file))


def clip_frames(estimator, path: Path) -> list[PoseFrame]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    estimator.reset()
    frames, index = [], 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % EVERY == 0:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append(estimator.process(rgb, int(index / fps * 1e9), "camera", None))
        index += 1
    assert frames, f"no frame decoded from {path}"
    return frames


@pytest.mark.parametrize("name", HAND_CLIPS)
def test_engaged_arm_source_does_not_move_on_a_hand_only_clip(estimator, name: str) -> None:
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"real hand-only clip missing: {path} (development media, see ../shared/media/SOURCES.md)")
    config = RetargetNodeConfig()
    assert config.mapping.source == "arm"
    retargeter = RobotInTheLoop(config)
    robot = retargeter.robot
    frames = clip_frames(estimator, path)
    ids = [p.track_id for f in frames for p in f.poses]
    operator = SyntheticOperator(robot, config.mapping, config.gripper)
    person = operator.person_pose(robot.ee_poses(robot.home), track_id=ids[0] if ids else 1)
    start_ns = 10_000_000_000
    for k in range(3):                                     # the operator, at the robot's pose, engages
        stamp = start_ns + k * 33_000_000
        retargeter.step(PoseFrame(stamp, "camera", [person]), stamp + LATENCY_NS)
    assert retargeter.engage(True, stamp + LATENCY_NS) == (True, "engaged")
    engaged_at = retargeter.q.copy()                      # the measured pose it engaged from: the setpoint
    arms = {arm.name: arm for arm in robot.arms}
    clip_start = stamp + 33_000_000
    seen = sent = 0
    for frame in frames:                                   # ... and the hand fills the camera's view
        stamp = clip_start + frame.stamp_ns
        result = retargeter.step(dataclasses.replace(frame, stamp_ns=stamp), stamp + LATENCY_NS)
        seen += bool(frame.poses)
        assert all(a.reason in (Reason.INPUT_INVALID, Reason.INPUT_STALE) and a.held for a in result.arms), \
            [(a.name, a.reason.name, a.detail) for a in result.arms]
        # Not driven: every command sent (engaged) goes to the setpoint it engaged at, the grippers too.
        # (Once the unseen operator is forgotten the robot disengages: no command, the setpoint follows the
        # measured state, as it does whenever disengaged.)
        for a in result.arms:
            if a.segment is None:
                continue
            sent += 1
            np.testing.assert_array_equal(a.segment.goal, engaged_at[arms[a.name].qpos], err_msg=a.name)
            np.testing.assert_array_equal(a.positions, engaged_at[arms[a.name].qpos], err_msg=a.name)
            assert a.gripper_opening == pytest.approx(arms[a.name].gripper_opening(engaged_at), abs=1e-9), a.name
        if result.engaged:
            np.testing.assert_array_equal(result.command, engaged_at)
        # The robot process measures its joints (MuJoCo physics): under gravity its controllers settle
        # ~0.009 rad off a constant setpoint; an arm driven by the clip would move far more (up to its
        # max_velocity, rad/s, each frame), and the core itself calls 0.2 rad a divergence.
        np.testing.assert_allclose(retargeter.state.measured.q, engaged_at, rtol=0, atol=SETTLE_RAD)
    assert sent, "no command was sent while engaged: nothing checked"
    print(f"{name}: {len(frames)} frames, {seen} with someone in the estimator's output, robot did not move")


def test_hand_source_follows_a_real_hand_alone(estimator) -> None:
    """mapping.source hand on the palm clip: the hand-only person's right hand drives the right arm,
    at the joint speed limits at most, without contact, and it does move."""
    path = MEDIA / HAND_CLIPS[0]
    if not path.is_file():
        pytest.skip(f"real hand-only clip missing: {path} (development media, see ../shared/media/SOURCES.md)")
    from teleop_common.layout import Part

    base = RetargetNodeConfig()
    config = dataclasses.replace(base, mapping=dataclasses.replace(base.mapping, source="hand"),
                                 engage=dataclasses.replace(base.engage, mode="sync"))
    retargeter = RobotInTheLoop(config)
    robot = retargeter.robot
    arm = next(a for a in robot.arms if a.config.operator_side == "right")
    frames = clip_frames(estimator, path)
    hand_only = [f for f in frames if any(Part.BODY not in p.present and Part.RIGHT_HAND in p.present for p in f.poses)]
    assert len(hand_only) >= len(frames) // 2, f"hand-only people in {len(hand_only)} of {len(frames)} frames"
    start_ns, previous, travel, ok, engaged_at = 10_000_000_000, robot.home.copy(), 0.0, 0, len(frames)
    first_ee = robot.ee_poses(robot.home)[arm.name][0]
    for k, frame in enumerate(frames):
        stamp = start_ns + frame.stamp_ns
        result = retargeter.step(dataclasses.replace(frame, stamp_ns=stamp), stamp + LATENCY_NS)
        if not retargeter.engaged and retargeter.engage(True, stamp + LATENCY_NS)[0]:
            engaged_at = k
        dt = result.dt
        assert np.all(np.abs(result.command[arm.qpos] - previous[arm.qpos]) <= arm.max_velocity * dt + 1e-6)
        previous = result.command
        status = next(a for a in result.arms if a.name == arm.name)
        ok += status.reason == Reason.OK
        ee = robot.ee_poses(result.command)[arm.name][0]
        travel = max(travel, float(np.linalg.norm(ee - first_ee)))
    assert retargeter.engaged and engaged_at < len(frames) // 2
    assert travel > 0.02 and ok > 0, (travel, ok)
    print(f"hand source: hand-only in {len(hand_only)}/{len(frames)} frames, engaged at frame {engaged_at}, "
          f"right end effector travelled up to {travel:.3f} m, {ok} frames OK")
