"""Teleop fidelity: does the robot follow the operator?  Per arm, over the engaged frames, from the
status (reason, target, clamped, commanded distance) and the robot's measured end effector (no ROS).

`follow_fraction`: frames in which the end effector is within 3 cm of its target, or closer to it than
one frame before, or, clamped, at the nearest pose the checks allow (no farther from the target than
the commanded end effector plus 3 cm).  `correlation`: of the end effector's path with the target's,
mean over the axes that move; `lag_frames`: the shift maximising it (robot behind > 0).
`replay()` plays a clip's pose frames through the retargeting core with the robot's plant in the loop
(teleop_session.robot_loop) in the clip's own time, engaging as the demo does.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from pose_retarget.config import RetargetNodeConfig
from pose_retarget.robot import Robot
from teleop_common.pose import PoseFrame
from teleop_common.status import reason_name
from teleop_session.robot_loop import RobotInTheLoop
from teleop_session.robot_motion import JointStateKinematics
from teleop_session.session_monitor import SessionLog

AT_TARGET_M = 0.03
MAX_LAG = 15
ENGAGE_RETRY_S = 1.0          # as the demo's session monitor
TARGETS = {"follow_fraction_min": 0.95, "correlation_min": 0.9, "lag_frames_max": 2, "tracking_error_m_median_max": 0.03}


@dataclass
class ArmTrace:
    """One arm over the engaged frames: status reason, target and end effector (robot base frame)."""

    name: str
    reasons: list[str] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)    # NaN without a target
    ee: list[np.ndarray] = field(default_factory=list)         # NaN before the first joint state
    clamped: list[bool] = field(default_factory=list)
    command_error: list[float] = field(default_factory=list)   # m, commanded end effector to target

    def add(self, reason: str, target: np.ndarray | None, ee: np.ndarray, clamped: bool = False,
            command_error: float = float("nan")) -> None:
        self.reasons.append(reason)
        self.clamped.append(clamped)
        self.command_error.append(command_error)
        self.targets.append(np.full(3, np.nan) if target is None else np.asarray(target, dtype=float))
        self.ee.append(np.asarray(ee, dtype=float))


def _ee_positions(robot: Robot, log: SessionLog, times_ns: list[int]) -> np.ndarray:
    """End-effector positions (robot base frame) per arm at each time, from the last joint state before it."""
    kinematics = JointStateKinematics(robot)
    state_times = np.array([t for t, _, _ in log.joint_states])
    out = np.full((len(times_ns), len(robot.arms), 3), np.nan)
    for i, t in enumerate(times_ns):
        k = int(np.searchsorted(state_times, t)) - 1
        if k < 0:
            continue
        data = kinematics(*log.joint_states[k][1:])
        for a, arm in enumerate(robot.arms):
            out[i, a] = robot.to_base(data.site_xpos[arm.site], np.eye(3))[0]
    return out


def traces_of(robot: Robot, log: SessionLog) -> list[ArmTrace]:
    """The engaged /teleop_status frames of a session, with the end effector from /joint_states."""
    engaged = [(t, m) for t, m in log.statuses if m.engaged]
    ee = _ee_positions(robot, log, [t for t, _ in engaged])
    traces = [ArmTrace(arm.name) for arm in robot.arms]
    for i, (_, message) in enumerate(engaged):
        for a, trace in enumerate(traces):
            status = message.arms[a]
            p = status.target.position
            target = None if np.isnan(status.tracking_error) else np.array([p.x, p.y, p.z])
            trace.add(reason_name(status.reason), target, ee[i, a], status.clamped, status.tracking_error)
    return traces


def _correlation_and_lag(ee: np.ndarray, target: np.ndarray) -> tuple[float, int]:
    """Mean per-axis correlation of the paths, and the lag (frames, robot behind > 0) maximising it."""
    moving = [axis for axis in range(3) if np.std(target[:, axis]) > 0.01 and np.std(ee[:, axis]) > 1e-4]
    if not moving or len(ee) < 2 * MAX_LAG:
        return float("nan"), 0

    def corr(lag: int) -> float:
        a, b = (ee[lag:], target[:len(target) - lag]) if lag >= 0 else (ee[:lag], target[-lag:])
        return float(np.mean([np.corrcoef(a[:, x], b[:, x])[0, 1] for x in moving]))

    lags = {lag: corr(lag) for lag in range(-MAX_LAG, MAX_LAG + 1)}
    best = max(lags, key=lambda lag: lags[lag])
    return corr(0), best


def figures_of(trace: ArmTrace) -> dict:
    """Follow fraction, path correlation and lag, median distance and time per reason of one arm."""
    engaged = len(trace.reasons)
    reasons = Counter(trace.reasons)
    targets, ee = np.array(trace.targets).reshape(-1, 3), np.array(trace.ee).reshape(-1, 3)
    rows = np.flatnonzero(~np.isnan(targets[:, 0]) & ~np.isnan(ee[:, 0]))
    if len(rows) < 2:
        return {"engaged_frames": engaged, "frames_with_target": len(rows)}
    target, path = targets[rows], ee[rows]
    distance = np.linalg.norm(path - target, axis=1)
    clamped = np.array(trace.clamped)[rows]
    at_clamp = clamped & (distance <= np.array(trace.command_error)[rows] + AT_TARGET_M)
    following = (distance <= AT_TARGET_M) | np.r_[False, distance[1:] < distance[:-1]] | at_clamp
    correlation, lag = _correlation_and_lag(path, target)
    return {
        "engaged_frames": engaged, "frames_with_target": len(rows),
        "follow_fraction": round(float(np.mean(following)), 3),
        "correlation": round(correlation, 3), "lag_frames": lag,
        "tracking_error_m_median": round(float(np.median(distance)), 4),
        "clamped_fraction": round(float(np.mean(clamped)), 3),
        "reasons": {k: round(v / engaged, 3) for k, v in reasons.most_common()},
    }


def summarize(results: dict[str, dict[str, dict]]) -> dict:
    """Per clip and arm figures, and the worst of each over all of them, with the targets."""
    arms = [f for clip in results.values() for f in clip.values() if "follow_fraction" in f]
    return {
        "clips": results,
        "follow_fraction_min": min((f["follow_fraction"] for f in arms), default=None),
        "correlation_min": min((f["correlation"] for f in arms if not np.isnan(f["correlation"])), default=None),
        "lag_frames_max": max((abs(f["lag_frames"]) for f in arms), default=None),
        "tracking_error_m_median_max": max((f["tracking_error_m_median"] for f in arms), default=None),
        "targets": TARGETS,
    }


def replay(config: RetargetNodeConfig, frames: list[PoseFrame], latency_ns: int) -> list[ArmTrace]:
    """Play the frames through the core and plant; engage (sync) as the demo does, once a person is tracked."""
    retargeter = RobotInTheLoop(config)
    robot = retargeter.robot
    traces = [ArmTrace(arm.name) for arm in robot.arms]
    start_ns, last_try = 10_000_000_000, -np.inf
    for frame in frames:
        stamp = start_ns + frame.stamp_ns
        now = stamp + latency_ns
        result = retargeter.step(dataclasses.replace(frame, stamp_ns=stamp), now)
        if not result.engaged and result.operator_track_id and (now - last_try) * 1e-9 >= ENGAGE_RETRY_S:
            last_try = now
            retargeter.engage(True, now)
            continue
        if not result.engaged:
            continue
        ee = robot.ee_poses(retargeter.state.measured.q)
        for trace, arm in zip(traces, result.arms):
            position = robot.to_base(ee[arm.name][0], np.eye(3))[0]
            trace.add(arm.reason.name, arm.target_position, position, arm.clamped, arm.tracking_error)
    return traces
