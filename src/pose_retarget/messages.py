"""RetargetResult -> ROS messages (message types only, no rclpy): commands, status, markers."""
from __future__ import annotations

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray
from whole_body_teleop.msg import ArmStatus, TeleopStatus

from pose_retarget.command_shaper import Segment
from pose_retarget.results import ArmResult, RetargetResult
from teleop_common.pose_msgs import ns_to_stamp
from teleop_common.status import Reason

# Marker colours: sent as asked / sent clamped or slowed / held.
_COLOURS = {"ok": ColorRGBA(r=0.1, g=0.8, b=0.2, a=0.9), "clamped": ColorRGBA(r=1.0, g=0.7, b=0.0, a=0.9),
            "held": ColorRGBA(r=0.9, g=0.1, b=0.1, a=0.9)}


def _duration(seconds: float) -> Duration:
    return Duration(sec=int(seconds), nanosec=int((seconds % 1.0) * 1e9))


def trajectory(names: tuple[str, ...], positions, seconds: float) -> JointTrajectory:
    """One point, reached `seconds` from now (stamp 0: start on receipt), positions only (linear)."""
    point = JointTrajectoryPoint(positions=[float(p) for p in positions], time_from_start=_duration(seconds))
    return JointTrajectory(joint_names=list(names), points=[point])


def segment_trajectory(names: tuple[str, ...], segment: Segment) -> JointTrajectory:
    """A command segment (command_shaper) as a JTC takes it: stamped with its absolute start, from the
    running setpoint then (time 0) to the goal at rest; both points with velocities (cubic)."""
    start = JointTrajectoryPoint(positions=[float(p) for p in segment.p0], velocities=[float(v) for v in segment.v0],
                                 time_from_start=_duration(0.0))
    end = JointTrajectoryPoint(positions=[float(p) for p in segment.goal], velocities=[0.0] * len(segment.goal),
                               time_from_start=_duration(segment.duration_s))
    return JointTrajectory(header=Header(stamp=ns_to_stamp(segment.start_ns)), joint_names=list(names),
                           points=[start, end])


def _pose(arm: ArmResult) -> Pose:
    if arm.target_position is None:
        return Pose()
    x, y, z = (float(v) for v in arm.target_position)
    w, qx, qy, qz = (float(v) for v in arm.target_quaternion)
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(w=w, x=qx, y=qy, z=qz))


def status(header: Header, result: RetargetResult) -> TeleopStatus:
    arms = [ArmStatus(name=arm.name, target=_pose(arm), reason=int(arm.reason),
                      tracking_error=float(arm.tracking_error),            # NaN without a target
                      gripper_opening=float(arm.gripper_opening), clamped=arm.clamped) for arm in result.arms]
    return TeleopStatus(header=header, engaged=result.engaged, operator_track_id=int(result.operator_track_id), arms=arms)


def _colour(arm: ArmResult) -> ColorRGBA:
    if arm.held:
        return _COLOURS["held"]
    return _COLOURS["ok" if arm.reason == Reason.OK else "clamped"]


def markers(header: Header, result: RetargetResult) -> MarkerArray:
    """An arrow along each target's x axis, coloured by what happened to it; deleted without a target."""
    out = MarkerArray()
    for index, arm in enumerate(result.arms):
        marker = Marker(header=header, ns="retarget_targets", id=index)
        if arm.target_position is None:
            marker.action = Marker.DELETE
        else:
            marker.type, marker.action = Marker.ARROW, Marker.ADD
            marker.pose = _pose(arm)
            marker.scale = Vector3(x=0.08, y=0.012, z=0.012)
            marker.color = _colour(arm)
            marker.text = f"{arm.name}: {arm.reason.name}"
        out.markers.append(marker)
    return out
