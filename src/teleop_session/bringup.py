"""Start the teleop graph without `ros2 launch`: same executables, same YAML, same remappings.

    python -m teleop_session.bringup [--video FILE] [--image-topic T] [--config-dir DIR] [--only NODE ...]

Each node runs in its own process (as under ros2 launch); SIGINT/SIGTERM stop them all, and the
first node that fails stops the others and sets the exit status.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from teleop_session.graph import ALL_NODES, CAMERA_IMAGE, CAMERA_INFO, CAMERA_SOURCE, CONFIG_DIR, TELEOP_GRAPH, NodeSpec


def node_command(spec: NodeSpec, config_dir: Path, topic_overrides: dict[str, str],
                 extra_parameters: dict[str, str] | None = None) -> list[str]:
    """The command line ros2 launch would run for `spec` (executable --ros-args ...)."""
    executable = shutil.which(spec.executable) or str(Path(sys.executable).parent / spec.executable)
    command = [executable, "--ros-args", "-r", f"__node:={spec.name}",
               "--params-file", str(config_dir / spec.config_file)]
    for source, target in spec.remappings:
        command += ["-r", f"{source}:={topic_overrides.get(target, target)}"]
    for key, value in (extra_parameters or {}).items():
        command += ["-p", f"{key}:={value}"]
    return command


def graph(video: str | None, only: list[str] | None) -> list[NodeSpec]:
    specs = list(TELEOP_GRAPH)
    if video:
        specs.insert(0, CAMERA_SOURCE)
    if only:
        unknown = set(only) - {s.name for s in ALL_NODES}
        if unknown:
            raise SystemExit(f"--only: unknown node(s) {sorted(unknown)}; accepted: {[s.name for s in ALL_NODES]}")
        specs = [s for s in ALL_NODES if s.name in only]
    return specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", help="play this video file or image folder as the camera (camera_source_node)")
    parser.add_argument("--image-topic", default=CAMERA_IMAGE, help="camera image topic (default %(default)s)")
    parser.add_argument("--camera-info-topic", default=CAMERA_INFO, help="camera info topic (default %(default)s)")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help="parameter files (default %(default)s)")
    parser.add_argument("--only", nargs="+", help="start only these nodes (by name)")
    args = parser.parse_args(argv)

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    overrides = {CAMERA_IMAGE: args.image_topic, CAMERA_IMAGE + "/compressed": args.image_topic + "/compressed",
                 CAMERA_INFO: args.camera_info_topic}
    processes: list[tuple[NodeSpec, subprocess.Popen]] = []
    for spec in graph(args.video, args.only):
        extra = {"source": args.video} if spec is CAMERA_SOURCE else None
        command = node_command(spec, args.config_dir, overrides, extra)
        print(f"[bringup] {spec.name}: {' '.join(command)}", flush=True)
        processes.append((spec, subprocess.Popen(command, start_new_session=True)))

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    while not stopping:
        for spec, process in processes:
            code = process.poll()
            if code is not None:
                print(f"[bringup] {spec.name} exited with status {code}", flush=True)
                status = status or code
                stopping = True
        time.sleep(0.1)
    for _, process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for spec, process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"[bringup] {spec.name} did not stop in 10 s; killing it", flush=True)
            process.kill()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
