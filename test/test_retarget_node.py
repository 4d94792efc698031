"""pose_retarget_node over real DDS with the robot process (robot_sim_node) beside it: pose messages and
the robot's measured joint states in, joint commands, status and markers out; engage service; stale and
malformed input hold the robot."""
from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from conftest import graph_parameters, spin_until
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray
from whole_body_teleop.msg import ArmStatus, TeleopStatus, WholeBodyPoseArray

from pose_retarget.source_guard import node_name
from pose_retarget.synthetic import SyntheticOperator, reachable_trajectory
from teleop_common.node_support import STATE_QOS, read_stage_times
from teleop_common.pose_msgs import frame_to_msg
from teleop_common.status import Reason, reason_name
from teleop_common.timing import RETARGET_STAGES
from teleop_session.graph import POSE_RETARGET


def test_reason_codes_mirror_the_message() -> None:
    constants = {name: value for name, value in vars(ArmStatus).items() if name.isupper() and isinstance(value, int)}
    assert {r.name: r.value for r in Reason} == constants
    assert reason_name(ArmStatus.COLLISION) == "COLLISION" and reason_name(250) == "250"


@pytest.fixture
def retarget_node(ros_node):
    from pose_retarget.node import PoseRetargetNode

    node = PoseRetargetNode(context=ros_node("anchor").context, parameter_overrides=graph_parameters(POSE_RETARGET))
    yield node
    node.destroy_node()


class Client:
    """The test's side of the graph: publishes poses, records everything the node sends."""

    def __init__(self, node, retarget_node, robot_node) -> None:
        self.node, self.nodes = node, [node, retarget_node, robot_node]
        self.retarget_node = retarget_node
        self.robot = retarget_node.robot
        config = retarget_node.config
        self.operator = SyntheticOperator(self.robot, config.mapping, config.gripper)
        self.publisher = node.create_publisher(WholeBodyPoseArray, "poses", STATE_QOS)
        self.received: dict[str, list] = {"status": [], "joint_states": [], "markers": [], "timing": []}
        node.create_subscription(DiagnosticArray, "/pose_retarget/timing", self.received["timing"].append, STATE_QOS)
        node.create_subscription(TeleopStatus, "teleop_status", self.received["status"].append, STATE_QOS)
        node.create_subscription(JointState, "joint_states", self.received["joint_states"].append, STATE_QOS)
        node.create_subscription(MarkerArray, "retarget_markers", self.received["markers"].append, STATE_QOS)
        for arm in self.robot.arms:
            for topic in (f"{arm.name}/joint_trajectory", f"{arm.name}/gripper/joint_trajectory"):
                self.received[topic] = []
                node.create_subscription(JointTrajectory, topic, self.received[topic].append, STATE_QOS)
        self.engage_client = node.create_client(SetBool, "/pose_retarget/engage")

    def connected(self) -> bool:
        """Both ends see each other.  The node binds its pose source from its own view of the graph, and a
        message from a publisher it does not list yet is refused unanswered (a discovery race under load)."""
        node, me = self.retarget_node, self.node.get_fully_qualified_name()
        listed = {node_name(e.node_namespace, e.node_name)
                  for e in node.get_publishers_info_by_topic(node.poses_sub.topic_name)}
        return self.publisher.get_subscription_count() > 0 and me in listed

    def publish(self, q: np.ndarray) -> int:
        stamp = self.node.get_clock().now().nanoseconds
        self.publisher.publish(frame_to_msg(self.operator.frame(q, stamp)))
        return stamp

    def send(self, q: np.ndarray, frames: int = 1) -> None:
        """Publish `frames` frames at ~30 Hz and wait until each is answered with a status."""
        for _ in range(frames):
            stamp = self.publish(q)
            answered = lambda: any(rclpy.time.Time.from_msg(s.header.stamp).nanoseconds == stamp
                                   for s in self.received["status"][-5:])
            assert spin_until(self.nodes, answered, timeout_s=10), "no status for a pose message"
            spin_until(self.nodes, lambda: False, timeout_s=0.02)

    def engage(self, on: bool) -> SetBool.Response:
        assert self.engage_client.wait_for_service(timeout_sec=10)
        future = self.engage_client.call_async(SetBool.Request(data=on))
        assert spin_until(self.nodes, future.done, timeout_s=10)
        return future.result()

    def engage_at(self, q: np.ndarray) -> None:
        """Pose `q` and engage; retried, as engaging needs a pose younger than input.stale_timeout_s
        and the test shares two CPUs with other runs."""
        messages = []
        for _ in range(3):
            self.send(q, frames=3)
            response = self.engage(True)
            if response.success:
                return
            messages.append(response.message)
        raise AssertionError(f"engage refused: {messages}")


def test_poses_in_checked_commands_out(ros_node, retarget_node, robot_node):
    client = Client(ros_node("operator"), retarget_node, robot_node)
    robot = client.robot
    assert spin_until(client.nodes, client.connected, timeout_s=10)

    # Disengaged: status and the robot's joint states, but no commands.
    client.send(robot.home, frames=5)
    status = client.received["status"][-1]
    assert not status.engaged and status.header.frame_id == robot.config.base_frame
    assert [a.reason for a in status.arms] == [ArmStatus.OK] * len(robot.arms)
    assert not client.received["left/joint_trajectory"]
    assert client.received["joint_states"][-1].name == list(robot_node.plant.joint_names)
    assert client.node.count_publishers("/joint_states") == 1          # the robot's; the retargeting node has none
    assert client.received["markers"][-1].markers[0].action == Marker.ADD

    client.engage_at(robot.home)

    # Engaged: follow a reachable trajectory; the last command must reach the last pose.
    trajectory = reachable_trajectory(robot, client.operator, frames=45, fps=30.0, seed=5)
    for q in trajectory:
        client.send(q)
    client.send(trajectory[-1], frames=3)
    status = client.received["status"][-1]
    assert status.engaged and [a.reason for a in status.arms] == [ArmStatus.OK] * len(robot.arms)
    command = robot.home.copy()
    for arm in robot.arms:
        message = client.received[f"{arm.name}/joint_trajectory"][-1]
        # A cubic segment for a JTC: from the running setpoint (time 0) to the goal at rest, stamped with its start.
        assert tuple(message.joint_names) == arm.command_names and len(message.points) == 2
        assert len(message.points[0].velocities) == len(arm.qpos) and message.header.stamp.sec > 0
        assert list(message.points[1].velocities) == [0.0] * len(arm.qpos)
        command[arm.qpos] = message.points[1].positions
        gripper = client.received[f"{arm.name}/gripper/joint_trajectory"][-1]
        assert tuple(gripper.joint_names) == arm.gripper_command_names and len(gripper.points[0].positions) == 1
        command[arm.gripper_command_qpos] = gripper.points[0].positions
        command[arm.gripper_qpos] = arm.gripper_positions(arm.gripper_opening(command))   # the mimicking finger
    reached, wanted = robot.ee_poses(command), robot.ee_poses(trajectory[-1])
    for name in wanted:
        assert np.linalg.norm(reached[name][0] - wanted[name][0]) < 0.005
    assert max(a.tracking_error for a in status.arms) < 0.005
    # Every answered pose carries its stage durations, stamped like the pose (engaged: IK ran).
    timing = next(t for t in reversed(client.received["timing"]) if t.header.stamp == status.header.stamp)
    stages = read_stage_times(timing)
    assert set(stages) == set(RETARGET_STAGES) and stages["ik"] > 0.0 and all(ms >= 0.0 for ms in stages.values())

    # The robot process moved with the commands, to where they put it (it ends its last segment on its own).
    def arrived() -> bool:
        measured = client.received["joint_states"][-1]
        return all(np.abs(np.array(measured.position)[[measured.name.index(n) for n in arm.command_names]]
                          - command[arm.qpos]).max() < 0.05 for arm in robot.arms)
    assert spin_until(client.nodes, arrived, timeout_s=10)
    assert all(np.abs(command[arm.qpos] - robot.home[arm.qpos]).max() > 0.05 for arm in robot.arms)

    # Malformed input: counted, the arms hold, the node keeps serving.
    bad = frame_to_msg(client.operator.frame(trajectory[-1], client.node.get_clock().now().nanoseconds))
    bad.poses[0].layout = "some_other_layout"
    client.publisher.publish(bad)
    assert spin_until(client.nodes, lambda: client.received["status"][-1].arms[0].reason == ArmStatus.INPUT_INVALID,
                      timeout_s=10)
    client.send(trajectory[-1], frames=2)
    assert client.received["status"][-1].arms[0].reason == ArmStatus.OK

    # Input stops: the watchdog reports stale input while the robot holds.
    commands_before = len(client.received["left/joint_trajectory"])
    last = client.received["left/joint_trajectory"][-1].points[-1].positions
    assert spin_until(client.nodes, lambda: client.received["status"][-1].arms[0].reason == ArmStatus.INPUT_STALE,
                      timeout_s=5)
    held = client.received["left/joint_trajectory"][commands_before:]
    assert all(list(m.points[-1].positions) == list(last) for m in held)

    assert client.engage(False).success
    client.send(trajectory[-1], frames=2)
    assert not client.received["status"][-1].engaged


def test_silence_disengages_and_bad_stamps_are_counted(ros_node, retarget_node, robot_node):
    """No pose message at all for operator.lost_timeout_s disengages (the watchdog's timer, not a frame);
    a pose node restarted with the same track id is then not followed.  A frame stamped an hour ahead
    is rejected and counted, and later frames still drive the robot."""
    client = Client(ros_node("operator"), retarget_node, robot_node)
    robot = client.robot
    assert spin_until(client.nodes, client.connected, timeout_s=10)
    client.engage_at(robot.home)
    client.send(robot.home, frames=2)

    timeout_s = retarget_node.config.operator.lost_timeout_s
    silent_since = time.monotonic()
    assert spin_until(client.nodes, lambda: not client.received["status"][-1].engaged, timeout_s=timeout_s + 3)
    assert time.monotonic() - silent_since >= timeout_s - 0.1
    assert retarget_node.counters["disengaged"] == 1
    spin_until(client.nodes, lambda: False, timeout_s=0.3)     # holds sent while still engaged, on other topics
    commands = len(client.received["left/joint_trajectory"])
    trajectory = reachable_trajectory(robot, client.operator, frames=30, fps=30.0, seed=3)
    for q in trajectory[::3]:                   # "track 1" again, somewhere else: nothing is commanded
        client.send(q)
    assert not client.received["status"][-1].engaged
    assert len(client.received["left/joint_trajectory"]) == commands

    client.engage_at(robot.home)
    ahead = client.node.get_clock().now().nanoseconds + 3600 * 1_000_000_000
    client.publisher.publish(frame_to_msg(client.operator.frame(trajectory[-1], ahead)))
    assert spin_until(client.nodes, lambda: client.received["status"][-1].arms[0].reason == ArmStatus.INPUT_INVALID,
                      timeout_s=10)
    assert retarget_node.counters["error.future_stamp"] == 1
    client.send(trajectory[1], frames=2)
    status = client.received["status"][-1]
    assert status.engaged and [a.reason for a in status.arms] == [ArmStatus.OK] * len(robot.arms)
