"""The retargeting node and the robot process as separate processes (as on real hardware), and the test's
side of the graph: an operator publishing poses, recording what the robot measures and is sent."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from conftest import REPO
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
from whole_body_teleop.msg import TeleopStatus, WholeBodyPoseArray

from pose_retarget.config import RetargetNodeConfig
from pose_retarget.retargeter import Retargeter
from pose_retarget.synthetic import SyntheticOperator
from teleop_common.config import load
from teleop_common.node_support import STATE_QOS
from teleop_common.pose_msgs import frame_to_msg
from teleop_session.graph import CONFIG_DIR, POSE_RETARGET, ROBOT_SIM
from teleop_session.processes import NodeProcesses


@dataclass
class Recorded:
    states: list[tuple[int, np.ndarray]] = field(default_factory=list)     # (stamp ns, positions)
    statuses: list[tuple[int, TeleopStatus]] = field(default_factory=list)  # (receipt ns, status)
    commands: dict[str, list[tuple[int, JointTrajectory]]] = field(default_factory=dict)
    robot_diagnostics: dict[str, str] = field(default_factory=dict)  # the robot process's latest /diagnostics values


class Seam:
    def __init__(self, node, log_dir: Path) -> None:
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
        self.processes = NodeProcesses(log_dir, env=env)
        self.node = node
        self.config = load(RetargetNodeConfig, CONFIG_DIR / POSE_RETARGET.config_file)
        self.robot = Retargeter(self.config).robot
        self.operator = SyntheticOperator(self.robot, self.config.mapping, self.config.gripper)
        self.recorded = Recorded()
        self.state_names: list[str] = []
        self.publisher = node.create_publisher(WholeBodyPoseArray, "/poses", STATE_QOS)
        node.create_subscription(JointState, "/joint_states", self._on_state, STATE_QOS)
        node.create_subscription(TeleopStatus, "/teleop_status",
                                 lambda m: self.recorded.statuses.append((time.time_ns(), m)), STATE_QOS)
        for arm in self.robot.arms:
            self.recorded.commands[arm.name] = []
            node.create_subscription(JointTrajectory, f"/{arm.name}/joint_trajectory",
                                     lambda m, a=arm.name: self.recorded.commands[a].append((time.time_ns(), m)), STATE_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.engage_client = node.create_client(SetBool, "/pose_retarget/engage")
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)
        self._messages: dict[bytes, WholeBodyPoseArray] = {}

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(f"{ROBOT_SIM.name}:"):
                self.recorded.robot_diagnostics = {kv.key: kv.value for kv in status.values}

    def _on_state(self, msg: JointState) -> None:
        if not self.state_names:
            self.state_names = list(msg.name)
        self.recorded.states.append((msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec,
                                     np.asarray(msg.position, float)))

    def start_robot(self, **parameters: str) -> None:
        self.processes.start(ROBOT_SIM, parameters)

    def start_retarget(self, **parameters: str) -> None:
        self.processes.start(POSE_RETARGET, parameters)

    def kill(self, name: str) -> None:
        process, _ = self.processes.processes[name]
        process.kill()
        process.wait()

    def publish(self, q: np.ndarray) -> None:
        """The operator at configuration `q` of the robot, stamped now (messages cached per pose)."""
        key = q.tobytes()
        if key not in self._messages:
            self._messages[key] = frame_to_msg(self.operator.frame(q, 0))
        msg = self._messages[key]
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.publisher.publish(msg)

    def drive(self, poses, seconds: float, rate_hz: float = 30.0) -> None:
        """Publish the poses (a callable of elapsed seconds, or one configuration) at `rate_hz` for `seconds`,
        serving every subscription in between."""
        pose_at = poses if callable(poses) else (lambda _: poses)
        start = time.monotonic()
        next_publish = start
        while (now := time.monotonic()) - start < seconds:
            if now >= next_publish:
                self.publish(pose_at(now - start))
                next_publish += 1.0 / rate_hz
                if next_publish < now:             # fell behind: publish as fast as possible, never in bursts
                    next_publish = now
            self.executor.spin_once(timeout_sec=max(0.0, min(next_publish - time.monotonic(), 0.01)))

    def drive_until(self, q: np.ndarray, condition, seconds: float) -> bool:
        """Keep the operator at `q` (30 Hz) until `condition()` holds or `seconds` pass."""
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            self.drive(q, 0.1)
        return bool(condition())

    def wait(self, condition, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)
        return bool(condition())

    def engage(self, q: np.ndarray, tries: int = 10) -> str:
        """Pose `q` and engage; retried (engaging needs a fresh pose and a fresh joint state)."""
        assert self.engage_client.wait_for_service(timeout_sec=60), "no engage service"
        assert self.wait(lambda: self.node.count_subscribers("/joint_states") >= 2 and self.recorded.states, 60), \
            "the retargeting node does not see the robot's joint states"
        messages = []
        for _ in range(tries):
            self.drive(q, 0.3)
            future = self.engage_client.call_async(SetBool.Request(data=True))
            deadline = time.monotonic() + 10
            while not future.done() and time.monotonic() < deadline:
                self.drive(q, 0.05)
            if future.done() and future.result().success:
                return future.result().message
            messages.append(future.result().message if future.done() else "no answer")
        raise AssertionError(f"engage refused: {messages}")

    def status(self) -> TeleopStatus | None:
        return self.recorded.statuses[-1][1] if self.recorded.statuses else None

    def arm_states(self, arm, since_ns: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Stamps (s) and positions of `arm`'s joints in the robot's joint states stamped after `since_ns`."""
        index = [self.state_names.index(n) for n in arm.command_names]
        rows = [(t, q[index]) for t, q in self.recorded.states if t > since_ns]
        return np.array([(t - rows[0][0]) * 1e-9 for t, _ in rows]), np.array([q for _, q in rows])

    def close(self) -> None:
        self.executor.shutdown()
        self.processes.stop_all()


def window_rates(times: np.ndarray, positions: np.ndarray, window_s: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Velocities over `window_s` windows (every sample paired with the one a window later) and the
    accelerations between consecutive windows; samples whose partner is missing are left out."""
    later = np.searchsorted(times, times + window_s - 1e-6)
    ok = later < len(times)
    ok[ok] &= np.abs(times[later[ok]] - times[ok] - window_s) < 1e-4
    start = np.flatnonzero(ok)
    velocity = (positions[later[start]] - positions[start]) / window_s
    next_window = {int(s): i for i, s in enumerate(start)}
    pairs = [(i, next_window[int(later[s])]) for i, s in enumerate(start) if int(later[s]) in next_window]
    acceleration = np.array([(velocity[j] - velocity[i]) / window_s for i, j in pairs]).reshape(-1, positions.shape[1])
    return velocity, acceleration

