"""A robot YAML whose model is `topic:/robot_description`: the retargeting node and the robot process wait
for the URDF string latched there (as robot_state_publisher publishes it), derive the robot from it and
serve; with nothing on the topic, start-up fails naming the `model` key.  Real DDS: the stand-in
publisher has a DDS participant of its own."""
from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from conftest import graph_parameters, spin_until
from rclpy.context import Context
from std_msgs.msg import String
from test_retarget_node import Client

from robot_model.config import load_robot_config
from robot_model.description_topic import LATCHED_QOS, load_robot
from robot_model.sources import resolve_uri, urdf_with_absolute_meshes
from teleop_common.config import ConfigError
from teleop_session.graph import POSE_RETARGET, ROBOT_SIM

PANDA = "package://pybullet_data/franka_panda/panda.urdf"


def robot_yaml(tmp_path, topic: str) -> str:
    """panda_urdf.yaml with its model read from `topic`."""
    path = tmp_path / "panda_topic.yaml"
    path.write_text(f"name: panda_topic\nmodel: topic:{topic}\narms:\n"
                    "  - {name: arm, base_frame: panda_link0, ee_parent: panda_grasptarget, "
                    "gripper: {joints: [panda_finger_joint1]}}\n")
    return str(path)


@pytest.fixture
def robot_state_publisher():
    """A node in a context (DDS participant) of its own latching the Panda URDF on /robot_description,
    its mesh paths resolved as robot_state_publisher's package:// paths resolve on the robot's machine."""
    path = resolve_uri(PANDA, None, "test")
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node("robot_state_publisher", context=context)
    node.create_publisher(String, "/robot_description", LATCHED_QOS).publish(
        String(data=urdf_with_absolute_meshes(path.read_text(), path.parent, "test")))
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


def test_nodes_derive_the_robot_from_robot_description(tmp_path, ros_node, robot_state_publisher) -> None:
    from pose_retarget.node import PoseRetargetNode
    from robot_sim.node import RobotSimNode

    robot = robot_yaml(tmp_path, "/robot_description")
    context = ros_node("anchor").context
    retarget = PoseRetargetNode(context=context, parameter_overrides=graph_parameters(POSE_RETARGET, robot=robot))
    sim = RobotSimNode(context=context, parameter_overrides=graph_parameters(ROBOT_SIM, robot=robot))
    try:
        expected = load_robot_config("panda_urdf")        # the same URDF from its file
        derived = retarget.robot.config
        assert derived.name == "panda_topic" and derived.model.lstrip().startswith("<")
        assert derived.arms[0].joints == expected.arms[0].joints
        assert np.allclose(derived.arms[0].home, expected.arms[0].home)
        assert list(sim.plant.joint_names) == [*expected.arms[0].joints, "panda_finger_joint1", "panda_finger_joint2"]

        client = Client(ros_node("operator"), retarget, sim)
        assert spin_until(client.nodes, client.connected, timeout_s=10)
        # The watchdog's overdue holds run first: a pose right after one would be dropped as too fast.
        spin_until(client.nodes, lambda: False, timeout_s=0.3)
        client.engage_at(client.robot.home)
        client.send(client.robot.home, frames=3)
        assert client.received["status"][-1].engaged
        assert client.received["joint_states"][-1].name == list(sim.plant.joint_names)
        assert tuple(client.received["arm/joint_trajectory"][-1].joint_names) == expected.arms[0].joints
    finally:
        retarget.destroy_node()
        sim.destroy_node()


def test_no_robot_description_fails_naming_the_key(tmp_path, ros_node) -> None:
    robot = robot_yaml(tmp_path, "/robot_description_nobody_publishes")
    started = time.monotonic()
    with pytest.raises(ConfigError) as error:
        load_robot(ros_node("pose_retarget"), robot, timeout_s=1.0)
    assert 1.0 <= time.monotonic() - started < 10.0
    assert error.value.key == "model" and error.value.value == "topic:/robot_description_nobody_publishes"
    assert "none came in 1 s" in str(error.value)


def test_topic_model_needs_a_reader(tmp_path) -> None:
    """The core reads no topics: without the nodes' reader a topic: model is refused, naming the key."""
    with pytest.raises(ConfigError) as error:
        load_robot_config(robot_yaml(tmp_path, "/robot_description"))
    assert error.value.key == "model"
