"""Every interface of the package round-trips through a real rclpy publisher and subscriber."""
from __future__ import annotations

import numpy as np
from conftest import spin_until
from geometry_msgs.msg import Point, Pose, Quaternion
from whole_body_teleop.msg import ArmStatus, TeleopStatus, WholeBodyPoseArray

from teleop_common.layout import NUM_KEYPOINTS, Part
from teleop_common.node_support import STATE_QOS
from teleop_common.pose import PersonPose, PoseFrame
from teleop_common.pose_msgs import frame_to_msg, msg_to_frame


def _round_trip(ros_node, msg_type, message):
    publisher_node, subscriber_node = ros_node("publisher"), ros_node("subscriber")
    received = []
    subscriber_node.create_subscription(msg_type, "round_trip", received.append, STATE_QOS)
    publisher = publisher_node.create_publisher(msg_type, "round_trip", STATE_QOS)

    def delivered() -> bool:
        if not received:
            publisher.publish(message)
        return bool(received)

    assert spin_until([publisher_node, subscriber_node], delivered, timeout_s=15), "message never arrived"
    return received[0]


def _person(rng: np.random.Generator, track_id: int) -> PersonPose:
    pixels = rng.uniform(0, 640, (NUM_KEYPOINTS, 2)).astype(np.float32)
    points = rng.uniform(-1, 3, (NUM_KEYPOINTS, 3)).astype(np.float32)
    confidence = rng.uniform(0, 1, NUM_KEYPOINTS).astype(np.float32)
    points[-5:] = np.nan  # undetected keypoints travel as NaN
    return PersonPose(track_id=track_id, score=0.9, box=np.array([1, 2, 300, 400], np.float32), pixels=pixels,
                      points=points, confidence=confidence, present=frozenset({Part.BODY, Part.RIGHT_HAND}))


def test_pose_array_round_trip(ros_node):
    rng = np.random.default_rng(0)
    frame = PoseFrame(stamp_ns=1_700_000_000_123_456_789, frame_id="camera_optical",
                      poses=[_person(rng, 3), _person(rng, 8)], latency_ms=12.5)
    back = msg_to_frame(_round_trip(ros_node, WholeBodyPoseArray, frame_to_msg(frame)))
    assert back.stamp_ns == frame.stamp_ns and back.frame_id == "camera_optical"
    assert back.latency_ms == 12.5 and [p.track_id for p in back.poses] == [3, 8]
    for sent, got in zip(frame.poses, back.poses):
        np.testing.assert_array_equal(got.pixels, sent.pixels)
        np.testing.assert_array_equal(got.points, sent.points)  # NaNs included
        np.testing.assert_array_equal(got.confidence, sent.confidence)
        np.testing.assert_array_equal(got.box, sent.box)
        assert got.present == sent.present


def test_teleop_status_round_trip(ros_node):
    status = TeleopStatus(engaged=True, operator_track_id=4)
    status.header.frame_id = "world"
    status.arms = [ArmStatus(name="left", reason=ArmStatus.COLLISION, tracking_error=0.012, gripper_opening=0.5,
                             target=Pose(position=Point(x=0.3, y=0.1, z=0.2), orientation=Quaternion(w=1.0))),
                   ArmStatus(name="right", reason=ArmStatus.OK)]
    got = _round_trip(ros_node, TeleopStatus, status)
    assert got.engaged and got.operator_track_id == 4 and got.header.frame_id == "world"
    assert [a.name for a in got.arms] == ["left", "right"]
    assert got.arms[0].reason == ArmStatus.COLLISION and abs(got.arms[0].tracking_error - 0.012) < 1e-7
    assert got.arms[0].target.position.x == 0.3 and got.arms[1].reason == ArmStatus.OK
