"""In-process observer of a running session: what the camera, pose and retargeting nodes publish.

It records everything the session video and summary need (images, poses, statuses, commands,
robot joint states, each with its receive time), and engages the retargeting node through its
SetBool service once an operator is tracked.  Retargeting topics are found on the graph by type,
so the monitor follows the node's own names and remappings.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
from whole_body_teleop.msg import TeleopStatus, WholeBodyPoseArray

from teleop_common.node_support import STATE_QOS, read_stage_times
from teleop_common.pose_msgs import stamp_to_ns

ENGAGE_RETRY_S = 1.0
# Every camera frame is wanted for the video (SENSOR_QOS' depth 1 would overwrite frames not yet taken).
IMAGE_QOS = QoSProfile(depth=60, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
DISCOVERY_PERIOD_S = 0.25
_DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"  # ~/timing: per-frame stage durations (node_support.StageTimes)
_TYPES = {"whole_body_teleop/msg/TeleopStatus": TeleopStatus, "trajectory_msgs/msg/JointTrajectory": JointTrajectory,
          "sensor_msgs/msg/JointState": JointState}


@dataclass
class SessionLog:
    """Receive times (ns, system clock) and stamps of what the session published."""

    images: list[tuple[int, int, bytes]] = field(default_factory=list)        # receive, stamp, JPEG
    poses: dict[int, tuple[int, WholeBodyPoseArray]] = field(default_factory=dict)   # stamp -> receive, msg
    statuses: list[tuple[int, TeleopStatus]] = field(default_factory=list)
    commands: list[tuple[int, str]] = field(default_factory=list)             # receive, topic (commands carry no stamp)
    joint_states: list[tuple[int, tuple[str, ...], np.ndarray]] = field(default_factory=list)
    timings: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)  # node -> stamp -> stage ms
    engage_replies: list[str] = field(default_factory=list)
    engaged_at_ns: int | None = None

    def camera_fps(self) -> float:
        """Rate of the camera from its stamps (median interval), 30 when unknown."""
        stamps = np.diff(sorted(stamp for _, stamp, _ in self.images))
        return 1e9 / float(np.median(stamps)) if stamps.size and np.median(stamps) > 0 else 30.0

    def last_activity_ns(self) -> int:
        """Last camera frame or pose received (statuses continue while the robot is held)."""
        return max([self.images[-1][0] if self.images else 0, *(r for r, _ in self.poses.values())])


class SessionMonitor(Node):
    def __init__(self, image_topic: str | None, pose_topic: str = "/poses", engage: bool = True) -> None:
        super().__init__("teleop_session_monitor")
        self.log = SessionLog()
        self.lock = threading.Lock()
        self.engage = engage
        self.engage_service: str | None = None
        self._engage_client = None
        self._engage_pending = False
        self._last_engage_try = 0.0
        self._subscribed: set[str] = set()
        if image_topic is not None:  # None: the caller publishes the images itself (bench/session.py)
            self.create_subscription(CompressedImage, image_topic, self._on_image, IMAGE_QOS)
        self.create_subscription(WholeBodyPoseArray, pose_topic, self._on_poses, STATE_QOS)
        self.create_timer(DISCOVERY_PERIOD_S, self._discover)

    # -------------------------------------------------------------- graph
    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic.endswith("/timing") and topic not in self._subscribed and _DIAGNOSTICS in types:
                self._subscribed.add(topic)
                node = topic.rsplit("/", 2)[-2]
                self.create_subscription(DiagnosticArray, topic, lambda m, n=node: self._on_timing(m, n), STATE_QOS)
            kind = next((t for t in types if t in _TYPES), None)
            if kind is None or topic in self._subscribed:
                continue
            self._subscribed.add(topic)
            callback = {TeleopStatus: self._on_status, JointTrajectory: lambda m, t=topic: self._on_command(m, t),
                        JointState: self._on_joint_state}[_TYPES[kind]]
            self.create_subscription(_TYPES[kind], topic, callback, STATE_QOS)
        if self._engage_client is None:
            for name, types in self.get_service_names_and_types():
                if "std_srvs/srv/SetBool" in types and name.endswith("/engage"):
                    self.engage_service = name
                    self._engage_client = self.create_client(SetBool, name)

    def retarget_ready(self) -> bool:
        """The retargeting node's engage service answers."""
        return self._engage_client is not None and self._engage_client.service_is_ready()

    # -------------------------------------------------------------- callbacks
    def _on_image(self, msg: CompressedImage) -> None:
        with self.lock:
            self.log.images.append((time.time_ns(), stamp_to_ns(msg.header.stamp), bytes(msg.data)))

    def _on_poses(self, msg: WholeBodyPoseArray) -> None:
        with self.lock:
            self.log.poses[stamp_to_ns(msg.header.stamp)] = (time.time_ns(), msg)

    def _on_command(self, msg: JointTrajectory, topic: str) -> None:
        with self.lock:
            self.log.commands.append((time.time_ns(), topic))

    def _on_joint_state(self, msg: JointState) -> None:
        with self.lock:
            self.log.joint_states.append((time.time_ns(), tuple(msg.name), np.asarray(msg.position, np.float64)))

    def _on_timing(self, msg: DiagnosticArray, node: str) -> None:
        with self.lock:
            self.log.timings.setdefault(node, {})[stamp_to_ns(msg.header.stamp)] = read_stage_times(msg)

    def _on_status(self, msg: TeleopStatus) -> None:
        with self.lock:
            self.log.statuses.append((time.time_ns(), msg))
            if msg.engaged and self.log.engaged_at_ns is None:
                self.log.engaged_at_ns = time.time_ns()
        if (self.engage and not msg.engaged and msg.operator_track_id != 0 and not self._engage_pending
                and self.retarget_ready() and time.monotonic() - self._last_engage_try >= ENGAGE_RETRY_S):
            self._engage_pending = True
            self._last_engage_try = time.monotonic()
            self._engage_client.call_async(SetBool.Request(data=True)).add_done_callback(self._on_engage_reply)

    def _on_engage_reply(self, future) -> None:  # noqa: ANN001 - rclpy Future
        self._engage_pending = False
        reply = future.result()
        if reply is not None:
            with self.lock:
                self.log.engage_replies.append(f"{'engaged' if reply.success else 'refused'}: {reply.message}")


@contextmanager
def spinning_monitor(image_topic: str | None) -> Iterator[SessionMonitor]:
    """A SessionMonitor spinning in a background thread for the duration of the block.

    rclpy's signal handlers stay off: the caller owns Ctrl-C (it must stop the node processes).
    What the monitor logged stays readable after the block.
    """
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    monitor = SessionMonitor(image_topic)
    executor = SingleThreadedExecutor()
    executor.add_node(monitor)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield monitor
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        monitor.destroy_node()
        rclpy.try_shutdown()
