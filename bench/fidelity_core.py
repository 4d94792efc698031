"""Teleop fidelity of the retargeting core alone, on real footage: the estimator's poses of each clip
(cached under out/) drive the retargeting core with the robot process's plant in the loop
(teleop_session.robot_loop), in the clip's own time: no DDS, no scheduling, so runs are repeatable
and take seconds.  The same figures as bench/fidelity.py (which runs the real chain of processes).

    python bench/fidelity_core.py [--clips FILE ...] [--robot NAME] [--latency-ms 60]
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "osmesa")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
from pathlib import Path  # noqa: E402

from teleop_common.config import load  # noqa: E402
from teleop_common.paths import REPO_ROOT  # noqa: E402
from teleop_common.pose import PoseFrame  # noqa: E402
from teleop_session.fidelity import figures_of, replay, summarize  # noqa: E402
from teleop_session.graph import CONFIG_DIR, POSE_RETARGET, WHOLE_BODY_POSE  # noqa: E402

from fidelity import CLIPS  # noqa: E402

CACHE = REPO_ROOT / "out" / "bench" / "fidelity_core"


def clip_frames(clip: Path) -> list[PoseFrame]:
    """The pose node's output for every frame of `clip` (its configuration), cached by clip and size."""
    cache = CACHE / f"{clip.name}.{clip.stat().st_size}.pkl"
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    import cv2

    from whole_body_pose.pipeline import build_estimator

    estimator = build_estimator(load(WHOLE_BODY_POSE.load_config_class(), CONFIG_DIR / WHOLE_BODY_POSE.config_file))
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        frames.append(estimator.process(rgb, round(len(frames) * 1e9 / fps), "camera", None))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(frames))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", type=Path, default=CLIPS)
    parser.add_argument("--robot", help="robot config name (default: the retargeting node's YAML)")
    parser.add_argument("--latency-ms", type=float, default=60.0, help="camera to retargeting input")
    args = parser.parse_args()
    config = load(POSE_RETARGET.load_config_class(), CONFIG_DIR / POSE_RETARGET.config_file)
    config = dataclasses.replace(config, engage=dataclasses.replace(config.engage, mode="sync"),
                                 **({"robot": args.robot} if args.robot else {}))
    results = {}
    for clip in args.clips:
        traces = replay(config, clip_frames(clip), int(args.latency_ms * 1e6))
        results[clip.name] = {trace.name: figures_of(trace) for trace in traces}
        print(clip.name, json.dumps(results[clip.name]), flush=True)
    print(json.dumps(summarize(results)))


if __name__ == "__main__":
    main()
