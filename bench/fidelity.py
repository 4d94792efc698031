"""Teleop fidelity on real footage: the real chain (camera -> pose -> retargeting -> robot process),
as the demo runs it, on the demo clip and the upper-body clips of ../shared/media.

    python bench/fidelity.py [--clips FILE ...] [--max-frames N] [--robot NAME]

Per clip and arm, over the engaged status frames (teleop_session.fidelity): `follow_fraction`,
`correlation`, `lag_frames`, `tracking_error_m_median` (end effector to target), `clamped_fraction` and
the share of frames per status reason.  The end effector comes from the robot's measured /joint_states
(forward kinematics), the target from /teleop_status.  Last line: JSON with the figures and
`follow_fraction_min`, `correlation_min`, `lag_frames_max`, `tracking_error_m_median_max`.
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from pose_retarget.robot import Robot  # noqa: E402
from robot_model.config import load_robot_config  # noqa: E402
from teleop_common.config import load  # noqa: E402
from teleop_common.paths import CACHE_DIR, REPO_ROOT  # noqa: E402
from teleop_session.demo import run_live  # noqa: E402
from teleop_session.fidelity import figures_of, summarize, traces_of  # noqa: E402
from teleop_session.graph import CAMERA_IMAGE, CONFIG_DIR, POSE_RETARGET  # noqa: E402
from teleop_session.processes import NodeProcesses  # noqa: E402
from teleop_session.session_monitor import SessionLog, spinning_monitor  # noqa: E402

MEDIA = REPO_ROOT.parent / "shared" / "media"
CLIPS = [CACHE_DIR / "media" / "operator_arms.mp4", *sorted(MEDIA.glob("upper_body_*"))]


def run_clip(clip: Path, max_frames: int, out: Path, robot: str | None) -> SessionLog:
    args = argparse.Namespace(video=clip, max_frames=max_frames, record=False, out=out / clip.stem / "session.mp4",
                              task="fidelity", robot=robot)
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
    parser.add_argument("--robot", help="robot config name (default: the retargeting node's YAML)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "bench" / "fidelity")
    args = parser.parse_args()
    config = load(POSE_RETARGET.load_config_class(), CONFIG_DIR / POSE_RETARGET.config_file)
    robot = Robot(load_robot_config(args.robot or config.robot, config.robots_dir))
    results = {}
    for clip in args.clips:
        log = run_clip(clip, args.max_frames, args.out, args.robot)
        results[clip.name] = {trace.name: figures_of(trace) for trace in traces_of(robot, log)}
        print(clip.name, json.dumps(results[clip.name]), flush=True)
    print(json.dumps(summarize(results)))


if __name__ == "__main__":
    main()
