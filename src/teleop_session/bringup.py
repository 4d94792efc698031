"""Start the teleop graph without `ros2 launch`: same executables, same YAML, same remappings.

    python -m teleop_session.bringup [--video FILE] [--image-topic T] [--config-dir DIR] [--only NODE ...] [--composed]

Each node runs in its own process (as under ros2 launch), or with --composed all of them in one
process on one executor (teleop_container, as teleop.launch.py composed:=true); SIGINT/SIGTERM
stop them all, and the first process that fails stops the others and sets the exit status.
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

from teleop_common.paths import PACKAGE
from teleop_session.graph import (ALL_NODES, CAMERA_IMAGE, CAMERA_INFO, CAMERA_SOURCE, CONFIG_DIR, CONTAINER_EXECUTABLE,
                                  TELEOP_GRAPH, NodeSpec)


def node_arguments(spec: NodeSpec, config_dir: Path, topic_overrides: dict[str, str],
                   extra_parameters: dict[str, str] | None = None) -> list[str]:
    """The ROS arguments ros2 launch would give `spec` (--ros-args: name, parameter file, remappings)."""
    arguments = ["--ros-args", "-r", f"__node:={spec.name}", "--params-file", str(config_dir / spec.config_file)]
    for source, target in spec.remappings:
        arguments += ["-r", f"{source}:={topic_overrides.get(target, target)}"]
    for key, value in (extra_parameters or {}).items():
        arguments += ["-p", f"{key}:={value}"]
    return arguments


def executable_path(name: str) -> str:
    """A colcon install's lib/whole_body_teleop/<name> (on AMENT_PREFIX_PATH), else PATH's or the venv's."""
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        installed = Path(prefix) / "lib" / PACKAGE / name
        if installed.is_file():
            return str(installed)
    return shutil.which(name) or str(Path(sys.executable).parent / name)


def executable_command(name: str) -> list[str]:
    """An installed executable, or the repository's scripts/ file run by this interpreter (a venv
    installed before the executable existed)."""
    installed = executable_path(name)
    script = Path(__file__).resolve().parents[2] / "scripts" / name
    return [installed] if Path(installed).is_file() or not script.is_file() else [sys.executable, str(script)]


def node_command(spec: NodeSpec, config_dir: Path, topic_overrides: dict[str, str],
                 extra_parameters: dict[str, str] | None = None) -> list[str]:
    """The command line ros2 launch would run for `spec` (executable --ros-args ...)."""
    return [*executable_command(spec.executable), *node_arguments(spec, config_dir, topic_overrides, extra_parameters)]


def container_command() -> list[str]:
    """teleop_container as installed, or run from the sources (a venv installed before it existed)."""
    installed = executable_path(CONTAINER_EXECUTABLE)
    return [installed] if Path(installed).is_file() else [sys.executable, "-m", "teleop_session.container"]


def topic_overrides(image_topic: str, camera_info_topic: str) -> dict[str, str]:
    return {CAMERA_IMAGE: image_topic, CAMERA_IMAGE + "/compressed": image_topic + "/compressed",
            CAMERA_INFO: camera_info_topic}


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


def graph_parser(description: str) -> argparse.ArgumentParser:
    """The options bringup and teleop_container share (which nodes, which topics, which parameter files)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--video", help="play this video file or image folder as the camera (camera_source_node)")
    parser.add_argument("--image-topic", default=CAMERA_IMAGE, help="camera image topic (default %(default)s)")
    parser.add_argument("--camera-info-topic", default=CAMERA_INFO, help="camera info topic (default %(default)s)")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help="parameter files (default %(default)s)")
    parser.add_argument("--only", nargs="+", help="start only these nodes (by name)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = graph_parser(__doc__.splitlines()[0])
    parser.add_argument("--composed", action="store_true",
                        help="run the nodes in one process on one executor (teleop_container)")
    args = parser.parse_args(argv)

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    overrides = topic_overrides(args.image_topic, args.camera_info_topic)
    specs = graph(args.video, args.only)
    commands: list[tuple[str, list[str]]] = []
    if args.composed:
        commands.append((CONTAINER_EXECUTABLE, [*container_command(),
                                                *(a for a in (sys.argv[1:] if argv is None else argv) if a != "--composed")]))
    else:
        for spec in specs:
            extra = {"source": args.video} if spec is CAMERA_SOURCE else None
            commands.append((spec.name, node_command(spec, args.config_dir, overrides, extra)))
    processes: list[tuple[str, subprocess.Popen]] = []
    for name, command in commands:
        print(f"[bringup] {name}: {' '.join(command)}", flush=True)
        processes.append((name, subprocess.Popen(command, start_new_session=True)))

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    while not stopping:
        for name, process in processes:
            code = process.poll()
            if code is not None:
                print(f"[bringup] {name} exited with status {code}", flush=True)
                status = status or code
                stopping = True
        time.sleep(0.1)
    for _, process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for name, process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"[bringup] {name} did not stop in 10 s; killing it", flush=True)
            process.kill()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
