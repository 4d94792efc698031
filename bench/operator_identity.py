"""What identifies the operator beyond a track id, measured on real footage (../shared/media).

  PYTHONPATH=src .venv/bin/python bench/operator_identity.py [--clips NAME ...] [--near-m 4.0]

Runs the real estimator (config/whole_body_pose.yaml) on each clip and, for every track seen at
least 20 times nearer than --near-m, the identity measures pose_retarget.identity uses: shoulder
width, body size (mid-shoulder to mid-hip) and the mid-shoulder speed.  Reported per track: medians,
the relative deviation from the track's own median (p5/p95 and worst; and the worst of a median over
identity.RECENT frames, which is what the check compares), speed p95/max; then, with
the configured thresholds (config/pose_retarget.yaml), how many of each track's own observations
the identity check refuses and the longest run of them (STRIKES in a row refuse a track), and for
every pair of different people whether the sizes alone tell them apart.  Last line: JSON.
"""
from __future__ import annotations

import argparse
import itertools
import json
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from pose_retarget.config import InputConfig, RetargetNodeConfig
from pose_retarget.identity import RECENT, OperatorIdentity, measure
from pose_retarget.operator import STRIKES
from teleop_common.config import load
from teleop_session.graph import CONFIG_DIR, POSE_RETARGET, WHOLE_BODY_POSE
from whole_body_pose.pipeline import build_estimator

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
CLIPS = ["people_enter_and_leave_frame_one_by_one__intel.mp4", "three_people_side_by_side_walk_to_camera__intel.gif",
         "two_people_side_by_side_head_turns__intel.gif", "upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv",
         "upper_body_both_arms_open_wide_asl_walk__intel.mkv",
         "upper_body_pinch_at_mouth_second_face_cut_at_edge_asl_bird__intel.mkv",
         "woman_upper_body_raises_arm_thumbs_up__mediapipe-samples.mp4"]
MIN_OBSERVATIONS = 20


def observations(estimator, path: Path) -> dict[int, list]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    estimator.reset()
    tracks: dict[int, list] = {}
    index = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        stamp_ns = int(index / fps * 1e9)
        for person in estimator.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), stamp_ns, "camera", None).poses:
            measures = measure(person, InputConfig().min_confidence)
            if measures is not None and measures.slack_m == 0.0 and np.isfinite(measures.body_size):
                tracks.setdefault(person.track_id, []).append((stamp_ns, measures))
        index += 1
    return tracks


def deviation(values: np.ndarray) -> dict[str, float]:
    relative = values / np.median(values) - 1.0
    return {"p5": round(float(np.percentile(relative, 5)), 3), "p95": round(float(np.percentile(relative, 95)), 3),
            "worst": round(float(relative[np.argmax(np.abs(relative))]), 3)}


def own_refusals(config, rows: list) -> tuple[int, int, str]:
    """Observations of a track the identity check refuses against that track's own history (as the
    selector does: the median of its last RECENT frames, position continuity), the longest run of
    them (STRIKES in a row refuse the track), and the first refusal (time and why)."""
    identity, recent = OperatorIdentity(config), deque(maxlen=RECENT)
    refused, run, longest, first = 0, 0, 0, ""
    for stamp_ns, measures in rows:
        recent.append(measures)
        why = identity.mismatch(recent, stamp_ns)
        if why:
            refused, run = refused + 1, run + 1
            longest = max(longest, run)
            first = first or f"{stamp_ns * 1e-9:.1f} s: {why}"
        else:
            identity.observe(measures, stamp_ns)
            run = 0
    return refused, longest, first


def window_deviation(values: np.ndarray) -> float:
    """Worst relative deviation of a RECENT-frame median from the track's overall median."""
    windows = [np.median(values[i:i + RECENT]) for i in range(len(values) - RECENT + 1)]
    return round(float(np.max(np.abs(np.array(windows) / np.median(values) - 1.0))), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", nargs="*", default=CLIPS)
    parser.add_argument("--near-m", type=float, default=4.0)
    args = parser.parse_args()
    estimator = build_estimator(load(WHOLE_BODY_POSE.load_config_class(), CONFIG_DIR / WHOLE_BODY_POSE.config_file))
    config = load(RetargetNodeConfig, CONFIG_DIR / POSE_RETARGET.config_file).operator
    people, report = [], {}
    for clip in args.clips:
        for track, rows in observations(estimator, MEDIA / clip).items():
            stamps = np.array([r[0] for r in rows]) * 1e-9
            width = np.array([r[1].shoulder_width for r in rows])
            body = np.array([r[1].body_size for r in rows])
            position = np.array([r[1].position for r in rows])
            if len(rows) < MIN_OBSERVATIONS or np.median(position[:, 2]) > args.near_m:
                continue
            speed = np.linalg.norm(np.diff(position, axis=0), axis=1) / np.maximum(np.diff(stamps), 1e-3)
            refused, longest, first = own_refusals(config, rows)
            name = f"{clip.split('__')[0]}#{track}"
            report[name] = {
                "observations": len(rows), "depth_m": round(float(np.median(position[:, 2])), 2),
                "shoulder_width_m": round(float(np.median(width)), 3), "shoulder_width_dev": deviation(width),
                "body_size_m": round(float(np.median(body)), 3), "body_size_dev": deviation(body),
                "shoulder_width_recent_dev": window_deviation(width), "body_size_recent_dev": window_deviation(body),
                "speed_mps_p95": round(float(np.percentile(speed, 95)), 2), "speed_mps_max": round(float(speed.max()), 2),
                "own_refused": refused, "own_longest_run": longest, "first_refusal": first}
            people.append((name, float(np.median(width)), float(np.median(body))))
            print(name, json.dumps(report[name]), flush=True)
    pairs = list(itertools.combinations(people, 2))
    apart = [(a[0], b[0]) for a, b in pairs
             if abs(a[1] / b[1] - 1) > config.max_shoulder_width_change or abs(a[2] / b[2] - 1) > config.max_body_size_change]
    widths, bodies = np.array([p[1] for p in people]), np.array([p[2] for p in people])
    print(json.dumps({
        "tracks": len(people), "tracks_refused_by_own_check": sum(r["own_longest_run"] >= STRIKES for r in report.values()),
        "own_observations_refused": sum(r["own_refused"] for r in report.values()),
        "own_observations": sum(r["observations"] for r in report.values()),
        "people_median_shoulder_width_m": [round(float(widths.min()), 3), round(float(widths.max()), 3)],
        "people_median_body_size_m": [round(float(bodies.min()), 3), round(float(bodies.max()), 3)],
        "pairs": len(pairs), "pairs_told_apart_by_size": len(apart),
        "worst_within_track_shoulder_width_dev": max(abs(r["shoulder_width_dev"]["worst"]) for r in report.values()),
        "worst_within_track_body_size_dev": max(abs(r["body_size_dev"]["worst"]) for r in report.values()),
        "worst_recent_median_shoulder_width_dev": max(r["shoulder_width_recent_dev"] for r in report.values()),
        "worst_recent_median_body_size_dev": max(r["body_size_recent_dev"] for r in report.values()),
        "pair_differences": sorted(round(max(abs(a[1] / b[1] - 1), abs(a[2] / b[2] - 1)), 3) for a, b in pairs),
        "max_speed_mps": max(r["speed_mps_max"] for r in report.values()),
        "thresholds": {"max_shoulder_width_change": config.max_shoulder_width_change,
                       "max_body_size_change": config.max_body_size_change,
                       "max_speed_mps": config.max_speed_mps, "reacquire_distance_m": config.reacquire_distance_m}}))


if __name__ == "__main__":
    main()
