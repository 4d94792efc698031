"""Node side of `model: topic:/robot_description`: the URDF string robot_state_publisher latches on that
topic, waited for once at start-up (bounded), then derived as any other model (robot_model.config).

The only rclpy module of robot_model: the retargeting node, the robot_sim node and robot_check call it;
the derivation stays in the core.  The wait runs on a steady clock (a node under use_sim_time may have
no /clock yet) and on a private executor, before the node has callbacks of its own.
"""
from __future__ import annotations

import time

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from robot_model.config import TOPIC, RobotConfig, load_robot_config
from teleop_common.config import ConfigError

TIMEOUT_S = 30.0
# As robot_state_publisher publishes it: the last message kept for readers that join later.
LATCHED_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)


def wait_for_string(node: Node, topic: str, timeout_s: float) -> str | None:
    """The first std_msgs/String on `topic` (latched), or None after `timeout_s`."""
    received: list[str] = []
    subscription = node.create_subscription(String, topic, lambda msg: received.append(msg.data), LATCHED_QOS)
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    try:
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=min(0.1, max(0.0, deadline - time.monotonic())))
    finally:
        executor.remove_node(node)
        executor.shutdown()
        node.destroy_subscription(subscription)
    return received[0] if received else None


def read_description(node: Node, topic: str, timeout_s: float = TIMEOUT_S) -> str:
    """The URDF string on `topic`; a ConfigError naming the robot YAML's `model` key when none comes."""
    node.get_logger().info(f"robot model {TOPIC}{topic}: waiting up to {timeout_s:g} s for the latched URDF string "
                           "(robot_state_publisher)")
    text = wait_for_string(node, topic, timeout_s)
    if text is None:
        raise ConfigError("model", f"{TOPIC}{topic}", f"a topic with a latched (transient local) std_msgs/String URDF; "
                                                      f"none came in {timeout_s:g} s: is robot_state_publisher running "
                                                      "in this ROS_DOMAIN_ID?")
    node.get_logger().info(f"robot model: {len(text)}-character description from {topic}")
    return text


def load_robot(node: Node, robot: str, robots_dir: str = "", timeout_s: float = TIMEOUT_S) -> RobotConfig:
    """load_robot_config for a node: a `topic:` model is read over the node's DDS participant."""
    return load_robot_config(robot, robots_dir, lambda topic: read_description(node, topic, timeout_s))
