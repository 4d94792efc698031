"""Measure how our expert pipeline corrupts poses on real footage (the statistics `corrupt.py` reproduces).

    python -m whole_body_pose.temporal.measure [VIDEO ...] [--out stats.json]

The experts run unfiltered and unheld (every frame on its own detections), so the output is the raw
per-frame estimate.  For each track and part we record which frames the part was present, and the
residual of its metric 3D keypoints from a centred 5-frame quadratic fit (a non-causal estimate of
the true motion): its per-axis spread in the camera frame (x, y = image plane, z = depth), its
heavy tail (outliers beyond 5 robust sigmas) and the lengths of the runs of missed frames.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from teleop_common.layout import BODY, PARTS, Part

ARM = [BODY[n] for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")]
REPO = Path(__file__).resolve().parents[3]
DEFAULT_CLIPS = [REPO.parent / "shared" / "media" / name for name in (
    "upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv",
    "upper_body_both_arms_open_wide_asl_walk__intel.mkv",
    "upper_body_pinch_at_mouth_second_face_cut_at_edge_asl_bird__intel.mkv",
    "woman_upper_body_raises_arm_thumbs_up__mediapipe-samples.mp4",
    "hand_open_palm_turning_no_face__mediapipe-samples.mp4",
    "hand_only_fist_then_open_palm__tf-examples-pr427.mp4")]


def run_clip(path: Path) -> dict[int, dict[str, list]]:
    """Per track id: frames, present parts and points of the raw expert estimate."""
    from whole_body_pose.cli import frames
    from whole_body_pose.config import GapFillConfig, OneEuroConfig, PoseNodeConfig
    from whole_body_pose.pipeline import build_estimator

    estimator = build_estimator(PoseNodeConfig(enable_face=False, detect_every_n_frames=1,
                                               one_euro=OneEuroConfig(enabled=False),
                                               gap_fill=GapFillConfig(max_frames=0)))
    _, fps, images = frames(path)
    tracks: dict[int, dict[str, list]] = {}
    for index, (_, rgb) in enumerate(images):
        frame = estimator.process(rgb, int(index * 1e9 / fps), "camera", None)
        for pose in frame.poses:
            rec = tracks.setdefault(pose.track_id, {"frame": [], "present": [], "points": []})
            rec["frame"].append(index)
            rec["present"].append(sorted(int(p) for p in pose.present))
            rec["points"].append(pose.points.copy())
    return tracks


def residuals(series: np.ndarray) -> np.ndarray:
    """(N-4, J, 3) deviations of each frame from the quadratic through its 5-frame neighbourhood."""
    t = np.arange(-2, 3, dtype=np.float64)
    basis = np.stack([np.ones(5), t, t * t], axis=1)
    smooth = np.linalg.pinv(basis)[0]  # weights of the fitted value at t=0
    windows = np.stack([series[i:len(series) - 4 + i] for i in range(5)])  # (5, N-4, J, 3)
    return series[2:-2] - np.tensordot(smooth, windows, axes=1)


def runs(mask: np.ndarray) -> list[int]:
    """Lengths of runs of True strictly inside the sequence (a gap that ends the clip is censored)."""
    out, length = [], 0
    seen = False
    for value in mask:
        if value and seen:
            length += 1
        elif not value:
            if length:
                out.append(length)
            length, seen = 0, True
    return out


def measure(clips: list[Path]) -> dict:
    res: dict[str, list[np.ndarray]] = {"body": [], "hand": []}
    gaps: dict[str, list[int]] = {"body": [], "hand": []}
    frames_seen = {"body": 0, "hand": 0}
    for clip in clips:
        for rec in run_clip(clip).values():
            idx = np.array(rec["frame"])
            points = np.array(rec["points"], dtype=np.float64)
            for name, part, joints in (("body", Part.BODY, ARM), ("hand", Part.LEFT_HAND, None),
                                       ("hand", Part.RIGHT_HAND, None)):
                present = np.array([int(part) in p for p in rec["present"]])
                full = np.zeros(idx.max() - idx.min() + 1, bool)
                full[idx - idx.min()] = present
                gaps[name] += runs(~full)
                frames_seen[name] += int(present.sum())
                sl = PARTS[part].slice
                cols = np.array(joints) if joints is not None else np.arange(sl.start, sl.stop)
                # Consecutive present frames: residuals of each run of >= 5 frames
                start = 0
                ok = present & (np.diff(np.r_[idx[0] - 1, idx]) == 1)
                for end in range(len(ok) + 1):
                    if end == len(ok) or not ok[end]:
                        if end - start >= 5:
                            seg = points[start:end][:, cols]
                            if name == "hand":
                                seg = seg - seg[:, :1]  # wrist-relative: the hand model's frame
                                seg = seg[:, 1:]
                            if np.isfinite(seg).all():
                                res[name].append(residuals(seg).reshape(-1, 3))
                        start = end + 1 if end < len(ok) and not ok[end] else end
                        if end < len(ok) and ok[end]:
                            start = end
    out = {}
    for name in res:
        r = np.concatenate(res[name]) if res[name] else np.zeros((0, 3))
        # A residual from the 5-point quadratic fit is (1 - w0) of white noise: rescale to the noise itself.
        t = np.arange(-2, 3, dtype=np.float64)
        w = np.linalg.pinv(np.stack([np.ones(5), t, t * t], axis=1))[0]
        gain = np.sqrt((1 - w[2]) ** 2 + (w ** 2).sum() - w[2] ** 2)
        mad = 1.4826 * np.median(np.abs(r - np.median(r, axis=0)), axis=0) / gain
        norm = np.linalg.norm(r / gain / np.maximum(mad, 1e-9), axis=1) / np.sqrt(3)
        g = np.array(gaps[name], dtype=int)
        out[name] = {
            "samples": int(len(r)), "frames_present": frames_seen[name],
            "noise_sigma_m_xyz": np.round(mad, 5).tolist(),
            "depth_to_plane_ratio": round(float(mad[2] / max(mad[:2].mean(), 1e-9)), 2),
            "outlier_rate_5sigma": round(float((norm > 5).mean()), 4) if len(r) else 0.0,
            "gap_runs": int(len(g)), "gap_run_hist_1_3_4_8_9_15_16plus": [
                int(((g >= 1) & (g <= 3)).sum()), int(((g >= 4) & (g <= 8)).sum()),
                int(((g >= 9) & (g <= 15)).sum()), int((g >= 16).sum())],
            "gap_frames_per_present_frame": round(float(g.sum() / max(frames_seen[name], 1)), 4),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m whole_body_pose.temporal.measure", description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    stats = measure(args.clips or [c for c in DEFAULT_CLIPS if c.exists()])
    text = json.dumps(stats, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
