"""DOPE vs the part-expert cascade on the CPU: speed, agreement and the distillation curve.

    PYTHONPATH=src .venv/bin/python bench/dope.py [--iterations 300] [--out DIR]

1. The experts label every 12th frame of Megamind.avi (frames 0..240); a small DOPE is distilled on
   them (AdamW, batch 4, 256x192) and exported to ONNX.
2. Agreement: on held-back frames (6, 18, ..., between the training frames) the mean 2D distance of
   DOPE's poses to the experts' (whole_body_pose.dope.agreement), in pixels of the 256x192 input,
   beside the error of the best constant pose and the agreement on the training frames.
3. Speed, in the same run and on the same runtime (ONNX Runtime, 2 threads): the experts' pipeline
   as deployed (tracking, video mode) vs the DOPE estimator on 60 consecutive frames, and on
   collages of 1-4 copies of messi5.jpg (2x2 grid), because the cascade's cost grows per person
   and DOPE's does not.
4. People counts per clip (the dev clips of .cache/media and, where present, the people clips of
   ../shared/media): how often DOPE finds as many people as the experts, each run as a video.
The last line is JSON: dope_ms_p50, experts_ms_p50, ratio (= dope / experts), agreement_px,
loss_start, loss_end, the per-people timings and people_counts.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from whole_body_pose.config import PoseNodeConfig  # noqa: E402
from whole_body_pose.dope import agreement  # noqa: E402
from whole_body_pose.config import DopeConfig  # noqa: E402
from whole_body_pose.dope.distill import TrainSettings, build_pseudo_gt, make_spec, new_network, train  # noqa: E402
from whole_body_pose.dope.estimator import DopeEstimator, RuntimeModel, merge_settings  # noqa: E402
from whole_body_pose.dope.export import export_onnx  # noqa: E402
from whole_body_pose.dope.frames import iter_frames  # noqa: E402
from whole_body_pose.dope.losses import LossSettings  # noqa: E402
from whole_body_pose.dope.merge import MergeSettings  # noqa: E402
from whole_body_pose.dope.parts import PART_NAMES  # noqa: E402
from whole_body_pose.dope.postprocess import detections  # noqa: E402
from whole_body_pose.dope.pseudo_gt import collect  # noqa: E402
from whole_body_pose.dope.teacher import pipeline_teacher  # noqa: E402
from whole_body_pose.pipeline import build_estimator  # noqa: E402
from whole_body_pose.runtime import RuntimeOptions  # noqa: E402

VIDEO = REPO / ".cache" / "media" / "Megamind.avi"
WIDTH, HEIGHT = 256, 192
ANCHORS = {"body": 4, "hand": 2, "face": 2}
THREADS = 2


def _frames(start: int, count: int, step: int = 1) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(VIDEO))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    index = start
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        if (index - start) % step == 0:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        index += 1
    return frames


def _agreement(model, spec, gt) -> dict[str, float]:
    every = {p: MergeSettings(min_score=0.0) for p in PART_NAMES}
    errors = []
    for frame in range(len(gt.images)):
        image = (gt.images[frame].transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)
        errors += agreement.instance_errors(detections(model(image), spec, every), gt, frame)
    return agreement.summary(errors)


def _collage(frame: np.ndarray, people: int) -> np.ndarray:
    """`people` half-size copies of one frame in a 2x2 grid (the rest black), at the frame's size."""
    height, width = frame.shape[:2]
    small = cv2.resize(frame, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    canvas = np.zeros_like(frame)
    for i in range(people):
        y, x = divmod(i, 2)
        canvas[y * (height // 2):(y + 1) * (height // 2), x * (width // 2):(x + 1) * (width // 2)] = small
    return canvas


def _time_pair(experts, dope, frames: list[np.ndarray]) -> dict[str, float]:
    """Median per-frame wall time and mean people found of both estimators, timed frame by frame in
    turn so that both see the same load on this shared machine."""
    times: dict[str, list[float]] = {"experts": [], "dope": []}
    people: dict[str, list[int]] = {"experts": [], "dope": []}
    for i, frame in enumerate(frames):
        for name, estimator in (("experts", experts), ("dope", dope)):
            started = time.perf_counter()
            result = estimator.process(frame, i, "camera", None)
            times[name].append((time.perf_counter() - started) * 1e3)
            people[name].append(len(result.poses))
    return {**{f"{n}_ms_p50": round(float(np.median(t)), 2) for n, t in times.items()},
            **{f"{n}_people": round(float(np.mean(p)), 2) for n, p in people.items()}}


COUNT_CLIPS = [REPO / ".cache" / "media" / name for name in ("Megamind.avi", "vtest.avi")] + [
    REPO.parent / "shared" / "media" / name for name in (          # development clips, where present
        "people_enter_and_leave_frame_one_by_one__intel.mp4", "outdoor_two_people_enter_walk_jump_flip__sports2d.mp4",
        "three_people_side_by_side_walk_to_camera__intel.gif", "two_people_side_by_side_head_turns__intel.gif",
        "upper_body_both_arms_open_wide_asl_walk__intel.mkv")]


def _clip(path: Path, count: int, step: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        index += 1
    return frames


def _people_counts(experts, dope, clips: list[Path], count: int = 40, step: int = 3) -> dict[str, dict]:
    """Per clip: how often DOPE finds as many people as the experts (each run as a video, its own tracks)."""
    report = {}
    for path in [p for p in clips if p.is_file()]:
        frames = _clip(path, count, step)
        found = {}
        for name, estimator in (("experts", experts), ("dope", dope)):
            estimator.reset()
            found[name] = np.array([len(estimator.process(f, i * 33_000_000, "camera", None).poses)
                                    for i, f in enumerate(frames)])
        report[path.name] = {"frames": len(frames), "count_equal_fraction": round(float(np.mean(found["dope"] == found["experts"])), 3),
                             "count_mean_abs_diff": round(float(np.mean(np.abs(found["dope"] - found["experts"]))), 2),
                             "experts_people": round(float(found["experts"].mean()), 2),
                             "dope_people": round(float(found["dope"].mean()), 2)}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    out = args.out or Path(tempfile.mkdtemp(prefix="dope_bench_"))
    out.mkdir(parents=True, exist_ok=True)

    teacher = pipeline_teacher()
    gt, anchors = build_pseudo_gt([str(VIDEO)], teacher, WIDTH, HEIGHT, ANCHORS, video_step=12, max_frames=21, progress=False)
    net = new_network(make_spec("small", anchors), anchors, seed=0)
    settings = TrainSettings(iterations=args.iterations, batch_size=4, optimizer="adamw", lr=1e-3, warmup=20,
                             augment=0.05, checkpoint_every=args.iterations, threads=THREADS)
    started = time.monotonic()
    losses = train(gt, net, settings, out, progress=False,
                   loss_settings=LossSettings(pre_nms_top_n=300, post_nms_top_n=100, rois_per_image=32))
    train_s = time.monotonic() - started
    net.eval()
    model_path = export_onnx(net, out / "dope.onnx", WIDTH, HEIGHT)

    # agreement on held-back frames, labelled the same way as the training frames
    held = collect((f for i, f in enumerate(iter_frames([str(VIDEO)], 6)) if i % 2 == 1 and i < 40),
                   teacher, WIDTH, HEIGHT, gt.joints)
    model = RuntimeModel(model_path, "onnxruntime", RuntimeOptions(threads=THREADS))
    agree, fit = _agreement(model, net.spec, held), _agreement(model, net.spec, gt)

    # speed: same frames, same runtime and threads
    dope = DopeEstimator(model, merge_settings(DopeConfig()))
    experts = build_estimator(PoseNodeConfig(estimator="experts", num_threads=THREADS))
    clip = _frames(100, 60)
    _time_pair(experts, dope, clip[:5])                                       # warm-up
    experts.reset()
    timed = _time_pair(experts, dope, clip)
    # people: 2x2 collages of messi5.jpg (the experts' detector needs 2x2 tiles to find them all)
    tiled = build_estimator(PoseNodeConfig(estimator="experts", num_threads=THREADS, detector_tiles=2))
    messi = cv2.cvtColor(cv2.imread(str(REPO / ".cache" / "media" / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    by_people = {}
    for people in (1, 2, 3, 4):
        tiled.reset()
        by_people[str(people)] = _time_pair(tiled, dope, [_collage(messi, people)] * 12)
    result = {
        "dope_ms_p50": timed["dope_ms_p50"], "experts_ms_p50": timed["experts_ms_p50"],
        "ratio": round(timed["dope_ms_p50"] / timed["experts_ms_p50"], 3),
        "runtime": "onnxruntime-cpu", "threads": THREADS, "input": [WIDTH, HEIGHT], "variant": "small",
        "agreement_px": round(agree["mean_px"], 2), "agreement_constant_px": round(agreement.constant_pose_error(gt, held), 2),
        "train_agreement_px": round(fit["mean_px"], 2),
        **{f"agreement_{k}": round(v, 2) for k, v in agree.items() if k != "mean_px"},
        "held_back_frames": len(held.images), "train_frames": len(gt.images),
        "iterations": args.iterations, "train_s": round(train_s, 1),
        "loss_start": round(losses[0], 3), "loss_end": round(float(np.mean(losses[-10:])), 3),
        "people_found_clip": {"dope": timed["dope_people"], "experts": timed["experts_people"]},
        "by_people": by_people,
        "people_counts": _people_counts(experts, dope, COUNT_CLIPS),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
