"""What a session produced: its summary figures and its side-by-side video (from a SessionLog)."""
from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable

import numpy as np
from whole_body_teleop.msg import TeleopStatus

from teleop_common.image_codec import decode_compressed
from teleop_common.pose_msgs import msg_to_frame, stamp_to_ns
from teleop_common.status import Reason, reason_name
from teleop_session.robot_motion import RobotMotion
from teleop_session.session_monitor import SessionLog
from teleop_session.session_video import RobotView, side_by_side
from teleop_session.video_encoder import VideoEncoder
from whole_body_pose.draw import draw_poses


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return round(float(np.percentile(values, 50)), 1), round(float(np.percentile(values, 99)), 1)


def _rate(times_ns: list[int]) -> float:
    return (len(times_ns) - 1) / ((times_ns[-1] - times_ns[0]) / 1e9) if len(times_ns) > 1 and times_ns[-1] > times_ns[0] else 0.0


def summarize(log: SessionLog) -> dict:
    """Frames, achieved rate, camera-to-command latency, frames the chain dropped, safety events
    (arms held or clamped while answering a camera frame, by reason).

    Joint commands carry no stamp (JointTrajectory stamp 0 = execute on receipt); the retargeting
    node publishes them and then, in the same callback, the TeleopStatus stamped with the image's
    stamp.  Camera-to-command latency is therefore measured on the statuses answering camera frames
    (the same cycle runs whether engaged or not; `engaged_frames` says how many sent commands).
    Figures that have no sample are None.
    """
    frame_stamps = {stamp for _, stamp, _ in log.images}
    answers = [(receive, s) for receive, s in log.statuses if stamp_to_ns(s.header.stamp) in frame_stamps]
    command_latency = [(receive - stamp_to_ns(s.header.stamp)) / 1e6 for receive, s in answers]
    pose_latency = [(receive - stamp) / 1e6 for stamp, (receive, _) in log.poses.items() if stamp in frame_stamps]
    processed = sorted(receive for stamp, (receive, _) in log.poses.items() if stamp in frame_stamps)
    events: Counter[str] = Counter()
    for _, status in answers:                 # not the holds published between frames (input stale)
        for arm in status.arms:
            if arm.reason != Reason.OK:
                events[reason_name(arm.reason)] += 1
    command_p50, command_p99 = _percentiles(command_latency)
    pose_p50, pose_p99 = _percentiles(pose_latency)
    return {
        "frames": len(log.images),
        "frames_with_pose": len(processed),
        "dropped_frames": len(frame_stamps) - len(processed),
        "camera_fps": round(_rate([receive for receive, _, _ in log.images]), 2),
        "fps": round(_rate(processed), 2),
        "latency_ms_p50": command_p50, "latency_ms_p99": command_p99,
        "pose_latency_ms_p50": pose_p50, "pose_latency_ms_p99": pose_p99,
        "commands": len(log.commands), "engaged_frames": sum(1 for _, s in answers if s.engaged),
        "operator_frames": sum(1 for _, s in answers if s.operator_track_id != 0),
        "engaged": log.engaged_at_ns is not None,
        "engage_replies": log.engage_replies[:3],
        "safety_events": dict(sorted(events.items())),
    }


def _latest(times: list[int], time_ns: int) -> int:
    """Index of the last entry at or before `time_ns` (-1 when none)."""
    return bisect.bisect_right(times, time_ns) - 1


def _status_lines(index: int, total: int, status: TeleopStatus | None, pose_age_ms: float | None,
                  motion: RobotMotion, state: int) -> list[str]:
    pose = "no pose yet" if pose_age_ms is None else f"skeleton {pose_age_ms:.0f} ms old"
    head = f"frame {index + 1}/{total}   {pose}"
    if status is None:
        return [head + "   waiting for the retargeting node", ""]
    engaged = "ENGAGED" if status.engaged else "not engaged"
    moved = {a.name: a for a in motion.arms}
    arms = []
    for arm in status.arms:
        text = f"{arm.name}: {reason_name(arm.reason)}"
        if arm.name in moved and state >= 0:
            done = moved[arm.name]
            text += f" moved {100 * done.distance_m[state]:.0f} cm grip {done.opening[state]:.2f}"
        arms.append(text)
    return [f"{head}   {engaged}   operator #{status.operator_track_id}", "   ".join(arms)]


def render_video(log: SessionLog, view: RobotView, video: VideoEncoder, motion: RobotMotion,
                 on_frame: Callable[[], None]) -> None:
    """One output frame per camera image: the image with its own skeleton (or, for a frame the pose node
    dropped, the latest earlier one, with its age) | the robot as it was when the next image arrived,
    with how far each arm has moved so far and its gripper opening (robot_motion.measure)."""
    pose_stamps = sorted(log.poses)
    state_times = [t for t, _, _ in log.joint_states]
    status_times = [t for t, _ in log.statuses]
    for i, (_, stamp, jpeg) in enumerate(log.images):
        until = log.images[i + 1][0] if i + 1 < len(log.images) else log.last_activity_ns()
        image = decode_compressed(jpeg, bgr=True)
        pose = _latest(pose_stamps, stamp)
        pose_age_ms = None
        if pose >= 0:
            pose_age_ms = (stamp - pose_stamps[pose]) / 1e6
            image = draw_poses(image[..., ::-1], msg_to_frame(log.poses[pose_stamps[pose]][1]))[..., ::-1]
        state = _latest(state_times, until)
        names, positions = (log.joint_states[state][1:] if state >= 0 else ((), ()))
        status = _latest(status_times, until)
        lines = _status_lines(i, len(log.images), log.statuses[status][1] if status >= 0 else None, pose_age_ms,
                              motion, state)
        video.write(side_by_side(np.ascontiguousarray(image), view.render(names, positions), lines))
        on_frame()
