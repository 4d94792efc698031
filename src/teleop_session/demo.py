"""One command for the whole session: camera -> pose node -> retargeting node -> robot process (simulated arm).

    python -m teleop_session.demo [--video FILE|FOLDER|/dev/videoN] [--out out/demo/session.mp4]
                                  [--max-frames N] [--task LABEL] [--no-record] [--config-dir DIR]

The default footage (`make setup` cuts it from the pose2sim wheel) shows a person swinging both
arms; a webcam (/dev/video0) runs until Ctrl-C or --max-frames.
The nodes run as separate processes with the launch files' YAML (teleop_session.bringup's command
lines); the retargeting node is engaged through its service once an operator is tracked, and the
episode recorder records the run.  Afterwards the side-by-side video (camera + skeleton | MuJoCo
robot) is written and the summary printed (also saved as summary.json next to the video): besides
the session's rates and latencies, what the robot did (time engaged, distance each end effector
travelled, gripper closes and opens) and how well each arm followed the operator (`fidelity`).
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "osmesa")                 # CPU offscreen rendering (Debian libosmesa6)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from std_srvs.srv import Trigger  # noqa: E402
from tqdm import tqdm  # noqa: E402

from robot_model.config import load_robot_config  # noqa: E402
from pose_retarget.robot import Robot  # noqa: E402
from teleop_common.config import load  # noqa: E402
from teleop_common.frame_sources import CameraSourceError, open_source, resolve_backend  # noqa: E402
from teleop_common.paths import CACHE_DIR  # noqa: E402
from teleop_session.fidelity import figures_of, traces_of  # noqa: E402
from teleop_session.graph import (  # noqa: E402
    CAMERA_IMAGE, CAMERA_SOURCE, CONFIG_DIR, EPISODE_RECORDER, POSE_RETARGET, ROBOT_SIM, WHOLE_BODY_POSE)
from teleop_session.processes import NodeFailed, NodeProcesses  # noqa: E402
from teleop_session.robot_motion import RobotMotion, measure  # noqa: E402
from teleop_session.session_monitor import SessionLog, SessionMonitor, spinning_monitor  # noqa: E402
from teleop_session.session_report import render_video, summarize  # noqa: E402
from teleop_session.session_video import RobotView  # noqa: E402
from teleop_session.video_encoder import VideoEncoder  # noqa: E402

DEFAULT_VIDEO = CACHE_DIR / "media" / "operator_arms.mp4"
DEFAULT_OUT = Path("out/demo/session.mp4")
READY_TIMEOUT_S = 180.0
DRAIN_IDLE_S = 1.5
DRAIN_TIMEOUT_S = 20.0


def _call(monitor: SessionMonitor, service: str, timeout_s: float = 30.0) -> Trigger.Response:
    client = monitor.create_client(Trigger, service)
    if not client.wait_for_service(timeout_sec=timeout_s):
        raise NodeFailed(f"service {service} did not appear in {timeout_s} s")
    done = threading.Event()
    future = client.call_async(Trigger.Request())
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout_s):
        raise NodeFailed(f"service {service} did not answer in {timeout_s} s")
    return future.result()


def _frame_count(video: str, max_frames: int) -> int | None:
    if Path(video).is_char_device() or resolve_backend(video) == "v4l2":   # not opened here: the camera node owns it
        return max_frames or None
    try:
        source = open_source(video)
    except CameraSourceError:                  # the camera node says why, at its start
        return max_frames or None
    count = source.count
    source.close()
    if max_frames:
        count = min(count, max_frames) if count else max_frames
    return count or None


def _wait(condition, processes: NodeProcesses, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not condition():
        processes.check_alive()
        if time.monotonic() > deadline:
            raise NodeFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def run_live(args: argparse.Namespace, monitor: SessionMonitor, processes: NodeProcesses) -> dict:
    """Start the nodes, play the video through them, stop them; returns the recorder's reply."""
    out_dir = args.out.parent
    processes.start(WHOLE_BODY_POSE)
    # The simulated robot (its own process, as hardware) starts at home, away from the operator: the
    # retargeting node moves it there slowly on engaging.
    robot = {"robot": args.robot} if args.robot else {}
    processes.start(ROBOT_SIM, robot)
    processes.start(POSE_RETARGET, {"engage.mode": "sync", **robot})
    if args.record:
        processes.start(EPISODE_RECORDER, {"output_dir": str(out_dir / "episodes"), "task": f"'{args.task}'"})
    _wait(lambda: monitor.count_publishers("/poses") > 0 and monitor.retarget_ready(), processes,
          READY_TIMEOUT_S, "the pose and retargeting nodes")
    episode = {}
    if args.record:
        reply = _call(monitor, f"/{EPISODE_RECORDER.name}/start_episode")
        episode["path"] = reply.message
    subscribers = 2 + int(args.record)      # pose node, monitor, recorder; all take the JPEG transport
    camera = processes.start(CAMERA_SOURCE, {"source": str(args.video), "max_frames": str(args.max_frames),
                                             "transport": "compressed", "wait_for_subscribers": str(subscribers)})
    total = _frame_count(str(args.video), args.max_frames)
    with tqdm(total=total, unit="frame", desc="session", file=sys.stderr, mininterval=0.5) as bar:
        try:
            while camera.poll() is None:
                processes.check_alive(WHOLE_BODY_POSE.name, POSE_RETARGET.name, ROBOT_SIM.name)
                with monitor.lock:
                    frames, poses, engaged = len(monitor.log.images), len(monitor.log.poses), monitor.log.engaged_at_ns
                bar.update(frames - bar.n)
                bar.set_postfix_str(f"poses {poses}, {'engaged' if engaged else 'not engaged'}", refresh=False)
                time.sleep(0.2)
            if camera.returncode != 0:
                processes.check_alive(CAMERA_SOURCE.name)
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while time.time_ns() - monitor.log.last_activity_ns() < DRAIN_IDLE_S * 1e9 and time.monotonic() < deadline:
                time.sleep(0.1)
            bar.update(len(monitor.log.images) - bar.n)
        except KeyboardInterrupt:
            print("\n[demo] interrupted: stopping the nodes and writing what was recorded", file=sys.stderr)
    if args.record:
        episode["stop"] = _call(monitor, f"/{EPISODE_RECORDER.name}/stop_episode").message
    return episode


def render(args: argparse.Namespace, monitor: SessionMonitor) -> tuple[Path, RobotMotion, Robot]:
    """The side-by-side MP4 of the robot (--robot, else the retargeting node's parameter file's), what
    that robot did, and the robot."""
    config = load(POSE_RETARGET.load_config_class(), args.config_dir / POSE_RETARGET.config_file)
    robot = Robot(load_robot_config(args.robot or config.robot, config.robots_dir))
    motion = measure(robot, monitor.log.joint_states, monitor.log.statuses)
    view = RobotView(robot.model, robot.home, 640, 480)
    video = VideoEncoder(args.out, monitor.log.camera_fps())
    try:
        with tqdm(total=len(monitor.log.images), unit="frame", desc="video", file=sys.stderr) as bar:
            render_video(monitor.log, view, video, motion, lambda: bar.update(1))
    except KeyboardInterrupt:
        print(f"\n[demo] interrupted: the video stops after {video.frames} frames", file=sys.stderr)
    finally:
        video.close()
        view.close()
    return args.out, motion, robot


def fidelity(robot: Robot, log: SessionLog) -> dict:
    """How well each arm followed while engaged (teleop_session.fidelity; bench/fidelity.py on several clips)."""
    keys = ("follow_fraction", "tracking_error_m_median", "clamped_fraction", "lag_frames")
    return {trace.name: {k: v for k, v in figures_of(trace).items() if k in keys} for trace in traces_of(robot, log)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO,
                        help="video file, image folder or V4L2 device such as /dev/video0 (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="side-by-side MP4 (default %(default)s)")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many camera frames (0 = all)")
    parser.add_argument("--task", default="whole-body teleoperation demo", help="task label of the recorded episode")
    parser.add_argument("--no-record", dest="record", action="store_false", help="do not record an MCAP episode")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help="parameter files (default %(default)s)")
    parser.add_argument("--robot", default="", help="robot of config/robots (or a robot YAML) for the retargeting node "
                        "and the robot process (default: their parameter files')")
    args = parser.parse_args(argv)
    if not args.video.exists():
        print(f"[demo] {args.video}: no such video file, image folder or camera device "
              "(run `make setup` to fetch the default footage)", file=sys.stderr)
        return 2

    started = time.monotonic()
    episode: dict = {}
    with spinning_monitor(CAMERA_IMAGE + "/compressed") as monitor:
        processes = NodeProcesses(args.out.parent / "logs", args.config_dir)
        try:
            episode = run_live(args, monitor, processes)
        except NodeFailed as error:
            print(f"[demo] {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\n[demo] interrupted: stopping the nodes (the recorder closes its episode)", file=sys.stderr)
        finally:
            processes.stop_all()
    live_s = time.monotonic() - started
    if not monitor.log.images:
        print("[demo] no camera frame arrived; see the logs in " + str(args.out.parent / "logs"), file=sys.stderr)
        return 1
    video, motion, robot = render(args, monitor)
    summary = {"video": str(video), **summarize(monitor.log), "robot": motion.summary(),
               "fidelity": fidelity(robot, monitor.log), "episode": episode, "session_s": round(live_s, 1)}
    (args.out.parent / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
