"""robot_sim_node over real DDS: what a ros2_control arm takes (JointTrajectory with JTC semantics,
Float64MultiArray forward commands) in, measured /joint_states out at its control rate; refused
messages are counted and the node keeps serving."""
from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from conftest import spin_until
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from teleop_common.node_support import STATE_QOS


def _stamp_s(msg: JointState) -> float:
    return (msg.header.stamp.sec - 1_700_000_000) + msg.header.stamp.nanosec * 1e-9   # offset: float resolution


def _point(positions, seconds: float, velocities=()) -> JointTrajectoryPoint:
    return JointTrajectoryPoint(positions=[float(p) for p in positions], velocities=[float(v) for v in velocities],
                                time_from_start=Duration(sec=int(seconds), nanosec=int(seconds % 1 * 1e9)))


def test_trajectories_and_commands_in_measured_states_out(ros_node, robot_node):
    node = ros_node("driver")
    nodes = [node, robot_node]
    states: list[JointState] = []
    node.create_subscription(JointState, "/joint_states", states.append, STATE_QOS)
    arm = robot_node.plant.controller("left")
    names = list(arm.follower.joint_names)
    trajectory_pub = node.create_publisher(JointTrajectory, "left/joint_trajectory", STATE_QOS)
    gripper_pub = node.create_publisher(Float64MultiArray, "left/gripper/commands", STATE_QOS)
    assert spin_until(nodes, lambda: len(states) > 50 and trajectory_pub.get_subscription_count() > 0, timeout_s=15)

    # Measured state at the control rate (>= 100 Hz), every cycle stamped one control period apart.
    assert states[-1].name == list(robot_node.plant.joint_names)
    steps = np.diff([_stamp_s(m) for m in states[-50:]])
    assert robot_node.plant.period_s <= 0.01
    assert np.median(steps) == pytest.approx(robot_node.plant.period_s, abs=2e-6)   # a stalled process may skip some
    index = [states[-1].name.index(n) for n in names]
    start = np.array(states[-1].position)[index]

    # A two-point trajectory: the arm passes the first point and ends at the second.
    via, goal = start + [0.3, -0.2, 0.2, 0.3, 0.3, 0.3], start + [0.5, -0.3, 0.3, 0.5, 0.5, 0.5]
    trajectory_pub.publish(JointTrajectory(joint_names=names, points=[_point(via, 0.4), _point(goal, 0.8)]))
    sent = len(states)
    spin_until(nodes, lambda: False, timeout_s=1.5)
    path = np.array([np.array(m.position)[index] for m in states[sent:]])
    assert np.abs(path[-1] - goal).max() < 0.03, path[-1] - goal
    assert np.linalg.norm(path - via, axis=1).min() < 0.1         # it went by the via point (servo lag cuts it)
    assert robot_node.counters["trajectories"] == 1

    # Refused: a wrong-length forward command and an unknown joint; counted, the node keeps serving.
    gripper_pub.publish(Float64MultiArray(data=[0.03, 0.03]))
    trajectory_pub.publish(JointTrajectory(joint_names=["no_such_joint", *names[1:]], points=[_point(start, 0.5)]))
    assert spin_until(nodes, lambda: robot_node.counters["error.commands.wrong_length"] == 1
                      and robot_node.counters["error.trajectory.unknown_joint"] == 1, timeout_s=10)
    # A correct forward command closes the gripper (its mimicking finger follows).
    gripper_pub.publish(Float64MultiArray(data=[0.021]))
    fingers = [states[-1].name.index(n) for n in ("vx300s_left/left_finger", "vx300s_left/right_finger")]
    assert spin_until(nodes, lambda: np.allclose(np.array(states[-1].position)[fingers], [0.021, -0.021], atol=0.003),
                      timeout_s=10), np.array(states[-1].position)[fingers]
    after = len(states)
    spin_until(nodes, lambda: False, timeout_s=0.3)
    assert len(states) > after                                     # still publishing
    assert np.abs(np.array(states[-1].position)[index] - goal).max() < 0.03   # the arm kept its goal
