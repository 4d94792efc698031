"""Session benchmark: the teleop chain (pose node -> retargeting node) fed real footage at 30 Hz on the CPU.

  ROS_DOMAIN_ID=<n> PYTHONPATH=src .venv/bin/python bench/session.py [--seconds 20] [--rate 30] [--video FILE]
      [--transport jpeg|raw] [--composed] [--set NODE:KEY:=VALUE ...] [--without SOURCE_TREE --rounds N]

The benchmark captures frames (Megamind.avi, looped) at `rate` on an absolute schedule, stamps each
at capture, encodes it (JPEG, or raw bgr8) and publishes it with CameraInfo, as camera_source_node
does, to the real nodes started as processes (or, --composed, as one teleop_container) with the
launch files' YAML, and engages the retargeting node once an operator is tracked.

  latency_ms_*: image stamp -> joint command publication.  Commands carry no stamp (JointTrajectory
                stamp 0 = execute on receipt); the retargeting node publishes them and then, in the
                same callback, the TeleopStatus stamped with the image's stamp, whose arrival is
                measured (with or without engagement: the same cycle runs either way).
  pose_latency_ms_*: image stamp -> WholeBodyPoseArray arrival (the pose node alone).
  fps: camera frames answered per second; dropped_frames: fed frames never answered (the pose node
       keeps only the latest frame, so a slow frame drops stale ones instead of queueing them).
  backlog_growth: trend of the backlog, the frames fed after the frame being answered at each answer
       (the queue behind it): least-squares slope in frames per second of run, rounded (0 = no queue
       builds; a chain that queued every frame would gain feed_hz - fps frames per second).
  latency_vs_target: latency_ms_p50 / 50 ms and latency_ms_p99 / 100 ms (issue 12's targets).
  stages_ms_p50_p99: each stage's p50 and p99 over the answered frames, from the nodes' ~/timing
       messages (teleop_common.timing: "<node>.<stage>"); slowest_5pct_stages_ms_mean: the mean of each
       stage over the slowest 5 % of frames (what the p99 is made of); stages_sum_ms_p50 and
       unaccounted_ms_p50: how much of a frame's latency the stages account for.
  cpu_ms_per_frame: CPU time (all threads) of each node process per answered frame; unlike latency it
       hardly depends on the machine's other load.
Reference, measured in the same run before the chain starts: the pose estimator called in-process
(no ROS, no JPEG) on the same frames, one after the other (reference_pose_ms_*); latency_vs_reference
= latency_ms_p50 / reference_pose_ms_p50.  A node that keeps only the latest frame answers, on
average, after half a processing time of waiting plus one processing time: ~1.5 x the reference.
--without SOURCE_TREE: the same chain from another source tree (e.g. a worktree of the commit before a
change, its own config/), run alternately with this tree's for --rounds rounds each (same run, same
machine): without_* figures and the median of the per-round ratios with_vs_without_*; the headline
latency, fps and latency_vs_reference are then medians over this tree's rounds, backlog_growth the worst.
Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from teleop_common.frame_sources import CameraSourceError, VideoFileSource  # noqa: E402
from teleop_common.image_codec import encode_jpeg  # noqa: E402
from teleop_common.node_support import SENSOR_QOS, STATE_QOS  # noqa: E402
from teleop_common.paths import REPO_ROOT  # noqa: E402
from teleop_common.pose_msgs import ns_to_stamp, stamp_to_ns  # noqa: E402
from teleop_session.camera_info import Calibration  # noqa: E402
from teleop_session.container import parse_settings  # noqa: E402
from teleop_session.graph import CAMERA_IMAGE, CAMERA_INFO, POSE_RETARGET, ROBOT_SIM, WHOLE_BODY_POSE  # noqa: E402
from teleop_session.processes import NodeProcesses  # noqa: E402
from teleop_session.session_monitor import SessionLog, SessionMonitor, spinning_monitor  # noqa: E402

STAGE_NODES = (WHOLE_BODY_POSE.name, POSE_RETARGET.name)
WARMUP_S = 3.0
TARGET_P50_MS, TARGET_P99_MS = 50.0, 100.0   # issue 12
JPEG_QUALITY = 90                              # camera_source.yaml's default


def _video_frames(video: Path, limit: int = 150) -> list[np.ndarray]:
    """The first `limit` BGR frames (what the camera node publishes) through the project's frame reader."""
    try:
        source = VideoFileSource(str(video))
    except CameraSourceError as error:
        raise SystemExit(str(error)) from None
    frames = []
    while len(frames) < limit and (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    return frames


def reference_pose_ms(frames: list[np.ndarray], count: int) -> list[float]:
    """Wall time of the pose estimator alone on `count` frames (after 5 warm-up frames)."""
    from teleop_common.config import load
    from whole_body_pose.config import PoseNodeConfig
    from whole_body_pose.pipeline import build_estimator

    estimator = build_estimator(load(PoseNodeConfig, REPO_ROOT / "config" / WHOLE_BODY_POSE.config_file))
    times = []
    for i in range(count + 5):
        rgb = cv2.cvtColor(frames[i % len(frames)], cv2.COLOR_BGR2RGB)
        started = time.perf_counter()
        estimator.process(rgb, int(i * 1e9 / 30), "camera_optical", None)
        times.append((time.perf_counter() - started) * 1e3)
    return times[5:]


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def feed(monitor: SessionMonitor, frames: list[np.ndarray], transport: str, rate: float,
         seconds: float) -> list[tuple[int, int]]:
    """Publish frames on an absolute schedule, stamped at capture and then encoded, as camera_source_node
    does; returns (publish time, stamp) of each."""
    if transport == "raw":
        image_pub = monitor.create_publisher(Image, CAMERA_IMAGE, SENSOR_QOS)
    else:
        image_pub = monitor.create_publisher(CompressedImage, CAMERA_IMAGE + "/compressed", SENSOR_QOS)
    info_pub = monitor.create_publisher(CameraInfo, CAMERA_INFO, STATE_QOS)
    height, width = frames[0].shape[:2]
    calibration = Calibration.from_fov(width, height, 60.0)
    published = []
    start = time.monotonic()
    for i in range(int(seconds * rate)):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        header = Header(stamp=ns_to_stamp(time.time_ns()), frame_id="camera_optical")
        frame = frames[i % len(frames)]
        if transport == "raw":
            msg = Image(header=header, height=height, width=width, encoding="bgr8", step=width * 3)
            msg.data = frame.tobytes()
        else:
            msg = CompressedImage(header=header, format="bgr8; jpeg compressed bgr8")
            msg.data = encode_jpeg(frame, JPEG_QUALITY)
        image_pub.publish(msg)
        info_pub.publish(calibration.to_msg(header))
        published.append((time.time_ns(), stamp_to_ns(header.stamp)))
    time.sleep(1.0)
    return published


def figures(monitor: SessionMonitor, published: list[tuple[int, int]], warmup_ns: int, rate: float,
            reference: list[float]) -> dict:
    log = monitor.log
    measured = [(p, s) for p, s in published if s >= warmup_ns]
    order = {stamp: i for i, (_, stamp) in enumerate(published)}
    publish_times = np.array([p for p, _ in published], np.int64)
    answers = sorted((receive, stamp_to_ns(s.header.stamp)) for receive, s in log.statuses
                     if stamp_to_ns(s.header.stamp) in order and stamp_to_ns(s.header.stamp) >= warmup_ns)
    latency = [(receive - stamp) / 1e6 for receive, stamp in answers]
    pose_latency = [(receive - stamp) / 1e6 for stamp, (receive, _) in log.poses.items()
                    if stamp in order and stamp >= warmup_ns]
    backlog = [int(np.searchsorted(publish_times, receive, side="right")) - order[stamp] - 1 for receive, stamp in answers]
    times_s = [(receive - answers[0][0]) / 1e9 for receive, _ in answers]
    slope = float(np.polyfit(times_s, backlog, 1)[0]) if len(backlog) > 2 else float("nan")
    span_s = (measured[-1][1] - measured[0][1]) / 1e9 if len(measured) > 1 else float("nan")
    p50, p99 = _percentile(latency, 50), _percentile(latency, 99)
    return {
        "latency_ms_p50": p50, "latency_ms_p99": p99,
        "pose_latency_ms_p50": _percentile(pose_latency, 50), "pose_latency_ms_p99": _percentile(pose_latency, 99),
        "fps": round(len(answers) / span_s, 2) if answers else 0.0,
        "feed_hz": rate, "frames_fed": len(measured),
        "dropped_frames": len(measured) - len({s for _, s in answers}),
        "backlog_growth": int(round(slope)) if np.isfinite(slope) else None, "backlog_slope_per_s": round(slope, 3),
        "backlog_median": float(np.median(backlog)) if backlog else float("nan"), "backlog_max": max(backlog, default=0),
        "engaged_answers": sum(1 for _, s in log.statuses if s.engaged and stamp_to_ns(s.header.stamp) in order),
        "latency_vs_target": [round(p50 / TARGET_P50_MS, 2), round(p99 / TARGET_P99_MS, 2)],
        "reference_pose_ms_p50": _percentile(reference, 50), "reference_pose_ms_p99": _percentile(reference, 99),
        "latency_vs_reference": round(p50 / _percentile(reference, 50), 2) if reference else None,
        "cpu_load_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        **stage_figures(log.timings, [stamp for _, stamp in answers], latency),
    }


def stage_figures(timings: dict[str, dict[int, dict[str, float]]], stamps: list[int], latency: list[float]) -> dict:
    """p50/p99 of every stage of the answered frames ("<node>.<stage>", in chain order), the mean of
    each over the slowest 5 % of frames (what the p99 is made of), and how much of each frame's
    latency the stages account for (the rest: the status' own transport, clock reads)."""
    per_frame = []
    for stamp in stamps:
        stages = {f"{node}.{name}": ms for node in STAGE_NODES for name, ms in timings.get(node, {}).get(stamp, {}).items()}
        per_frame.append(stages)
    names = list(dict.fromkeys(name for stages in per_frame for name in stages))
    breakdown = {name: [_percentile([s[name] for s in per_frame if name in s], q) for q in (50, 99)] for name in names}
    complete = [(sum(s.values()), total) for s, total in zip(per_frame, latency) if s]
    slow = [s for s, total in zip(per_frame, latency) if s and total >= np.percentile(latency, 95)]
    tail = {name: round(float(np.mean([s.get(name, 0.0) for s in slow])), 1) for name in names} if slow else {}
    return {"stages_ms_p50_p99": breakdown,
            "slowest_5pct_stages_ms_mean": tail,
            "stages_sum_ms_p50": _percentile([s for s, _ in complete], 50),
            "unaccounted_ms_p50": _percentile([total - s for s, total in complete], 50)}


# What issue 12 changed that a parameter selects: --baseline runs the chain without it.
BASELINE = {WHOLE_BODY_POSE.name: {"part_search_calls": "10", "face_every_n_frames": "1"}}


def node_parameters(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """Per node: the launch files' YAML plus these overrides (-p in each process, --set in the container)."""
    parameters: dict[str, dict[str, str]] = {WHOLE_BODY_POSE.name: {},
                                             POSE_RETARGET.name: {"engage.mode": "sync"}}  # as the demo
    if args.baseline:
        for node, values in BASELINE.items():
            parameters[node].update(values)
    for node, values in parse_settings(args.set, [WHOLE_BODY_POSE, POSE_RETARGET]).items():
        parameters[node].update(values)
    return parameters


def run_chain(monitor: SessionMonitor, args: argparse.Namespace, frames: list[np.ndarray], reference: list[float],
              source: Path | None = None) -> dict:
    """One measured session: the nodes of this tree (or of the source tree `source`, as separate
    processes with its own config/) fed at `args.rate`; the figures."""
    monitor.log = SessionLog()
    env = {"PYTHONPATH": os.pathsep.join([str(source / "src"), os.environ.get("PYTHONPATH", "")])} if source else None
    processes = NodeProcesses(REPO_ROOT / "out" / "bench" / "session_logs",
                              **({"config_dir": source / "config"} if source else {}), env=env)
    composed = args.composed and source is None
    try:
        parameters = node_parameters(args) if source is None else {WHOLE_BODY_POSE.name: {},
                                                                   POSE_RETARGET.name: {"engage.mode": "sync"}}
        if composed:
            processes.start_composed([WHOLE_BODY_POSE, POSE_RETARGET], parameters)
        else:
            for spec in (WHOLE_BODY_POSE, POSE_RETARGET):
                nice = dict(n.split(":") for n in args.nice).get(spec.name)
                processes.start(spec, parameters[spec.name], ["nice", "-n", nice] if nice else None)
        if (source or REPO_ROOT).joinpath("scripts", ROBOT_SIM.executable).is_file():   # trees since issue 20
            processes.start(ROBOT_SIM)     # the robot process the commands go to, as in the demo
        deadline = time.monotonic() + 180
        while not (monitor.count_publishers("/poses") and monitor.retarget_ready()
                   and monitor.count_subscribers(CAMERA_IMAGE + "/compressed")):
            processes.check_alive()
            if time.monotonic() > deadline:
                raise SystemExit("nodes not ready after 180 s")
            time.sleep(0.1)
        warmup_ns = time.time_ns() + int(WARMUP_S * 1e9)
        cpu_before = {name: cpu_ms(process.pid) for name, (process, _) in processes.processes.items()}
        published = feed(monitor, frames, args.transport, args.rate, WARMUP_S + args.seconds)
        time.sleep(0.5)   # the last answers
        fed = {stamp for _, stamp in published}
        answered = max(1, sum(1 for stamp in list(monitor.log.poses) if stamp in fed))
        cpu = {name: round((cpu_ms(process.pid) - cpu_before[name]) / answered, 2)   # per frame answered
               for name, (process, _) in processes.processes.items()}
        processes.check_alive()
    finally:
        processes.stop_all()
        print(f"logs: {processes.log_dir}", file=sys.stderr)
    gone = time.monotonic() + 30.0
    while monitor.count_publishers("/poses") and time.monotonic() < gone:   # the next run starts without them
        time.sleep(0.1)
    return {"source": str(source or REPO_ROOT), "transport": args.transport, "composed": composed,
            "parameters": parameters, "cpu_ms_per_frame": cpu, "cpu_ms_per_frame_total": round(sum(cpu.values()), 2),
            **figures(monitor, published, warmup_ns, args.rate, reference)}


def cpu_ms(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far, in ms: unlike wall-clock
    latency it hardly depends on what else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e3 / os.sysconf("SC_CLK_TCK")


def compare(runs: dict[str, list[dict]]) -> dict:
    """Rounds of this tree ("with") and the baseline tree ("without"), run alternately: each one's
    median p50/p99 over rounds and the median of the per-round ratios with / without."""
    def median(variant: str, key: str) -> float:
        return round(float(np.median([r[key] for r in runs[variant]])), 1)

    paired = list(zip(runs["with"], runs["without"]))
    return {
        "without_latency_ms_p50": median("without", "latency_ms_p50"),
        "without_latency_ms_p99": median("without", "latency_ms_p99"),
        "without_fps": median("without", "fps"),
        "without_cpu_ms_per_frame_total": median("without", "cpu_ms_per_frame_total"),
        "with_vs_without_cpu": round(float(np.median([a["cpu_ms_per_frame_total"] / b["cpu_ms_per_frame_total"]
                                                      for a, b in paired])), 2),
        "with_vs_without_p50": round(float(np.median([a["latency_ms_p50"] / b["latency_ms_p50"] for a, b in paired])), 2),
        "with_vs_without_p99": round(float(np.median([a["latency_ms_p99"] / b["latency_ms_p99"] for a, b in paired])), 2),
        "rounds": [{variant: {k: r[k] for k in ("latency_ms_p50", "latency_ms_p99", "fps", "cpu_ms_per_frame_total",
                                                 "cpu_load_1m")}
                    for variant, r in (("with", a), ("without", b))} for a, b in paired],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured feeding time (after warm-up)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate fed to the chain (Hz)")
    parser.add_argument("--video", type=Path, default=REPO_ROOT / ".cache" / "media" / "Megamind.avi")
    parser.add_argument("--transport", choices=("jpeg", "raw"), default="jpeg",
                        help="camera images as JPEG (<image>/compressed) or raw bgr8")
    parser.add_argument("--composed", action="store_true",
                        help="pose and retargeting nodes in one process, one executor (teleop_container)")
    parser.add_argument("--baseline", action="store_true",
                        help="without issue 12's parameters (unbounded part search, face every frame): " + str(BASELINE))
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="NODE:KEY:=VALUE", help="node parameter override")
    parser.add_argument("--nice", nargs="+", action="extend", default=[], metavar="NODE:N",
                        help="run a node process under `nice -n N` (N < 0 needs privileges)")
    parser.add_argument("--reference-frames", type=int, default=40, help="in-process estimator frames (0: skip)")
    parser.add_argument("--without", type=Path, metavar="SOURCE_TREE",
                        help="also run the nodes of this source tree (e.g. a worktree of the commit before the "
                             "change), alternately with this tree's, for --rounds rounds each")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    frames = _video_frames(args.video)
    reference = reference_pose_ms(frames, args.reference_frames) if args.reference_frames else []

    with spinning_monitor(None) as monitor:  # the bench knows its images: echoing them back would load the chain
        if args.without is None:
            result = run_chain(monitor, args, frames, reference)
        else:
            runs: dict[str, list[dict]] = {"with": [], "without": []}
            for i in range(args.rounds):
                for variant in (("with", "without") if i % 2 == 0 else ("without", "with")):
                    runs[variant].append(run_chain(monitor, args, frames, reference,
                                                   None if variant == "with" else args.without.resolve()))
                    print(f"round {i + 1} {variant}: {runs[variant][-1]['latency_ms_p50']} / "
                          f"{runs[variant][-1]['latency_ms_p99']} ms", file=sys.stderr)
            # Headline figures: the median over this tree's rounds (the breakdown is its last round's).
            medians = {key: round(float(np.median([r[key] for r in runs["with"]])), 2)
                       for key in ("latency_ms_p50", "latency_ms_p99", "pose_latency_ms_p50", "pose_latency_ms_p99",
                                   "fps", "latency_vs_reference", "cpu_ms_per_frame_total")
                       if runs["with"][0][key] is not None}   # no reference with --reference-frames 0
            result = {**runs["with"][-1], **medians, **compare(runs)}
            result["latency_vs_target"] = [round(result["latency_ms_p50"] / TARGET_P50_MS, 2),
                                           round(result["latency_ms_p99"] / TARGET_P99_MS, 2)]
            result["backlog_growth"] = max(r["backlog_growth"] or 0 for r in runs["with"])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
