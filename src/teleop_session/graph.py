"""The teleop node graph: which executables run, with which parameter file and remappings.

`launch/*.launch.py` (ros2 launch) and `teleop_session.bringup` (no ROS install) both start
exactly this graph; test_launch_files.py checks the launch files against it.  Either runs each
node in its own process, or (composed) all of them in one process on one executor: the
`teleop_container` executable (teleop_session.container), as a ROS 2 component container does.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from teleop_common.paths import CONFIG_DIR

PACKAGE = "whole_body_teleop"

# Default topics of the camera feeding the graph (remappable from the launch files / bringup).
CAMERA_IMAGE = "/camera/image_raw"
CAMERA_INFO = "/camera/camera_info"


@dataclass(frozen=True)
class NodeSpec:
    executable: str
    name: str
    config_file: str            # file name under config/
    config_class: str           # "module:Class" of the typed configuration
    node_class: str             # "module:Class" of the rclpy Node (composed mode builds it in-process)
    remappings: tuple[tuple[str, str], ...] = ()

    def load_config_class(self) -> type:
        return _load(self.config_class)

    def load_node_class(self) -> type:
        return _load(self.node_class)


def _load(name: str) -> type:
    module, cls = name.split(":")
    return getattr(importlib.import_module(module), cls)


CAMERA_SOURCE = NodeSpec(
    "camera_source_node", "camera_source", "camera_source.yaml", "teleop_session.camera_config:CameraSourceConfig",
    "teleop_session.camera_node:CameraSourceNode", (("image", CAMERA_IMAGE), ("camera_info", CAMERA_INFO)))
WHOLE_BODY_POSE = NodeSpec(
    "whole_body_pose_node", "whole_body_pose", "whole_body_pose.yaml", "whole_body_pose.config:PoseNodeConfig",
    "whole_body_pose.node:WholeBodyPoseNode", (("image", CAMERA_IMAGE), ("image/compressed", CAMERA_IMAGE + "/compressed"), ("camera_info", CAMERA_INFO)))
POSE_RETARGET = NodeSpec(
    "pose_retarget_node", "pose_retarget", "pose_retarget.yaml", "pose_retarget.config:RetargetNodeConfig",
    "pose_retarget.node:PoseRetargetNode")
# The simulated arm, standing in for ros2_control hardware (a real arm's controllers replace it).
ROBOT_SIM = NodeSpec(
    "robot_sim_node", "robot_sim", "robot_sim.yaml", "robot_sim.config:RobotSimConfig", "robot_sim.node:RobotSimNode")

EPISODE_RECORDER = NodeSpec(
    "episode_recorder_node", "episode_recorder", "session.yaml", "teleop_session.recorder_config:RecorderConfig",
    "teleop_session.recorder_node:EpisodeRecorderNode")

TELEOP_GRAPH: tuple[NodeSpec, ...] = (WHOLE_BODY_POSE, POSE_RETARGET, ROBOT_SIM)
ALL_NODES: tuple[NodeSpec, ...] = (CAMERA_SOURCE, WHOLE_BODY_POSE, POSE_RETARGET, ROBOT_SIM, EPISODE_RECORDER)

# The executable running several nodes of this graph in one process (bringup --composed, teleop.launch.py composed:=true).
CONTAINER_EXECUTABLE = "teleop_container"
