"""ROS 2 node: operator poses and the robot's measured joint states in, checked robot commands out
(thin wrapper around Retargeter).

Per pose message: one Retargeter.step(), then everything is published; an input the core drops as
too fast is only counted (`dropped.too_fast`), a rejected one is counted as `error.<kind>`.  Joint
states (`state.topic`) go to the core as they arrive; a refused one is counted as `error.bad_joint_state`.
A timer holds the robot (status INPUT_STALE) when pose messages stop, which also lets the core
disengage from an operator unseen for `operator.lost_timeout_s`.  All callbacks
share the node's default mutually exclusive group, so the core is never entered twice at once.
"""
from __future__ import annotations

import time
from typing import Any

from rclpy.node import Node
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray
from whole_body_teleop.msg import TeleopStatus, WholeBodyPoseArray

from pose_retarget import messages
from pose_retarget.config import RetargetNodeConfig
from pose_retarget.retargeter import Retargeter, RetargetResult
from pose_retarget.robot import Robot
from robot_model.config import load_robot_config, robots_dir
from teleop_common.node_support import (SENSOR_QOS, STATE_QOS, Diagnostics, ErrorReporter, StageTimes, ThrottledLog,
                                        declare_config, run_node)
from teleop_common.pose_msgs import PoseMessageError, msg_to_frame, ns_to_stamp, stamp_to_ns
from teleop_common.stats import EventCounter, RollingStats
from teleop_common.timing import dds_stages
from teleop_common.status import Reason


class PoseRetargetNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pose_retarget", **kwargs)
        self.config = declare_config(self, RetargetNodeConfig)
        robot = Robot(load_robot_config(self.config.robot, robots_dir(self.config.robots_dir)))
        self.retargeter = Retargeter(self.config, robot)
        self.robot = self.retargeter.robot
        self.counters = EventCounter()
        self.report = ErrorReporter(self, self.counters)
        self.hold_log = ThrottledLog(self)
        self.step_ms = RollingStats()
        self._last_input_ns = self._now_ns()

        self.create_subscription(WholeBodyPoseArray, "poses", self._on_poses, STATE_QOS)
        # Only the newest joint state matters: a queue of them would only be worked off late.
        self.create_subscription(JointState, self.config.state.topic, self._on_joint_state, SENSOR_QOS)
        self.arm_pubs = {arm.name: self.create_publisher(JointTrajectory, f"{arm.name}/joint_trajectory", STATE_QOS)
                         for arm in self.robot.arms}
        self.gripper_pubs = {arm.name: self.create_publisher(JointTrajectory, f"{arm.name}/gripper/joint_trajectory",
                                                             STATE_QOS) for arm in self.robot.arms}
        self.status_pub = self.create_publisher(TeleopStatus, "teleop_status", STATE_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "retarget_markers", STATE_QOS)
        self.create_service(SetBool, "~/engage", self._on_engage)
        self.create_timer(self.config.input.stale_timeout_s / 2.0, self._watchdog)
        self.stage_times = StageTimes(self)
        self.diagnostics = Diagnostics(self, "retargeting", self._figures, self.counters)
        self.get_logger().info(f"robot '{self.robot.name}' with arms {[a.name for a in self.robot.arms]}; "
                               "disengaged until ~/engage")

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _figures(self) -> dict[str, Any]:
        return {"input_rate_hz": self.step_ms.rate_hz(), "step_ms_p50": self.step_ms.percentile(50),
                "step_ms_p99": self.step_ms.percentile(99), "engaged": self.retargeter.engaged,
                "robot": self.robot.name, **self.stage_times.stats.figures()}

    def _on_poses(self, msg: WholeBodyPoseArray, info: MessageInfo) -> None:
        stages = dds_stages(stamp_to_ns(msg.header.stamp), info, time.time_ns())
        stages.pop("encode", None)           # stamp -> publication here is the whole pose node
        now = self._now_ns()
        self._last_input_ns = now
        try:
            frame = msg_to_frame(msg)
        except PoseMessageError as error:
            self.report("bad_pose_message", str(error))
            self._publish(self.retargeter.hold(now, Reason.INPUT_INVALID, str(error)))
            return
        started = time.perf_counter()
        result = self.retargeter.step(frame, now)
        if result.rejected == "too_fast":
            self.counters["dropped.too_fast"] += 1
            return
        self.step_ms.add((time.perf_counter() - started) * 1e3, time.monotonic())
        self.counters["frames"] += 1
        if result.rejected:
            self.report(result.rejected, result.arms[0].detail)
        self._publish(result, {**stages, **result.stage_ms})

    def _on_joint_state(self, msg: JointState) -> None:
        problem = self.retargeter.observe_state(list(msg.name), list(msg.position), self._now_ns(),
                                                stamp_to_ns(msg.header.stamp), list(msg.velocity))
        if problem:
            self.report("bad_joint_state", problem)

    def _watchdog(self) -> None:
        now = self._now_ns()
        if (now - self._last_input_ns) * 1e-9 > self.config.input.stale_timeout_s:
            self._publish(self.retargeter.hold(now))

    def _on_engage(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        response.success, response.message = self.retargeter.engage(bool(request.data), self._now_ns())
        self.get_logger().info(f"engage({request.data}): {response.message}")
        return response

    def _publish(self, result: RetargetResult, stages: dict[str, float] | None = None) -> None:
        """Commands, then the status answering them (the end of the camera -> command chain) and markers."""
        if result.disengaged:
            self.counters["disengaged"] += 1
            self.get_logger().warning(f"disengaged: {result.disengaged}")
        started = time.perf_counter()
        for arm in result.arms:
            if arm.held:
                self.counters[f"hold.{arm.reason.name}"] += 1
            if arm.detail:
                self.hold_log.info(arm.name, f"{arm.name} holds: {arm.detail}")
            if result.engaged and arm.segment is not None:
                self.arm_pubs[arm.name].publish(messages.segment_trajectory(arm.joint_names, arm.segment))
                self.gripper_pubs[arm.name].publish(messages.trajectory(
                    arm.gripper_joint_names, arm.gripper_positions, max(result.dt, self.config.state.max_delay_s)))
        # Stamped like the pose message it answers (or the time of a hold), in the robot's base frame.
        header = Header(stamp=ns_to_stamp(result.stamp_ns), frame_id=self.robot.config.base_frame)
        self.status_pub.publish(messages.status(header, result))
        if stages is not None:
            self.stage_times.publish(header.stamp, {**stages, "command": (time.perf_counter() - started) * 1e3})
        if self.marker_pub.get_subscription_count():
            self.marker_pub.publish(messages.markers(header, result))


def main(args: list[str] | None = None) -> None:
    run_node(PoseRetargetNode, args)
