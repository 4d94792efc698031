"""Offline whole-body pose estimation: an image, a folder of images or a video -> JSON lines.

    python -m whole_body_pose.cli INPUT --out poses.jsonl [--config config/whole_body_pose.yaml]

One line per frame (PoseFrame.to_json()).  A video and a folder are processed as sequences
(tracking, filtering, time stamps from the frame rate or the frame index); `--independent`
treats every frame as unrelated (fresh state, no filtering across frames).
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from teleop_common.camera import CameraIntrinsics
from teleop_common.config import ConfigError, load
from teleop_common.errors import StartupError
from teleop_common.frame_sources import open_source, rgb_frames
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.draw import draw_poses
from whole_body_pose.pipeline import build_estimator

FOLDER_FPS = 30.0  # time base of a folder of frames (no frame rate to read)


def frames(path: Path) -> tuple[int, float, Iterator[tuple[str, np.ndarray]]]:
    """(frame count, frames per second, iterator of (name, RGB image)) for an image, folder or video.
    Raises CameraSourceError (a ConfigError) when `path` cannot be read as any of them."""
    source = open_source(str(path))
    return source.count, source.fps or FOLDER_FPS, rgb_frames(source)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m whole_body_pose.cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="image, folder of images, or video file")
    parser.add_argument("--out", type=Path, required=True, help="output JSON-lines file")
    parser.add_argument("--config", type=Path, help="ROS 2 parameter file (default: built-in defaults)")
    parser.add_argument("--fov", type=float, help="horizontal field of view in degrees (default: the config's)")
    parser.add_argument("--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"),
                        help="pinhole intrinsics in pixels (overrides --fov)")
    parser.add_argument("--frame-id", default="camera", help="frame_id written with every pose")
    parser.add_argument("--independent", action="store_true", help="reset tracking/filters before every frame")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: all)")
    parser.add_argument("--preview", type=Path, help="folder to write annotated frames into")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load(PoseNodeConfig, args.config) if args.config else PoseNodeConfig()
        if args.fov is not None:       # validated like the YAML value (the dataclass checks itself)
            config = dataclasses.replace(config, default_fov_deg=args.fov)
        count, fps, stream = frames(args.input)
    except (ConfigError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        estimator = build_estimator(config)
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    total = min(count, args.max_frames) if args.max_frames else count
    if args.preview:
        args.preview.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written = people = 0
    with args.out.open("w") as out:
        limited = itertools.islice(stream, args.max_frames or None)
        for index, (name, image) in enumerate(tqdm(limited, total=total or None, unit="frame")):
            if args.independent:
                estimator.reset()
            camera = None
            if args.intrinsics:
                fx, fy, cx, cy = args.intrinsics
                camera = CameraIntrinsics(fx, fy, cx, cy, image.shape[1], image.shape[0])
            frame = estimator.process(image, round(index * 1e9 / fps), args.frame_id, camera)
            record = frame.to_json()
            record["source"] = name
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            written += 1
            people += len(frame.poses)
            if args.preview:
                preview = cv2.cvtColor(draw_poses(image, frame), cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(args.preview / f"{index:06d}.jpg"), preview)
    print(f"wrote {args.out} ({written} frames, {people} poses)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
