"""Only the engaged operator drives the robot, on real footage of two people (../shared/media), over
real DDS: the real estimator turns the clips into pose messages, the real pose_retarget_node answers.

The operator (the man of the ASL "want" clip) is engaged and leaves; half a second later another
person (the woman of the ASL "walk" clip, filmed by the same kind of webcam at about the same place
and size) is there.  She must never drive the robot, and the robot disengages.  The control: the
same operator gone for a fifth of a second comes back (under a new track id: the pose node never
reuses one) and drives again without a new engage."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rclpy
from conftest import spin_until
from test_retarget_access import commands, make_retarget_node  # noqa: F401 - fixture
from test_retarget_node import Client
from whole_body_teleop.msg import ArmStatus

from teleop_common.layout import Part
from teleop_common.pose import PoseFrame
from teleop_common.pose_msgs import frame_to_msg

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
OPERATOR = "upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv"
STRANGER = "upper_body_both_arms_open_wide_asl_walk__intel.mkv"
FPS = 30.0
LOADED = {"input.stale_timeout_s": 1.0}   # frames published behind their schedule are still read


def clip(name: str) -> list[np.ndarray]:
    import cv2

    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"real clip missing: {path} (development media, see ../shared/media/SOURCES.md)")
    capture, images = cv2.VideoCapture(str(path)), []
    while (read := capture.read())[0]:
        images.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
    return images


@pytest.fixture(scope="module")
def scenes():
    """Pose frames of both scenes, from the real estimator configured like the pose node."""
    from teleop_common.config import load
    from teleop_session.graph import CONFIG_DIR, WHOLE_BODY_POSE
    from whole_body_pose.pipeline import build_estimator

    estimator = build_estimator(load(WHOLE_BODY_POSE.load_config_class(), CONFIG_DIR / WHOLE_BODY_POSE.config_file))
    operator, stranger = clip(OPERATOR), clip(STRANGER)
    blank = np.zeros_like(operator[0])

    def run(images: list[np.ndarray]) -> list[PoseFrame]:
        estimator.reset()                        # a new scene; track ids still never repeat
        return [estimator.process(image, int(i / FPS * 1e9), "camera", None) for i, image in enumerate(images)]

    half = len(operator) // 2
    return {"stranger": run(operator + [blank] * int(0.5 * FPS) + stranger[:60]),
            "operator back": run(operator[:half] + [blank] * int(0.2 * FPS) + operator[half:]),
            "operator frames": len(operator), "half": half}


def seen(frame: PoseFrame) -> list[int]:
    return [p.track_id for p in frame.poses if Part.BODY in p.present]


def play(client: Client, frames: list[PoseFrame], answered_ns: list[int] | None = None) -> list:
    """Publish the frames on the clip's own schedule, stamped with it (from now on the node's clock):
    gaps between frames are the clip's.  Returns the status answering each (and appends to `answered_ns`
    the clock's time when each answer was in: the next frame is published only after it)."""
    clock = client.node.get_clock()
    start, answers = clock.now().nanoseconds + 50_000_000, []
    for k, frame in enumerate(frames):
        stamp = start + int(k / FPS * 1e9)
        spin_until(client.nodes, lambda: clock.now().nanoseconds >= stamp, timeout_s=10)
        client.publisher.publish(frame_to_msg(PoseFrame(stamp, frame.frame_id, frame.poses)))
        answered = lambda: any(rclpy.time.Time.from_msg(s.header.stamp).nanoseconds == stamp
                               for s in client.received["status"][-5:])
        assert spin_until(client.nodes, answered, timeout_s=10), "no status for a pose message"
        answers.append(next(s for s in client.received["status"][-5:]
                            if rclpy.time.Time.from_msg(s.header.stamp).nanoseconds == stamp))
        if answered_ns is not None:
            answered_ns.append(clock.now().nanoseconds)
    return answers


def engage_on(client: Client, frames: list[PoseFrame]) -> None:
    play(client, frames)
    response = client.engage(True)
    assert response.success, response.message


def test_a_second_person_at_the_operators_place_never_drives(ros_node, make_retarget_node, robot_node, scenes):
    frames, n = scenes["stranger"], scenes["operator frames"]
    operator_ids = {i for f in frames[:n] for i in seen(f)}
    stranger_ids = {i for f in frames[n:] for i in seen(f)}
    assert len(operator_ids) == 1 and stranger_ids and not operator_ids & stranger_ids
    assert sum(bool(seen(f)) for f in frames[-40:]) >= 35      # she is there, seen, while the test watches

    node = make_retarget_node(**LOADED, **{"engage.mode": "sync"})
    client = Client(ros_node("pose_source"), node, robot_node)
    assert spin_until(client.nodes, client.connected, timeout_s=10)
    engage_on(client, frames[:8])
    answered_ns: list[int] = []
    answers = play(client, frames[8:], answered_ns)
    assert spin_until(client.nodes, lambda: len(commands(client)) > 0, timeout_s=5)
    spin_until(client.nodes, lambda: False, timeout_s=0.3)     # commands still in flight on their own topics
    last_seen = max(k for k, f in enumerate(frames[8:]) if set(seen(f)) & operator_ids)
    # Every status while engaged names the operator's track, never hers ...
    assert all(s.operator_track_id in operator_ids for s in answers if s.engaged)
    # ... the robot stays where the operator left it: every goal sent after his last frame is one and the same,
    # the one his frames set (a hold sends it again, or none; it may be the first sent after him, as a cycle
    # sends nothing while its arm's last segment has not started).  Each command is stamped with its segment's
    # start, state.max_delay_s after it was computed; those for his frames were computed before his last
    # answer was in, those for later frames after (the next frame is published only then).
    her_first = min(k for k, f in enumerate(frames[8:]) if set(seen(f)) & stranger_ids)
    assert answers[her_first].engaged                              # she came while the robot was still engaged
    split_ns = answered_ns[last_seen] + int(node.config.state.max_delay_s * 1e9)
    sent = [(rclpy.time.Time.from_msg(m.header.stamp).nanoseconds, list(m.points[-1].positions))
            for m in client.received["left/joint_trajectory"]]
    his = [goal for start_ns, goal in sent if start_ns <= split_ns]
    since = [goal for start_ns, goal in sent if start_ns > split_ns]
    assert his and all(goal == since[0] for goal in since)
    # ... and disengages once the operator is gone for operator.lost_timeout_s.
    # (Then she may be chosen, disengaged: driving needs her own engage.)
    assert not answers[-1].engaged and node.counters["disengaged"] == 1
    # Held while engaged: her input refused (INPUT_INVALID), frames read too late on a loaded machine
    # (INPUT_STALE), or the robot's state holding the arm (STATE_*); never tracking (OK).
    held = {ArmStatus.INPUT_INVALID, ArmStatus.INPUT_STALE, ArmStatus.STATE_STALE, ArmStatus.STATE_DIVERGED}
    assert all(a.reason in held for s in answers[her_first:] if s.engaged for a in s.arms)


def test_the_operator_back_within_the_reacquire_time_drives_again(ros_node, make_retarget_node, robot_node, scenes):
    frames, half = scenes["operator back"], scenes["half"]
    before_ids = {i for f in frames[:half] for i in seen(f)}
    after_ids = {i for f in frames[half + 6:] for i in seen(f)}
    assert len(before_ids) == 1 and after_ids and not before_ids & after_ids   # a new id after the gap

    # Identity judges the frames' stamps (the clip's schedule); the node's clock may lag it on a loaded
    # machine, so its own timeouts are loosened here: only operator.reacquire_timeout_s decides.
    node = make_retarget_node(**LOADED, **{"engage.mode": "sync", "operator.lost_timeout_s": 3.0})
    client = Client(ros_node("pose_source"), node, robot_node)
    assert spin_until(client.nodes, client.connected, timeout_s=10)
    engage_on(client, frames[:8])
    answers = play(client, frames[8:])
    assert all(s.engaged for s in answers)                        # never disengaged
    assert answers[-1].operator_track_id in after_ids              # the new id is the operator
    assert any(a.reason == 0 or a.clamped for a in answers[-1].arms)   # an arm is driven again (maybe clamped)
    assert node.counters["disengaged"] == 0
