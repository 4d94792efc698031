"""Who may command the robot, over real DDS with the real pose_retarget_node: poses only from the
source bound at start (publisher GID), a second publisher holds the robot with ERROR, ~/engage only
from configured callers, /clock jumps and a missing /clock hold it, and oversized or out-of-range
pose messages are bounded."""
from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from conftest import graph_parameters, spin_until
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rosgraph_msgs.msg import Clock
from std_srvs.srv import SetBool
from test_retarget_node import Client
from whole_body_teleop.msg import ArmStatus, WholeBodyPoseArray

from pose_retarget.synthetic import reachable_trajectory
from teleop_common.node_support import STATE_QOS
from teleop_common.pose import PoseFrame
from teleop_common.pose_msgs import frame_to_msg, ns_to_stamp
from teleop_session.graph import POSE_RETARGET


@pytest.fixture
def make_retarget_node(ros_node):
    from pose_retarget.node import PoseRetargetNode

    context = ros_node("anchor").context
    made = []

    def make(use_sim_time: bool = False, **overrides):
        parameters = graph_parameters(POSE_RETARGET, **overrides)
        parameters.append(rclpy.parameter.Parameter("use_sim_time", value=use_sim_time))
        made.append(PoseRetargetNode(context=context, parameter_overrides=parameters))
        return made[-1]

    yield make
    for node in made:
        node.destroy_node()


class Watcher:
    """The node's /diagnostics status (its last one)."""

    def __init__(self, node) -> None:
        self.last: DiagnosticStatus | None = None
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on, 10)

    def _on(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("pose_retarget:"):
                self.last = status

    def error(self, text: str) -> bool:
        return self.last is not None and self.last.level == DiagnosticStatus.ERROR and text in self.last.message

    def value(self, key: str) -> str:
        return next((v.value for v in self.last.values if v.key == key), "") if self.last else ""


def commands(client: Client) -> list[list[float]]:
    """The goals of the left arm's commands (each a segment from the controller's running state to its goal)."""
    return [list(m.points[-1].positions) for m in client.received["left/joint_trajectory"]]


def test_a_second_publisher_holds_the_robot_with_an_error(ros_node, make_retarget_node, robot_node):
    node = make_retarget_node()
    client = Client(ros_node("operator"), node, robot_node)
    watch = Watcher(client.node)
    robot = client.robot
    assert spin_until(client.nodes, client.connected, timeout_s=10)
    client.engage_at(robot.home)
    trajectory = reachable_trajectory(robot, client.operator, frames=30, fps=30.0, seed=3)
    for q in trajectory[:10]:
        client.send(q)
    assert client.received["status"][-1].engaged
    before = commands(client)

    # An intruder publishes the operator's track id at 100 Hz, stamped 45 ms ahead, posing elsewhere.
    intruder = ros_node("intruder")
    forged = intruder.create_publisher(WholeBodyPoseArray, "poses", STATE_QOS)
    nodes = [*client.nodes, intruder]
    assert spin_until(nodes, lambda: forged.get_subscription_count() > 0, timeout_s=10)
    for _ in range(50):
        stamp = intruder.get_clock().now().nanoseconds + 45_000_000
        forged.publish(frame_to_msg(client.operator.frame(trajectory[-1], stamp)))
        spin_until(nodes, lambda: False, timeout_s=0.01)
    assert spin_until(nodes, lambda: watch.error("another publisher on the pose input"), timeout_s=5)
    assert "/intruder" in watch.last.message
    assert not client.received["status"][-1].engaged
    assert node.counters["error.foreign_publisher"] == 1 and node.counters["error.foreign_pose_message"] >= 1
    # Not one forged frame was used: every command since is the last one before the intrusion.
    assert all(c == before[-1] for c in commands(client)[len(before):])
    # The operator's own frames are held too (INPUT_INVALID), and engaging is refused meanwhile.
    held = len(client.received["status"])
    client.publish(trajectory[12])
    assert spin_until(nodes, lambda: len(client.received["status"]) > held, timeout_s=5)
    assert [a.reason for a in client.received["status"][-1].arms] == [ArmStatus.INPUT_INVALID] * len(robot.arms)
    response = client.engage(True)
    assert not response.success and "another publisher" in response.message

    intruder.destroy_publisher(forged)          # gone: the alarm clears, a new engage is needed and works
    assert spin_until(nodes, lambda: watch.last.level != DiagnosticStatus.ERROR, timeout_s=10)
    assert not client.received["status"][-1].engaged
    client.engage_at(trajectory[12])
    for q in trajectory[12:20]:
        client.send(q)
    assert client.received["status"][-1].engaged and commands(client)[-1] != before[-1]


def test_only_the_configured_source_drives(ros_node, make_retarget_node, robot_node):
    node = make_retarget_node(**{"access.pose_source": "/operator"})
    impostor = ros_node("whole_body_pose")
    forged = impostor.create_publisher(WholeBodyPoseArray, "poses", STATE_QOS)
    client = Client(ros_node("operator"), node, robot_node)
    client.node.destroy_publisher(client.publisher)   # the operator's publisher comes later
    watch = Watcher(client.node)
    nodes = [*client.nodes, impostor]
    assert spin_until(nodes, lambda: forged.get_subscription_count() > 0, timeout_s=10)
    for _ in range(5):                           # alone on the input, but not the configured source
        forged.publish(frame_to_msg(client.operator.frame(client.robot.home, impostor.get_clock().now().nanoseconds)))
        spin_until(nodes, lambda: False, timeout_s=0.05)
    assert spin_until(nodes, lambda: node.counters["error.foreign_pose_message"] >= 5, timeout_s=5)
    assert node.counters["frames"] == 0 and node.access.source.bound is None
    assert spin_until(nodes, lambda: watch.error("another publisher"), timeout_s=5)
    impostor.destroy_publisher(forged)
    client.publisher = client.node.create_publisher(WholeBodyPoseArray, "poses", STATE_QOS)
    assert spin_until(nodes, client.connected, timeout_s=10)
    client.engage_at(client.robot.home)
    assert node.access.source.bound.node == "/operator"
    assert spin_until(nodes, lambda: watch.value("pose_source") == "'/operator'", timeout_s=5)


def test_engage_only_from_configured_callers(ros_node, make_retarget_node, robot_node):
    node = make_retarget_node(**{"access.engage_callers": "/operator, /teleop_ui"})
    client = Client(ros_node("operator"), node, robot_node)
    watch = Watcher(client.node)
    assert spin_until(client.nodes, client.connected, timeout_s=10)
    client.engage_at(client.robot.home)

    stranger = ros_node("stranger")
    other = stranger.create_client(SetBool, "/pose_retarget/engage")
    nodes = [*client.nodes, stranger]
    assert other.wait_for_service(timeout_sec=10)
    # Its mere client holds the robot (a caller cannot be told from another by its request) ...
    assert spin_until(nodes, lambda: watch.error("outside access.engage_callers"), timeout_s=10)
    assert "/stranger" in watch.last.message
    client.send(client.robot.home)
    assert not client.received["status"][-1].engaged
    # ... and no engage succeeds while it is there, whoever asks.
    future = other.call_async(SetBool.Request(data=True))
    assert spin_until(nodes, future.done, timeout_s=10) and not future.result().success
    assert not client.engage(True).success and not node.retargeter.engaged
    stranger.destroy_client(other)
    assert spin_until(nodes, lambda: watch.last.level != DiagnosticStatus.ERROR, timeout_s=10)
    client.engage_at(client.robot.home)


class SimClock:
    """Publishes /clock: simulated time that runs with the wall clock from `start_s`, jumps on demand."""

    def __init__(self, node, start_s: float) -> None:
        self.offset_ns = int(start_s * 1e9) - time.monotonic_ns()
        self.publisher = node.create_publisher(Clock, "/clock", 10)
        self.running = False
        node.create_timer(0.01, self.tick)

    def now_ns(self) -> int:
        return time.monotonic_ns() + self.offset_ns

    def tick(self) -> None:
        if self.running:
            self.publisher.publish(Clock(clock=ns_to_stamp(self.now_ns())))


class SimClient(Client):
    """Poses stamped with the simulated time."""

    def __init__(self, node, retarget_node, robot_node, clock: SimClock) -> None:
        super().__init__(node, retarget_node, robot_node)
        self.clock, self.retarget_node = clock, retarget_node

    def send(self, q: np.ndarray, frames: int = 1) -> None:
        """Like Client.send, but the node's clock moves only when a /clock message is taken (every 10 ms,
        later on a loaded executor; the robot's joint states share it): a frame taken before it moved since
        the node's last cycle (the previous frame, or a watchdog hold) is dropped as too fast (safety.min_dt_s,
        counted, unanswered), as any source's would be.  Such a frame is sent again, stamped anew; every
        frame that is taken is answered."""
        node = self.retarget_node
        for _ in range(frames):
            for _attempt in range(5):
                dropped = node.counters["dropped.too_fast"]
                stamp = self.publish(q)
                answered = lambda: any(rclpy.time.Time.from_msg(s.header.stamp).nanoseconds == stamp
                                       for s in self.received["status"][-5:])
                assert spin_until(self.nodes, lambda: answered() or node.counters["dropped.too_fast"] > dropped,
                                  timeout_s=10), "no status for a pose message"
                if answered():
                    break
                ticked = node.get_clock().now().nanoseconds + int(node.config.safety.min_dt_s * 1e9)
                spin_until(self.nodes, lambda: node.get_clock().now().nanoseconds >= ticked, timeout_s=1)
            else:
                raise AssertionError("pose messages dropped as too fast 5 times in a row")
            spin_until(self.nodes, lambda: False, timeout_s=0.02)

    def publish(self, q: np.ndarray) -> int:
        stamp = self.clock.now_ns()
        self.publisher.publish(frame_to_msg(self.operator.frame(q, stamp)))
        return stamp


def test_sim_time_without_clock_then_clock_jumps(ros_node, make_retarget_node, robot_node):
    node = make_retarget_node(use_sim_time=True)
    operator = ros_node("operator")
    clock = SimClock(operator, start_s=1000.0)
    client = SimClient(operator, node, robot_node, clock)
    watch = Watcher(operator)
    robot = client.robot
    assert spin_until(client.nodes, client.connected, timeout_s=10)

    # No /clock: every pose message is answered with a hold (not dropped as "too fast" after the first),
    # the watchdog keeps holding on a steady clock, ERROR "no clock", engaging is refused.
    sent = []
    for _ in range(10):
        sent.append(client.publish(robot.home))
        spin_until(client.nodes, lambda: False, timeout_s=0.04)
    assert spin_until(client.nodes, lambda: watch.error("no clock"), timeout_s=5)
    answered = lambda: {rclpy.time.Time.from_msg(s.header.stamp).nanoseconds for s in client.received["status"]}
    assert spin_until(client.nodes, lambda: set(sent) <= answered(), timeout_s=5)   # each answered, if late
    statuses = len(client.received["status"])
    assert statuses >= 10 and spin_until(client.nodes, lambda: len(client.received["status"]) > statuses + 3,
                                         timeout_s=5)
    # held: the input refused, or (without a clock the state's age is unknown too) the robot state stale
    assert {a.reason for s in client.received["status"] for a in s.arms} <= {ArmStatus.INPUT_INVALID,
                                                                             ArmStatus.STATE_STALE}
    assert not commands(client)
    assert node.counters["dropped.too_fast"] == 0 and node.counters["error.no_clock"] == 1
    response = client.engage(True)
    assert not response.success and "no clock" in response.message

    clock.running = True                          # /clock arrives: the node works on simulated time
    assert spin_until(client.nodes, lambda: watch.last.level != DiagnosticStatus.ERROR, timeout_s=10)
    client.engage_at(robot.home)
    trajectory = reachable_trajectory(robot, client.operator, frames=30, fps=30.0, seed=3)
    for q in trajectory[:8]:
        client.send(q)
    assert client.received["status"][-1].engaged

    for jump_s in (-10.0, 100.0):                 # backwards, then far ahead: disengaged, nothing moves
        spin_until(client.nodes, lambda: False, timeout_s=0.3)   # commands still in flight on their own topics
        moved = len(commands(client))
        clock.offset_ns += int(jump_s * 1e9)
        assert spin_until(client.nodes, lambda: not client.received["status"][-1].engaged, timeout_s=5)
        for q in trajectory[8:14]:                # frames on the new time base are read, not stale forever
            client.send(q)
        assert not client.received["status"][-1].engaged
        assert all(c == commands(client)[moved - 1] for c in commands(client)[moved:])
        assert [a.reason for a in client.received["status"][-1].arms] == [ArmStatus.OK] * len(robot.arms)
        client.engage_at(trajectory[13])          # a new engage works on the new time base
    assert node.counters["clock_jumps"] == 2 and node.counters["error.clock_jump"] == 2


def test_oversized_and_out_of_range_messages_are_bounded(ros_node, make_retarget_node, robot_node):
    node = make_retarget_node(**{"input.stale_timeout_s": 3.0})   # a 13 MB message takes a while to publish
    client = Client(ros_node("operator"), node, robot_node)
    robot = client.robot
    assert spin_until(client.nodes, client.connected, timeout_s=10)
    cap = node.config.input.max_people
    # 1000 people: the operator first, 999 others: answered, the extra people ignored and counted.
    crowd = [client.operator.person_pose(robot.ee_poses(robot.home))]
    for track_id in range(2, 1001):
        other = client.operator.person_pose(robot.ee_poses(robot.home), track_id=track_id)
        other.points[:, 0] += 2.0
        crowd.append(other)
    message = frame_to_msg(PoseFrame(stamp_ns=0, frame_id="camera", poses=crowd))
    client.engage_at(robot.home)
    stamp = client.node.get_clock().now().nanoseconds
    message.header.stamp = ns_to_stamp(stamp)
    client.publisher.publish(message)
    answered = lambda: any(rclpy.time.Time.from_msg(s.header.stamp).nanoseconds == stamp for s in client.received["status"])
    assert spin_until(client.nodes, answered, timeout_s=10)
    assert node.counters["ignored_people"] == 1000 - cap
    status = next(s for s in client.received["status"] if rclpy.time.Time.from_msg(s.header.stamp).nanoseconds == stamp)
    assert status.engaged and [a.reason for a in status.arms] == [ArmStatus.OK] * len(robot.arms)

    # y = 1e30 on every keypoint (float32 makes every y equal): invalid input, the robot holds.
    assert spin_until(client.nodes, lambda: len(commands(client)) > 0, timeout_s=5)
    before = commands(client)[-1]
    bad = client.operator.frame(robot.home, client.node.get_clock().now().nanoseconds)
    bad.poses[0].points[:, 1] = 1e30
    client.publisher.publish(frame_to_msg(bad))
    assert spin_until(client.nodes, lambda: node.counters["error.keypoint_out_of_range"] == 1, timeout_s=10)
    assert spin_until(client.nodes, lambda: client.received["status"][-1].arms[0].reason == ArmStatus.INPUT_INVALID,
                      timeout_s=5)
    assert commands(client)[-1] == before
    client.send(robot.home, frames=2)             # later frames drive again
    assert [a.reason for a in client.received["status"][-1].arms] == [ArmStatus.OK] * len(robot.arms)


def test_bad_access_configuration_names_its_key(ros_node, make_retarget_node):
    from teleop_common.config import ConfigError

    for overrides, key in (({"access.engage_callers": "operator"}, "access.engage_callers"),
                           ({"access.pose_source": "/pose node"}, "access.pose_source"),
                           ({"operator.reacquire_timeout_s": 2.0}, "operator.reacquire_timeout_s"),
                           ({"input.max_people": 0}, "input.max_people")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            make_retarget_node(**overrides)


def test_a_restarted_source_is_bound_again_but_needs_a_new_engage(ros_node, make_retarget_node, robot_node):
    node = make_retarget_node(**{"access.pose_source": "/operator"})
    client = Client(ros_node("operator"), node, robot_node)
    assert spin_until(client.nodes, client.connected, timeout_s=10)
    client.engage_at(client.robot.home)
    first = node.access.source.bound.gid
    client.node.destroy_publisher(client.publisher)           # the pose node restarts: a new publisher GID
    client.publisher = client.node.create_publisher(WholeBodyPoseArray, "poses", STATE_QOS)
    assert spin_until(client.nodes, client.connected, timeout_s=10)
    client.send(client.robot.home, frames=3)
    assert node.access.source.bound.gid != first and node.counters["error.source_restarted"] == 1
    assert not client.received["status"][-1].engaged          # never carried over to the new publisher
    client.engage_at(client.robot.home)
