"""Teleop fidelity on real footage: the real chain (camera -> pose -> retargeting -> robot process),
as the demo runs it, on the demo clip and the upper-body clips of ../shared/media.

    python bench/fidelity.py [--clips FILE ...] [--max-frames N]

Per clip and arm, over the engaged status frames: `follow_fraction` (the end effector at its mapped or
clamped target within 3 cm, or closer to it than one frame before), `correlation` (of the end
effector's path with the target path, mean over the axes that move), `lag_frames` (the shift that
maximises that correlation, by cross-correlation), `tracking_error_m_median` (end effector to target),
and the share of frames per status reason.  The end effector comes from the robot's measured
/joint_states (forward kinematics), the target from /teleop_status.  Last line: JSON with the figures
and `follow_fraction_min`, `correlation_min`, `lag_frames_max`, `tracking_error_m_median_max`.
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import argparse  # noqa: E402
import json  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from pose_retarget.robot import Robot  # noqa: E402
from robot_model.config import load_robot_config  # noqa: E402
from teleop_common.config import load  # noqa: E402
from teleop_common.paths import CACHE_DIR, REPO_ROOT  # noqa: E402
from teleop_common.status import reason_name  # noqa: E402
from teleop_session.demo import run_live  # noqa: E402
from teleop_session.graph import CAMERA_IMAGE, CONFIG_DIR, POSE_RETARGET  # noqa: E402
from teleop_session.processes import NodeProcesses  # noqa: E402
from teleop_session.session_monitor import SessionLog, spinning_monitor  # noqa: E402

MEDIA = REPO_ROOT.parent / "shared" / "media"
CLIPS = [CACHE_DIR / "media" / "operator_arms.mp4", *sorted(MEDIA.glob("upper_body_*"))]
AT_TARGET_M = 0.03
MAX_LAG = 15


def _ee_positions(robot: Robot, log: SessionLog, times_ns: list[int]) -> np.ndarray:
    """End-effector positions (robot base frame) per arm at each time, from the last joint state before it."""
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.home
    address = {mujoco.mj_id2name(robot.model, mujoco.mjtObj.mjOBJ_JOINT, j): int(robot.model.jnt_qposadr[j])
               for j in range(robot.model.njnt)}
    state_times = np.array([t for t, _, _ in log.joint_states])
    out = np.full((len(times_ns), len(robot.arms), 3), np.nan)
    for i, t in enumerate(times_ns):
        k = int(np.searchsorted(state_times, t)) - 1
        if k < 0:
            continue
        _, names, positions = log.joint_states[k]
        for name, position in zip(names, positions):
            if name in address:
                data.qpos[address[name]] = position
        mujoco.mj_kinematics(robot.model, data)
        for a, arm in enumerate(robot.arms):
            out[i, a] = robot.to_base(data.site_xpos[arm.site], np.eye(3))[0]
    return out


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


def analyse(robot: Robot, log: SessionLog) -> dict:
    engaged = [(t, m) for t, m in log.statuses if m.engaged]
    times = [t for t, _ in engaged]
    ee = _ee_positions(robot, log, times)
    figures = {}
    for a, arm in enumerate(robot.arms):
        reasons = Counter(reason_name(m.arms[a].reason) for _, m in engaged)
        rows = [(i, m.arms[a]) for i, (_, m) in enumerate(engaged)
                if not np.isnan(m.arms[a].tracking_error) and not np.isnan(ee[i, a, 0])]
        if len(rows) < 2:
            figures[arm.name] = {"engaged_frames": len(engaged), "frames_with_target": len(rows)}
            continue
        index = [i for i, _ in rows]
        target = np.array([[s.target.position.x, s.target.position.y, s.target.position.z] for _, s in rows])
        path = ee[index, a]
        distance = np.linalg.norm(path - target, axis=1)
        following = (distance <= AT_TARGET_M) | np.r_[False, distance[1:] < distance[:-1]]
        correlation, lag = _correlation_and_lag(path, target)
        figures[arm.name] = {
            "engaged_frames": len(engaged), "frames_with_target": len(rows),
            "follow_fraction": round(float(np.mean(following)), 3),
            "correlation": round(correlation, 3), "lag_frames": lag,
            "tracking_error_m_median": round(float(np.median(distance)), 4),
            "reasons": {k: round(v / len(engaged), 3) for k, v in reasons.most_common()},
        }
    return figures


def run_clip(clip: Path, max_frames: int, out: Path) -> SessionLog:
    args = argparse.Namespace(video=clip, max_frames=max_frames, record=False, out=out / clip.stem / "session.mp4",
                              task="fidelity")
    with spinning_monitor(CAMERA_IMAGE + "/compressed") as monitor:
        processes = NodeProcesses(out / clip.stem / "logs", CONFIG_DIR)
        try:
            run_live(args, monitor, processes)
        finally:
            processes.stop_all()
    return monitor.log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", type=Path, default=CLIPS)
    parser.add_argument("--max-frames", type=int, default=0, help="per clip (0 = all)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "bench" / "fidelity")
    args = parser.parse_args()
    config = load(POSE_RETARGET.load_config_class(), CONFIG_DIR / POSE_RETARGET.config_file)
    robot = Robot(load_robot_config(config.robot, config.robots_dir))
    results = {}
    for clip in args.clips:
        log = run_clip(clip, args.max_frames, args.out)
        results[clip.name] = analyse(robot, log)
        print(clip.name, json.dumps(results[clip.name]), flush=True)
    arms = [f for clip in results.values() for f in clip.values() if "follow_fraction" in f]
    summary = {
        "clips": results,
        "follow_fraction_min": min((f["follow_fraction"] for f in arms), default=None),
        "correlation_min": min((f["correlation"] for f in arms if not np.isnan(f["correlation"])), default=None),
        "lag_frames_max": max((abs(f["lag_frames"]) for f in arms), default=None),
        "tracking_error_m_median_max": max((f["tracking_error_m_median"] for f in arms), default=None),
        "targets": {"follow_fraction_min": 0.95, "correlation_min": 0.9, "lag_frames_max": 2,
                    "tracking_error_m_median_max": 0.03},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
