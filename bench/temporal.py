"""Temporal models on held-back real motion capture with our pipeline's measured corruption.

    python bench/temporal.py [--quick]

Body: the 15 DeepMimic clips of PyPI pybullet (forward kinematics in test/data/deepmimic_limbs.npz,
never used for training), each seen from 3 camera directions, corrupted with the noise, outliers
and missed runs measured on our expert pipeline (whole_body_pose/temporal/measured.json).  Hands:
held-out procedural hand sequences (no real finger mocap is available offline), same corruption
statistics.  Every method runs online (causal) in the same run: raw input (gaps held), the 5-frame
hold's gap figures, One-Euro (node defaults and the best of a grid, tuned on this very data),
a constant-velocity Kalman filter (best of a grid) and PoseBERT.  On the real upper-body clips of
../shared/media (development footage, skipped where absent): arm jitter (mean |second difference|,
mm/frame^2) of the raw estimate, One-Euro (node defaults) and PoseBERT through the pose node's
configuration, and each filter's lag behind raw.  Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from whole_body_pose.config import OneEuroConfig  # noqa: E402
from whole_body_pose.experts.filters import OneEuroFilter  # noqa: E402
from whole_body_pose.temporal import motion  # noqa: E402
from whole_body_pose.temporal.corrupt import GAP_BINS, Corruption, corrupt  # noqa: E402
from whole_body_pose.temporal.mocap import camera_view, load_npz  # noqa: E402
from whole_body_pose.temporal.refiner import Streams  # noqa: E402
from whole_body_pose.temporal.skeleton import mirror  # noqa: E402

CLIPS = REPO / "test" / "data" / "deepmimic_limbs.npz"
VIEWS = (0.0, np.pi / 4, np.pi / 2)
WRISTS = (4, 5)
THUMB_TIP, INDEX_TIP = 3, 7  # rows of the 20 wrist-relative hand joints (layout index - 1)


class Hold:
    """Raw observations; a missed joint keeps its last observed value."""

    def __init__(self) -> None:
        self.last: np.ndarray | None = None

    def __call__(self, t: float, obs: np.ndarray, valid: np.ndarray) -> np.ndarray:
        if self.last is None:
            self.last = np.where(valid[:, None], obs, np.nan)
        self.last = np.where(valid[:, None], obs, self.last)
        return self.last.copy()


class OneEuro:
    """The node's One-Euro filter on metric points; a gap holds the last output."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> None:
        self.filter = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self.last: np.ndarray | None = None

    def __call__(self, t: float, obs: np.ndarray, valid: np.ndarray) -> np.ndarray:
        if valid.any():
            out = self.filter(np.where(valid[:, None], obs, np.nan), t)
            self.last = out if self.last is None else np.where(np.isfinite(out), out, self.last)
        return self.last.copy() if self.last is not None else np.full_like(obs, np.nan)


class Kalman:
    """Constant-velocity Kalman filter per coordinate; a gap is bridged by prediction."""

    def __init__(self, accel_noise: float, sigma: np.ndarray) -> None:
        self.q, self.r = accel_noise, np.asarray(sigma) ** 2
        self.x: np.ndarray | None = None
        self.t = 0.0

    def __call__(self, t: float, obs: np.ndarray, valid: np.ndarray) -> np.ndarray:
        if self.x is None:
            if not valid.any():
                return np.full_like(obs, np.nan)
            self.x = np.stack([np.where(valid[:, None], obs, 0.0), np.zeros_like(obs)])   # (2, J, 3)
            self.p = np.stack([np.broadcast_to(self.r, obs.shape), np.full(obs.shape, 1.0)]) * 1.0
            self.c = np.zeros(obs.shape)
            self.t = t
            return self.x[0].copy()
        dt = max(t - self.t, 1e-3)
        self.t = t
        p00, p11, p01 = self.p[0], self.p[1], self.c
        self.x[0] = self.x[0] + dt * self.x[1]
        p00 = p00 + 2 * dt * p01 + dt * dt * p11 + self.q * dt ** 3 / 3
        p01 = p01 + dt * p11 + self.q * dt ** 2 / 2
        p11 = p11 + self.q * dt
        m = np.broadcast_to(valid[:, None], obs.shape)
        s = p00 + self.r
        k0, k1 = p00 / s, p01 / s
        innovation = np.where(m, obs - self.x[0], 0.0)
        self.x[0] += np.where(m, k0 * innovation, 0.0)
        self.x[1] += np.where(m, k1 * innovation, 0.0)
        p11 = np.where(m, p11 - k1 * p01, p11)
        new00 = np.where(m, (1 - k0) * p00, p00)
        p01 = np.where(m, (1 - k0) * p01, p01)
        self.p[0], self.p[1], self.c = new00, p11, p01
        return self.x[0].copy()


class PoseBert:
    """The exported model through the runtime protocol (ONNX Runtime, 1 thread), opened once and
    shared: each sequence starts with no history."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams
        streams.forget(set())

    def __call__(self, t: float, obs: np.ndarray, valid: np.ndarray) -> np.ndarray:
        self.streams.push(0, t, obs if valid.any() else None, valid if valid.any() else None)
        out = self.streams.refine([0]).get(0)
        return out if out is not None else np.full_like(obs, np.nan)


def run(method, times: np.ndarray, noisy: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[float]]:
    out, cost = np.empty_like(noisy), []
    for k in range(len(times)):
        start = time.perf_counter()
        out[k] = method(float(times[k]), noisy[k], valid[k])
        cost.append((time.perf_counter() - start) * 1e3)
    return out, cost


def gap_lengths(missed: np.ndarray) -> np.ndarray:
    """Per frame: length of the missed run it belongs to (0 when observed)."""
    out = np.zeros(len(missed), int)
    k = 0
    while k < len(missed):
        if missed[k]:
            end = k
            while end < len(missed) and missed[end]:
                end += 1
            out[k:end] = end - k
            k = end
        else:
            k += 1
    return out


def lag_frames(pred: np.ndarray, gt: np.ndarray, max_shift: int = 8) -> float:
    """Shift (frames) that best aligns the predicted velocity with the true one (positive = behind)."""
    vp = np.diff(pred, axis=0).reshape(len(pred) - 1, -1)
    vg = np.diff(gt, axis=0).reshape(len(gt) - 1, -1)
    ok = np.isfinite(vp).all(axis=1) & np.isfinite(vg).all(axis=1)
    vp, vg = np.where(ok[:, None], vp, 0.0), np.where(ok[:, None], vg, 0.0)
    shifts = np.arange(-max_shift, max_shift + 1)
    corr = []
    for s in shifts:
        a = vp[max(s, 0):len(vp) + min(s, 0)]
        b = vg[max(-s, 0):len(vg) - max(s, 0)]
        corr.append((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-12))
    corr = np.array(corr)
    i = int(np.argmax(corr))
    if 0 < i < len(corr) - 1:
        denominator = corr[i - 1] - 2 * corr[i] + corr[i + 1]
        return float(shifts[i] + (0.5 * (corr[i - 1] - corr[i + 1]) / denominator if denominator else 0.0))
    return float(shifts[i])


def metrics(seqs: list[dict], outs: list[np.ndarray], costs: list[float], wrists: bool, pinch: bool) -> dict:
    err, noisy_err, acc, gap_err, wrist_err, pinch_err, lags, weights = [], [], [], {b: [] for b in GAP_BINS}, [], [], [], []
    for seq, out in zip(seqs, outs):
        gt, valid, times = seq["gt"], seq["valid"], seq["times"]
        ok = np.isfinite(out).all(axis=(1, 2))
        e = np.linalg.norm(out - gt, axis=-1)                       # (N, J)
        observed = valid.any(axis=1)
        err.append(e[ok].ravel())
        noisy_err.append(e[ok & observed].ravel())
        run = gap_lengths(~observed)
        for lo, hi in GAP_BINS:
            gap_err[(lo, hi)].append(e[ok & (run >= lo) & (run <= hi)].ravel())
        dt = float(np.median(np.diff(times)))
        a_out = out[2:] - 2 * out[1:-1] + out[:-2]
        a_gt = gt[2:] - 2 * gt[1:-1] + gt[:-2]
        a_ok = ok[2:] & ok[1:-1] & ok[:-2]
        acc.append(np.linalg.norm(a_out - a_gt, axis=-1)[a_ok].ravel())
        if wrists:
            wrist_err.append(e[ok][:, list(WRISTS)].ravel())
        if pinch:
            d_out = np.linalg.norm(out[:, THUMB_TIP] - out[:, INDEX_TIP], axis=-1)
            d_gt = np.linalg.norm(gt[:, THUMB_TIP] - gt[:, INDEX_TIP], axis=-1)
            pinch_err.append(np.abs(d_out - d_gt)[ok])
        lags.append(lag_frames(out, gt) * dt * 1e3)
        weights.append(len(gt))
    mm = lambda parts: round(float(np.concatenate(parts).mean() * 1e3), 2) if sum(len(p) for p in parts) else None  # noqa: E731
    result = {"mpjpe_mm": mm(err), "mpjpe_noisy_mm": mm(noisy_err),
              **{f"mpjpe_gap_{lo}_{hi}_mm": mm(gap_err[(lo, hi)]) for lo, hi in GAP_BINS},
              "accel_err_mm_per_frame2": mm(acc), "lag_ms": round(float(np.average(lags, weights=weights)), 1),
              "ms_per_step_p50": round(float(np.percentile(costs, 50)), 3),
              "ms_per_step_p99": round(float(np.percentile(costs, 99)), 3)}
    if wrists:
        result["wrist_mm"] = mm(wrist_err)
    if pinch:
        result["pinch_distance_err_mm"] = mm(pinch_err)
    return result


def evaluate(seqs: list[dict], factory, wrists: bool, pinch: bool, timed: bool = True) -> dict:
    outs, costs = [], []
    for seq in seqs:
        out, cost = run(factory(), seq["times"], seq["noisy"], seq["valid"])
        outs.append(out)
        costs += cost
    return metrics(seqs, outs, costs, wrists, pinch)


def body_sequences(quick: bool, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    corruption = Corruption.measured("body")
    corruption = Corruption(corruption.sigma, corruption.outlier_rate, corruption.gap_bin_weights,
                            common_depth=corruption.common_depth, level=(0.75, 2.0), gap_share=(0.1, 0.2))
    seqs = []
    clips = load_npz(CLIPS)
    for name, (times, world) in sorted(clips.items()):
        for yaw in VIEWS[:1] if quick else VIEWS:
            gt = camera_view(world, yaw)
            noisy, valid = corrupt(rng, gt[None], corruption)
            seqs.append({"name": f"{name}@{np.degrees(yaw):.0f}", "times": times.astype(np.float64),
                         "gt": gt, "noisy": noisy[0], "valid": valid[0]})
    return seqs


def hand_sequences(quick: bool, seed: int = 11) -> list[dict]:
    rng = np.random.default_rng(seed)
    count = 8 if quick else 24
    c = Corruption.measured("hand")
    c = Corruption(c.sigma, c.outlier_rate, c.gap_bin_weights, level=(0.75, 2.0), gap_share=(0.1, 0.2))
    seqs = []
    n = 1200  # 10 s of fine motion per sequence
    path = motion.hand_motion(rng, count, n)[:, :, 1:]
    path[count // 2:] = mirror(path[count // 2:])  # left hands, seen as the model sees them after mirroring
    for i in range(count):
        times = np.arange(0, (n - 1) / motion.FINE_HZ, 1 / 25.0)
        gt = motion.at_times(path[i:i + 1], times[None])[0]
        noisy, valid = corrupt(rng, gt[None], c)
        valid = np.broadcast_to(valid[0].all(axis=1, keepdims=True), valid[0].shape).copy()
        noisy = np.where(valid[..., None], noisy[0], np.nan)
        seqs.append({"name": f"hand{i}", "times": times, "gt": gt, "noisy": noisy, "valid": valid})
    return seqs


def tune(seqs: list[dict], grid: list[tuple[str, object]], wrists: bool, pinch: bool) -> tuple[str, dict]:
    best = None
    for label, factory in grid:
        result = evaluate(seqs, factory, wrists, pinch)
        if best is None or result["mpjpe_mm"] < best[1]["mpjpe_mm"]:
            best = (label, result)
    return best


def compare(seqs: list[dict], model: str, sigma: np.ndarray, wrists: bool, pinch: bool) -> dict:
    defaults = OneEuroConfig()
    streams = Streams(model)
    results = {
        "raw_hold": evaluate(seqs, Hold, wrists, pinch),
        "one_euro_default": evaluate(seqs, lambda: OneEuro(defaults.min_cutoff, defaults.beta, defaults.d_cutoff),
                                     wrists, pinch),
    }
    label, tuned = tune(seqs, [(f"min_cutoff={m} beta={b}", lambda m=m, b=b: OneEuro(m, b))
                               for m in (0.3, 0.7, 1.5, 3.0) for b in (0.3, 1.0, 3.0, 8.0, 20.0)], wrists, pinch)
    results["one_euro_tuned"] = {**tuned, "params": label}
    label, tuned = tune(seqs, [(f"accel_noise={q}", lambda q=q: Kalman(q, sigma)) for q in (3, 10, 30, 100, 300, 1000)],
                        wrists, pinch)
    results["kalman_cv_tuned"] = {**tuned, "params": label}
    results["posebert"] = evaluate(seqs, lambda: PoseBert(streams), wrists, pinch)
    return results


def goals(results: dict) -> dict:
    p = results["posebert"]
    others = [v for k, v in results.items() if k != "posebert"]
    hold = results["raw_hold"]
    return {
        "mpjpe_better_than_all": all(p["mpjpe_mm"] < o["mpjpe_mm"] for o in others),
        "accel_better_than_all": all(p["accel_err_mm_per_frame2"] < o["accel_err_mm_per_frame2"] for o in others),
        "accel_ratio_raw_over_posebert": round(hold["accel_err_mm_per_frame2"] / p["accel_err_mm_per_frame2"], 2),
        "gaps_up_to_8_below_hold": all(p[f"mpjpe_gap_{lo}_{hi}_mm"] < hold[f"mpjpe_gap_{lo}_{hi}_mm"]
                                       for lo, hi in GAP_BINS[:2]),
        "lag_within_1_frame": p["lag_ms"] <= hold["lag_ms"] + 1000 / 30.0,
    }


REAL_CLIPS = [REPO.parent / "shared" / "media" / name for name in (      # development clips, not shipped
    "upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv",
    "upper_body_both_arms_open_wide_asl_walk__intel.mkv",
    "upper_body_pinch_at_mouth_second_face_cut_at_edge_asl_bird__intel.mkv",
    "woman_upper_body_raises_arm_thumbs_up__mediapipe-samples.mp4")]
ARM_NAMES = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")


def real_arms(path: Path, model: str) -> np.ndarray:
    """Metric 3D arm keypoints (frames, 6, 3; NaN where not published as seen) of the largest person of a
    real clip, through the pose node's configuration with `temporal.model` set to `model`."""
    import dataclasses

    import cv2

    from teleop_common.config import load
    from teleop_common.layout import BODY
    from teleop_session.graph import CONFIG_DIR, WHOLE_BODY_POSE
    from whole_body_pose.pipeline import build_estimator

    config = load(WHOLE_BODY_POSE.load_config_class(), CONFIG_DIR / WHOLE_BODY_POSE.config_file)
    config = dataclasses.replace(config, temporal=dataclasses.replace(config.temporal, model=model))
    estimator = build_estimator(config)
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    rows, index = [], [BODY[name] for name in ARM_NAMES]
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frame = estimator.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), round(len(rows) * 1e9 / fps), "camera", None)
        people = [p for p in frame.poses if np.isfinite(p.points[index]).any()]
        row = np.full((len(index), 3), np.nan)
        if people:
            person = max(people, key=lambda p: float((p.box[2] - p.box[0]) * (p.box[3] - p.box[1])))
            seen = person.confidence[index] >= 0.5
            row[seen] = person.points[index][seen]
        rows.append(row)
    return np.array(rows)


def jitter_mm(points: np.ndarray) -> float:
    """Mean |second difference| (mm/frame^2) over the keypoints seen in three frames in a row."""
    second = points[2:] - 2 * points[1:-1] + points[:-2]
    norms = np.linalg.norm(second, axis=-1)
    return round(float(np.nanmean(norms)) * 1e3, 2)


def real_clip_jitter(clips: list[Path]) -> dict:
    """Arm jitter of the raw estimate, One-Euro (node defaults) and PoseBERT on real footage, and each
    filter's lag behind raw (frames, cross-correlation of the wrist paths)."""
    report = {}
    for clip in [c for c in clips if c.is_file()]:
        arms = {model: real_arms(clip, model) for model in ("none", "one_euro", "posebert")}
        raw_wrists = arms["none"][:, 4:]
        report[clip.name] = {model: {"jitter_mm_per_frame2": jitter_mm(points),
                                     "vs_raw": round(jitter_mm(points) / jitter_mm(arms["none"]), 3),
                                     "lag_frames": round(lag_frames(points[:, 4:], raw_wrists), 2) if model != "none" else 0.0}
                             for model, points in arms.items()}
        print(clip.name, json.dumps(report[clip.name]), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one camera view, fewer hand sequences")
    parser.add_argument("--real-only", action="store_true", help="only the jitter on the real clips")
    args = parser.parse_args()
    report = {"real_clips": real_clip_jitter(REAL_CLIPS)}
    if args.real_only:
        print(json.dumps(report))
        return
    for part, seqs, sigma in (("body", body_sequences(args.quick), Corruption.measured("body").sigma),
                              ("hand", hand_sequences(args.quick), Corruption.measured("hand").sigma)):
        results = compare(seqs, part, np.asarray(sigma) * 1.3, wrists=part == "body", pinch=part == "hand")
        frames = sum(len(s["times"]) for s in seqs)
        report[part] = {"sequences": len(seqs), "frames": frames, "methods": results, "goals": goals(results)}
        for name, r in results.items():
            print(f"{part:5s} {name:17s} " + " ".join(f"{k}={v}" for k, v in r.items()), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
