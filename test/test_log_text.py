"""Strings from messages and runtime parameters are escaped before any node logs them
(teleop_common.text), read back from /rosout over real DDS: the pose node (an image encoding), the
retargeting node (WholeBodyPose.layout, which reaches the per-arm hold log once the robot process's
measured /joint_states are fresh: before that the hold reason is the missing state), the recorder (its `task`
at start_episode) and the camera node (its `source`).  A forged string with newlines, fake "[FATAL]"
lines and ESC bytes must arrive as one line with those characters escaped."""
from __future__ import annotations

import shutil
from pathlib import Path

import rclpy
from conftest import DATA, spin_until
from rcl_interfaces.msg import Log
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from whole_body_teleop.msg import WholeBodyPoseArray

from teleop_common.config import flatten, load
from teleop_common.node_support import SENSOR_QOS, STATE_QOS
from teleop_common.pose_msgs import frame_to_msg
from teleop_common.text import printable
from teleop_session.graph import CAMERA_SOURCE, CONFIG_DIR, EPISODE_RECORDER, POSE_RETARGET, WHOLE_BODY_POSE

FORGED = "x\n[FATAL] [0.0] [pose_retarget]: forged\x1b[31m\r\x07"
MARK = "[FATAL] [0.0] [pose_retarget]: forged"


def _parameters(spec, **overrides) -> list:
    values = flatten(load(spec.load_config_class(), CONFIG_DIR / spec.config_file))
    values.update(overrides)
    return [rclpy.parameter.Parameter(k, value=v) for k, v in values.items()]


def test_every_node_escapes_message_and_parameter_text(ros_node, robot_node, tmp_path: Path):
    from pose_retarget.node import PoseRetargetNode
    from pose_retarget.synthetic import SyntheticOperator
    from teleop_session.camera_node import CameraSourceNode
    from teleop_session.recorder_node import EpisodeRecorderNode
    from whole_body_pose.node import WholeBodyPoseNode

    client = ros_node("forger")
    logs: list[Log] = []
    client.create_subscription(Log, "/rosout", logs.append, 1000)
    context = client.context
    folder = tmp_path / f"cam{FORGED}"            # a camera source path is a runtime parameter
    folder.mkdir()
    shutil.copy(DATA / "vtest_0000.jpg", folder / "0.jpg")
    nodes = [
        WholeBodyPoseNode(context=context, parameter_overrides=_parameters(WHOLE_BODY_POSE),   # not a 2nd pose source
                          cli_args=["--ros-args", "-r", "poses:=/pose_node_poses"]),
        PoseRetargetNode(context=context, parameter_overrides=_parameters(POSE_RETARGET)),
        EpisodeRecorderNode(context=context, parameter_overrides=_parameters(
            EPISODE_RECORDER, output_dir=str(tmp_path / "episodes"), task=FORGED)),
        CameraSourceNode(context=context, parameter_overrides=_parameters(
            CAMERA_SOURCE, source=str(folder), loop=True, wait_for_subscribers=100)),   # logs, never plays
    ]
    pose_node, retarget_node = nodes[0], nodes[1]
    everyone = [client, robot_node, *nodes]      # the robot process: measured /joint_states (issue 20)
    try:
        image_pub = client.create_publisher(Image, "image", SENSOR_QOS)
        pose_pub = client.create_publisher(WholeBodyPoseArray, "poses", STATE_QOS)
        start = client.create_client(Trigger, "/episode_recorder/start_episode")
        assert spin_until(everyone, lambda: image_pub.get_subscription_count() and pose_pub.get_subscription_count()
                          and start.service_is_ready(), timeout_s=15)
        # A hold answering a bad message says why only when the measured state is fresh (else: no state yet).
        assert spin_until(everyone, lambda: retarget_node.retargeter.state.measured.fresh(
                              retarget_node.get_clock().now().nanoseconds),
                          timeout_s=15), "no fresh joint state from the robot process"
        # A message field: an image whose encoding is the forged text ...
        image_pub.publish(Image(encoding=FORGED, width=2, height=2, step=6, data=bytes(12)))
        # ... a pose message whose layout is (the retargeting node's hold log and error report) ...
        operator = SyntheticOperator(retarget_node.robot, retarget_node.config.mapping, retarget_node.config.gripper)
        message = frame_to_msg(operator.frame(retarget_node.robot.home, client.get_clock().now().nanoseconds))
        message.poses[0].layout = FORGED
        pose_pub.publish(message)
        # ... and a runtime parameter: the recorder's task, logged when an episode starts.
        future = start.call_async(Trigger.Request())
        assert spin_until(everyone, future.done, timeout_s=15) and future.result().success

        by_node = lambda name: [log.msg for log in logs if log.name == name]
        expected = {"whole_body_pose": "encoding", "pose_retarget": "holds", "episode_recorder": "task",
                    "camera_source": "cam"}
        escaped = printable(FORGED)[1:-1]               # the forged text as it must appear
        assert spin_until(everyone, lambda: all(any(escaped in m and word in m for m in by_node(name))
                                                for name, word in expected.items()), timeout_s=15), \
            {name: by_node(name) for name in expected}
        for name in expected:
            for text in by_node(name):
                assert not any(ord(c) < 32 or c == "\x7f" for c in text), (name, text)
                assert not text.startswith("[FATAL]")
        assert retarget_node.counters["error.bad_pose_message"] == 1
        assert pose_node.counters["error.bad_image.unsupported_encoding"] == 1
        assert any(MARK in m for m in by_node("pose_retarget"))   # the text itself is kept, on one line
    finally:
        for node in nodes:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
