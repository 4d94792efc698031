"""ROS 2 node: operator poses and the robot's measured joint states in, checked robot commands out
(thin wrapper around Retargeter).

Per pose message: one Retargeter.step(), then everything is published; an input the core drops as
too fast is only counted (`dropped.too_fast`), a rejected one is counted as `error.<kind>`.  Joint
states (`state.topic`) go to the core as they arrive; a refused one is counted as `error.bad_joint_state`.
A timer holds the robot (status INPUT_STALE) when pose messages stop, which also lets the core
disengage from an operator unseen for `operator.lost_timeout_s`.  All callbacks
share the node's default mutually exclusive group, so the core is never entered twice at once.

Only its own source commands the robot (source_guard): pose messages are taken serialized, capped at
`input.max_people` people before conversion, and accepted only from the publisher GID bound at start;
another publisher on the input, a client of ~/engage outside `access.engage_callers`, a clock that
jumps or (under use_sim_time) never came disengage the robot and hold it, with ERROR on /diagnostics.
The watchdog runs on a steady clock, so it also runs when the node's clock stands still.
"""
from __future__ import annotations

import time
from typing import Any

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.serialization import serialize_message
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray
from whole_body_teleop.msg import TeleopStatus, WholeBodyPose, WholeBodyPoseArray

from pose_retarget import messages
from pose_retarget.config import RetargetNodeConfig
from pose_retarget.results import RetargetResult
from pose_retarget.retargeter import Retargeter
from pose_retarget.robot import Robot
from pose_retarget.source_guard import Access, Endpoint, Event, node_name
from robot_model.config import robots_dir
from robot_model.description_topic import load_robot
from teleop_common.layout import LAYOUT_NAME, NUM_KEYPOINTS
from teleop_common.node_support import (SENSOR_QOS, STATE_QOS, Diagnostics, ErrorReporter, StageTimes, ThrottledLog,
                                        declare_config, deserialize_capped, run_node)
from teleop_common.pose_msgs import PoseMessageError, msg_to_frame, ns_to_stamp, stamp_to_ns
from teleop_common.stats import EventCounter, RollingStats
from teleop_common.timing import dds_stages
from teleop_common.status import Reason
from teleop_common.text import one_line, printable

# Serialized size of one person in the layout (a longer name or arrays make it larger), doubled: the most
# a person may take in a pose message; larger ones are malformed and refused without being converted.
_POSE_BYTES = 2 * len(serialize_message(WholeBodyPose(layout=LAYOUT_NAME, **{
    name: [0.0] * NUM_KEYPOINTS for name in ("u", "v", "x", "y", "z", "confidence")})))


class PoseRetargetNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pose_retarget", **kwargs)
        self.config = declare_config(self, RetargetNodeConfig)
        robot = Robot(load_robot(self, self.config.robot, robots_dir(self.config.robots_dir)))
        self.retargeter = Retargeter(self.config, robot)
        self.robot = self.retargeter.robot
        self.counters = EventCounter()
        self.report = ErrorReporter(self, self.counters)
        self.hold_log = ThrottledLog(self)
        self.step_ms = RollingStats()
        self._last_input_ns = self._now_ns()
        self.access = Access(self.config.access, bool(self.get_parameter("use_sim_time").value))
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)

        self.poses_sub = self.create_subscription(WholeBodyPoseArray, "poses", self._on_poses, STATE_QOS, raw=True)
        # Only the newest joint state matters: a queue of them would only be worked off late.
        self.create_subscription(JointState, self.config.state.topic, self._on_joint_state, SENSOR_QOS)
        self.arm_pubs = {arm.name: self.create_publisher(JointTrajectory, f"{arm.name}/joint_trajectory", STATE_QOS)
                         for arm in self.robot.arms}
        self.gripper_pubs = {arm.name: self.create_publisher(JointTrajectory, f"{arm.name}/gripper/joint_trajectory",
                                                             STATE_QOS) for arm in self.robot.arms}
        self.status_pub = self.create_publisher(TeleopStatus, "teleop_status", STATE_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "retarget_markers", STATE_QOS)
        self.create_service(SetBool, "~/engage", self._on_engage)
        self._engage_requests = f"rq{self.resolve_service_name('~/engage')}Request"   # its clients' request topic
        self.create_timer(self.config.input.stale_timeout_s / 2.0, self._watchdog, clock=self._steady)
        self.stage_times = StageTimes(self)
        self.diagnostics = Diagnostics(self, "retargeting", self._figures, self.counters, fault=self.access.alarm)
        self.get_logger().info(f"robot {printable(self.robot.name)} with arms {[a.name for a in self.robot.arms]}; "
                               "disengaged until ~/engage")

    # -- who may command the robot ----------------------------------------------------------------

    def _apply(self, events: list[Event]) -> None:
        """Report what access found; hold the robot where it says so."""
        for event in events:
            self.report(event.kind, event.text)
            if event.clock_jump:
                self.counters["clock_jumps"] += 1
                self.retargeter.clock_jumped(event.text)
                self._last_input_ns = self._now_ns()
            else:
                self._disengage(event.text)

    def _disengage(self, why: str) -> None:
        if self.retargeter.engaged:
            self.retargeter.engage(False, self._now_ns())
            self.counters["disengaged"] += 1
            self.get_logger().warning(f"disengaged: {one_line(why)}")

    def _endpoints(self, topic: str, **kwargs: Any) -> list[Endpoint]:
        return [Endpoint(node_name(e.node_namespace, e.node_name), bytes(e.endpoint_gid))
                for e in self.get_publishers_info_by_topic(topic, **kwargs)]

    def _review_sources(self) -> None:
        """Who publishes poses and who holds a client of ~/engage (its request topic), from the ROS graph."""
        clients = self._endpoints(self._engage_requests, no_mangle=True) if self.access.allowed else []
        self._apply(self.access.review(self._endpoints(self.poses_sub.topic_name), clients))

    def _check_clock(self) -> bool:
        """False while the clock cannot be trusted (no /clock under use_sim_time, or it just jumped)."""
        sound, events = self.access.check_clock(self._now_ns(), self._steady.now().nanoseconds)
        self._apply(events)
        return sound

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _figures(self) -> dict[str, Any]:
        source = self.access.source.bound
        return {"input_rate_hz": self.step_ms.rate_hz(), "step_ms_p50": self.step_ms.percentile(50),
                "step_ms_p99": self.step_ms.percentile(99), "engaged": self.retargeter.engaged,
                "robot": self.robot.name, "pose_source": printable(source.node if source else ""),
                "pose_source_gid": source.gid.hex() if source else "", **self.stage_times.stats.figures()}

    def _read(self, raw: bytes) -> WholeBodyPoseArray:
        """The message with at most input.max_people people (the rest ignored and counted)."""
        msg, total = deserialize_capped(raw, WholeBodyPoseArray, self.config.input.max_people, _POSE_BYTES)
        if total > self.config.input.max_people:
            self.counters["ignored_people"] += total - self.config.input.max_people
            msg.inference_latency_ms = float("nan")   # after the cut sequence: not read
        return msg

    def _on_poses(self, raw: bytes, info: MessageInfo) -> None:
        known = info.get("publisher_gid")       # None from an rmw that does not say: then the graph decides
        gid = bytes(known["data"]) if known else None
        if gid is None or not self.access.source.accepts(gid):
            self._review_sources()               # a new publisher: bind it if it is the source
            accepted = self.access.source.accepts(gid) if gid is not None else self.access.source.bound is not None
            if not accepted:
                self.report("foreign_pose_message", f"pose message from publisher {gid.hex() if gid else '?'}, "
                                                    "not the bound source")
                return
        now = self._now_ns()
        self._last_input_ns = now
        try:
            msg = self._read(raw)
            frame = msg_to_frame(msg)
        except Exception as error:  # noqa: BLE001 - malformed input is counted, never fatal
            self.report("bad_pose_message", str(error))
            self._publish(self.retargeter.hold(now, Reason.INPUT_INVALID, str(error)))
            return
        if not self._check_clock() or self.access.alarm():      # answered (stamped like the frame), never used
            result = self.retargeter.hold(now, Reason.INPUT_INVALID, self.access.alarm())
            result.stamp_ns = frame.stamp_ns
            self._publish(result)
            return
        stages = dds_stages(stamp_to_ns(msg.header.stamp), info, time.time_ns())
        stages.pop("encode", None)           # stamp -> publication here is the whole pose node
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
        """On a steady clock: sources, the clock, and a hold when poses stop coming."""
        self._review_sources()
        sound = self._check_clock()
        now = self._now_ns()
        if not sound or self.access.alarm():
            self._publish(self.retargeter.hold(now, Reason.INPUT_INVALID, self.access.alarm()))
        elif (now - self._last_input_ns) * 1e-9 > self.config.input.stale_timeout_s:
            self._publish(self.retargeter.hold(now))

    def _on_engage(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self._review_sources()
        if request.data and (not self._check_clock() or self.access.alarm()):
            response.success, response.message = False, f"refused while the robot is held: {self.access.alarm()}"
        else:
            response.success, response.message = self.retargeter.engage(bool(request.data), self._now_ns())
        self.get_logger().info(f"engage({bool(request.data)}): {one_line(response.message)}")
        return response

    def _publish(self, result: RetargetResult, stages: dict[str, float] | None = None) -> None:
        """Commands, then the status answering them (the end of the camera -> command chain) and markers."""
        if result.disengaged:
            self.counters["disengaged"] += 1
            self.get_logger().warning(f"disengaged: {one_line(result.disengaged)}")
        started = time.perf_counter()
        for arm in result.arms:
            if arm.held:
                self.counters[f"hold.{arm.reason.name}"] += 1
            if arm.bridged:
                self.counters["bridged"] += 1
            if arm.detail:
                self.hold_log.info(f"{arm.name}.{arm.reason.name}",
                                   f"{arm.name} {'holds' if arm.held else 'goes on'}: {arm.detail}")
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
