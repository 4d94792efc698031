"""Measure the body plausibility ratios (whole_body_pose/experts/plausibility.py) on real clips; JSON on the last line.

The limits in config/whole_body_pose.yaml `plausibility:` are chosen from these figures: every
ratio's range over the clips where the body is right (frontal upper bodies) against its values on
the frames where the demo clip's man turns sideways and the body collapses.  Marking changes only the
published confidences, never the body model's input, so the ratios are the raw model's; `marked`
counts the bodies the default limits mark, per rule.

    PYTHONPATH=src .venv/bin/python bench/plausibility.py [--frames-of operator_arms.mp4]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np

from teleop_common.frame_sources import VideoFileSource, rgb_frames
from teleop_common.paths import CACHE_DIR, REPO_ROOT
from whole_body_pose.config import PlausibilityConfig, PoseNodeConfig, TemporalConfig
from whole_body_pose.experts.estimator import build_part_experts
from whole_body_pose.experts.plausibility import Measures, implausible_arms

SHARED = REPO_ROOT.parent / "shared" / "media"
CLIPS = (CACHE_DIR / "media" / "operator_arms.mp4",
         SHARED / "upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv",
         SHARED / "upper_body_both_arms_open_wide_asl_walk__intel.mkv",
         SHARED / "upper_body_pinch_at_mouth_second_face_cut_at_edge_asl_bird__intel.mkv",
         SHARED / "woman_upper_body_raises_arm_thumbs_up__mediapipe-samples.mp4")
PERCENTILES = (0, 1, 5, 50, 95, 99, 100)


def series(path: Path) -> list[dict]:
    """Per frame, per observed body: its ratios and whether its shoulders swapped."""
    config = PoseNodeConfig(temporal=TemporalConfig(model="none"))
    estimator = build_part_experts(config)
    source = VideoFileSource(str(path))
    fps = source.fps or 30.0
    rows = []
    for i, (_, rgb) in enumerate(rgb_frames(source)):
        estimator.process(rgb, round(i * 1e9 / fps), "camera", None)
        for track_id, (m, swap) in estimator.checks.measures.items():
            rows.append({"frame": i, "track": track_id, "swap": swap, **dataclasses.asdict(m)})
    return rows


def flat(rows: list[dict]) -> dict[str, np.ndarray]:
    """Ratio name -> values (the per-arm ones pooled over both arms)."""
    out = {"shoulder_torso": [r["shoulder_torso"] for r in rows], "shoulder_head": [r["shoulder_head"] for r in rows]}
    for key in ("arm_axis", "arm_length"):
        out[key] = [r[key][side] for r in rows for side in ("left", "right")]
    return {k: np.array(v) for k, v in out.items()}


def summary(rows: list[dict]) -> dict:
    values = flat(rows)
    limits = PlausibilityConfig()
    marked = [implausible_arms(Measures(r["shoulder_torso"], r["shoulder_head"], r["arm_axis"], r["arm_length"]),
                               r["swap"], limits) for r in rows]
    rules = Counter(rule for arms in marked for rule in set(arms.values()))
    return {"bodies": len(rows), "swaps": int(sum(r["swap"] for r in rows)),
            "marked_bodies": sum(bool(arms) for arms in marked), "marked_by_rule": dict(rules),
            **{k: {f"p{p}": round(float(np.percentile(v, p)), 3) for p in PERCENTILES} for k, v in values.items() if len(v)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-of", help="also print every frame's ratios of this clip (file name)")
    args = parser.parse_args()
    report = {}
    for clip in CLIPS:
        if not clip.is_file():
            continue
        rows = series(clip)
        report[clip.name] = summary(rows)
        if args.frames_of == clip.name:
            for r in rows:
                print(json.dumps({"frame": r["frame"], "track": r["track"], "swap": r["swap"],
                                  "shoulder_torso": round(r["shoulder_torso"], 3),
                                  "shoulder_head": round(r["shoulder_head"], 3),
                                  "arm_axis": {s: round(v, 3) for s, v in r["arm_axis"].items()},
                                  "arm_length": {s: round(v, 3) for s, v in r["arm_length"].items()}}))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
