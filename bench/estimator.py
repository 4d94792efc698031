"""Benchmark of the whole-body estimator against MediaPipe Holistic, same real frames, same run (CPU).

    PYTHONPATH=src .venv/bin/python bench/estimator.py [--frames 60]

Each section feeds frames as a video stream (tracking on, like a camera), ours and the reference
alternating frame by frame so machine load hits both alike; the first `--warmup` frames are not
counted.  Smoothing is off on both sides so outputs can be compared point for point.
  single  : messi5.jpg as a fixed frame (one person, body + both hands + face every frame):
            ours (max_people=1) vs mp.solutions.holistic -> ours_ms_*, reference_ms_p50, ratio,
            mean_px_error (body keypoints Holistic sees, plus every hand both find).
  video   : Megamind.avi frames 10.. (one person moving, a hand holding a glass): same, video_*.
  several : basketball1.png as a fixed frame (two people): ours with max_people=1 vs 2 ->
            extra_person_cost = added ms per extra tracked person / 1-person ms (medians);
            extra_person_cpu_cost: the same with the process's CPU time (all threads; means): the
            work an extra person adds, which other load on a shared machine moves less than wall time.
  crowd   : vtest.avi frames 0.. (small pedestrians, tiled detector): people tracked, ms, the same
            costs with max_people=4 (crowd_*).
  scenes  : the development clips in ../shared/media (skipped, keys absent, when that folder is):
            people found per frame vs expected on the side-by-side clips, hand detection rate and
            phantom bodies per 100 frames on the hand-only clips, 2D jitter (mean |second
            difference| of confident body keypoints, px/frame^2, default smoothing) on the
            upper-body clips, and whole-frame palm detection ms vs the person detector's ms.
  shipped : messi5.jpg (one person) under the shipped config (max_people 4) vs the whole-frame
            detector only (detector_tiles 1, detection_score 0.5): shipped_/whole_frame_one_person_ms_*.
  recall  : the clips hand-labelled in test/data/people_counts.json (demo clip always; ../shared/media
            ones when there): fraction of labelled frames whose people found >= labelled, labelled
            frames with more (phantoms), slowest time-to-find after someone appears, track ids that
            published a body (recall_*, ..., body_ids_*).
  small   : the small full-body subjects of the sports2d clip (../shared/media, with scenes): ours
            (max_people=2) vs Holistic, smoothing off on both: body jitter (the same second
            difference, over the frame triplets and keypoints both track; Holistic's one person
            matched to ours) and the fraction of the frames whose reference body sees a wrist
            (visibility >= 0.5, in the image) in which each finds that hand, and ours in those where
            Holistic finds it (small_*).
The last line is JSON.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from teleop_common.frame_sources import VideoFileSource, rgb_frames  # noqa: E402
from teleop_common.layout import Part  # noqa: E402
from whole_body_pose.config import OneEuroConfig, PoseNodeConfig  # noqa: E402
from whole_body_pose.pipeline import build_estimator  # noqa: E402

MEDIA = REPO / ".cache" / "media"
SCENES = REPO.parent / "shared" / "media"
SIDE_BY_SIDE = {"three_people_side_by_side_walk_to_camera__intel.gif": (3, 2),  # expected people, tiles
                "two_people_side_by_side_head_turns__intel.gif": (2, 1)}
HAND_ONLY = ("hand_open_palm_turning_no_face__mediapipe-samples.mp4",
             "hand_only_fist_then_open_palm__tf-examples-pr427.mp4")
UPPER_BODY = ("upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv",
              "upper_body_both_arms_open_wide_asl_walk__intel.mkv",
              "upper_body_pinch_at_mouth_second_face_cut_at_edge_asl_bird__intel.mkv",
              "woman_upper_body_raises_arm_thumbs_up__mediapipe-samples.mp4")
SMALL = {"outdoor_two_people_enter_walk_jump_flip__sports2d.mp4": "sports2d"}  # clip: key
THREADS = 2
HOLISTIC_HZ = 30.0  # mp.solutions stamps frames 1/30 s apart; ours gets the same clock (crop smoothing uses it)
VISIBLE = 0.5       # body keypoints compared: those Holistic rates at least this visible


def video_frames(name: str, start: int, count: int) -> list[np.ndarray]:
    frames = rgb_frames(VideoFileSource(str(MEDIA / name)))
    return [rgb for _, rgb in itertools.islice(frames, start, start + count)]


def still_frames(name: str, count: int) -> list[np.ndarray]:
    return [cv2.cvtColor(cv2.imread(str(MEDIA / name)), cv2.COLOR_BGR2RGB)] * count


def timed(call) -> tuple[object, float]:
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1e3


def stamp(i: int) -> int:
    return round(i * 1e9 / HOLISTIC_HZ)


def _pixels(landmarks, width: int, height: int) -> np.ndarray | None:
    if landmarks is None:
        return None
    return np.array([[p.x * width, p.y * height, getattr(p, "visibility", 1.0)] for p in landmarks.landmark])


def versus_holistic(frames: list[np.ndarray], warmup: int) -> dict:
    """Ours and Holistic alternating on one stream: times and point-to-point agreement."""
    import mediapipe as mp

    ours = build_estimator(PoseNodeConfig(max_people=1, num_threads=THREADS, one_euro=OneEuroConfig(enabled=False)))
    reference = mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1, smooth_landmarks=False)
    ours_ms, ref_ms = [], []
    errors: dict[str, list[np.ndarray]] = {"body": [], "hands": []}
    for i, image in enumerate(frames):
        height, width = image.shape[:2]
        runs = {}
        for name in (("ours", "ref") if i % 2 else ("ref", "ours")):
            call = (lambda: ours.process(image, stamp(i), "camera", None)) if name == "ours" else \
                (lambda: reference.process(image))
            runs[name] = timed(call)
        (frame, t_ours), (ref, t_ref) = runs["ours"], runs["ref"]
        if i < warmup:
            continue
        ours_ms.append(t_ours)
        ref_ms.append(t_ref)
        if not frame.poses or ref.pose_landmarks is None:
            continue
        pose = frame.poses[0]
        body = _pixels(ref.pose_landmarks, width, height)
        seen = body[:, 2] >= VISIBLE
        errors["body"].append(np.linalg.norm(pose.part_pixels(Part.BODY)[seen] - body[seen, :2], axis=1))
        for part, landmarks in ((Part.LEFT_HAND, ref.left_hand_landmarks), (Part.RIGHT_HAND, ref.right_hand_landmarks)):
            hand = _pixels(landmarks, width, height)
            if hand is not None and part in pose.present:
                errors["hands"].append(np.linalg.norm(pose.part_pixels(part) - hand[:, :2], axis=1))
    reference.close()
    joined = {k: np.concatenate(v) if v else np.array([np.nan]) for k, v in errors.items()}
    return {"ours_ms": np.array(ours_ms), "ref_ms": np.array(ref_ms), "hands_compared": len(errors["hands"]),
            "body_px": float(joined["body"].mean()), "hand_px": float(joined["hands"].mean()),
            "px": float(np.concatenate(list(joined.values())).mean())}


def one_versus_many(frames: list[np.ndarray], warmup: int, many: int, tiles: int) -> dict:
    """Ours with max_people=1 and max_people=many alternating on one stream."""
    common = dict(num_threads=THREADS, detector_tiles=tiles)
    estimators = {1: build_estimator(PoseNodeConfig(max_people=1, **common)),
                  many: build_estimator(PoseNodeConfig(max_people=many, **common))}
    ms: dict[int, list[float]] = {1: [], many: []}
    cpu: dict[int, list[float]] = {1: [], many: []}
    people = []
    for i, image in enumerate(frames):
        for n in ((1, many) if i % 2 else (many, 1)):
            start = time.process_time()
            frame, t = timed(lambda: estimators[n].process(image, stamp(i), "camera", None))
            if i >= warmup:
                ms[n].append(t)
                cpu[n].append((time.process_time() - start) * 1e3)
                if n == many:
                    people.append(sum(Part.BODY in p.present for p in frame.poses))
    one, several = float(np.median(ms[1])), float(np.median(ms[many]))
    one_cpu, several_cpu = float(np.mean(cpu[1])), float(np.mean(cpu[many]))
    extra = float(np.mean(people)) - 1.0
    return {"one_ms": one, "many_ms": several, "people": float(np.mean(people)),
            "extra_person_cost": (several - one) / extra / one if extra > 0 else float("nan"),
            "extra_person_cpu_cost": (several_cpu - one_cpu) / extra / one_cpu if extra > 0 else float("nan")}


def shipped_one_person(frames: list[np.ndarray], warmup: int) -> dict:
    """One person under the shipped config (max_people 4: periodic tiled searches on the parts thread)
    vs the same with the whole-frame detector only (issue 24's before: detector_tiles 1, score 0.5).
    Run in blocks of 20 frames, not alternating: a background run would land in the other's frames."""
    configs = {"shipped": {}, "whole_frame": dict(detector_tiles=1, detection_score=0.5)}
    estimators = {k: build_estimator(PoseNodeConfig(num_threads=THREADS, **v)) for k, v in configs.items()}
    ms: dict[str, list[float]] = {k: [] for k in configs}
    for block in range(0, len(frames), 20):
        for key in (configs if block % 40 else reversed(configs)):
            for i, image in enumerate(frames[block:block + 20], start=block):
                _, t = timed(lambda: estimators[key].process(image, stamp(i), "camera", None))
                if i >= warmup:
                    ms[key].append(t)
    return {f"{key}_one_person_ms_{stat}": round(float(fn(v)), 2) for key, v in ms.items()
            for stat, fn in (("p50", np.median), ("mean", np.mean))}


def recall() -> dict:
    """People found against the hand-labelled counts (tools/people_counts.py): recall, phantom frames
    and the slowest time-to-find per labelled clip present (shipped config)."""
    sys.path.insert(0, str(REPO / "tools"))
    import people_counts

    out: dict[str, float] = {}
    for name in people_counts.labels():
        if not people_counts.clip_path(name).exists():
            continue
        score = people_counts.run(name, PoseNodeConfig(num_threads=THREADS))
        key = name.split("__")[0]
        out[f"recall_{key}"] = round(score.recall, 3)
        out[f"phantom_frames_{key}"] = score.phantom_frames
        out[f"body_ids_{key}"] = len(score.body_ids)
        times = score.time_to_find_s
        out[f"time_to_find_s_{key}"] = None if None in times else max(times)
    return out


def clip(name: str) -> tuple[list[np.ndarray], float]:
    source = VideoFileSource(str(SCENES / name))
    fps = source.fps or 30.0
    return [rgb for _, rgb in rgb_frames(source)], fps


def run_clip(name: str, **config) -> tuple[list, object, list[np.ndarray]]:
    frames, fps = clip(name)
    estimator = build_estimator(PoseNodeConfig(num_threads=THREADS, max_people=4, **config))
    return [estimator.process(f, round(i * 1e9 / fps), "camera", None) for i, f in enumerate(frames)], estimator, frames


def scenes() -> dict:
    """Figures of issue 9 on the development clips (see the module docstring)."""
    from whole_body_pose.experts.newcomers import detector_regions

    out: dict[str, float] = {}
    for name, (expected, tiles) in SIDE_BY_SIDE.items():
        poses, _, _ = run_clip(name, detector_tiles=tiles)
        key = name.split("_side")[0]
        out[f"{key}_people_found_mean"] = round(float(np.mean([sum(Part.BODY in p.present for p in f.poses)
                                                               for f in poses])), 2)
        out[f"{key}_people_expected"] = expected
        out[f"{key}_track_ids"] = len({p.track_id for f in poses for p in f.poses if Part.BODY in p.present})
    hands = phantoms = frames = 0
    palm_ms, person_ms = [], []
    for name in HAND_ONLY:
        poses, estimator, images = run_clip(name)
        frames += len(poses)
        hands += sum(any(p.present & {Part.LEFT_HAND, Part.RIGHT_HAND} for p in f.poses) for f in poses)
        phantoms += sum(sum(Part.BODY in p.present for p in f.poses) for f in poses)
        estimator.reset()  # waits for its background detector runs: the detectors are timed alone below
        for image in images[::4]:
            regions = detector_regions(image.shape[1], image.shape[0], 1)
            palm_ms.append(timed(lambda: estimator.experts.palm(image, regions, 0.5))[1])
            person_ms.append(timed(lambda: estimator.experts.detector(image, regions, 0.5))[1])
    out["hand_only_detection_rate"] = round(hands / frames, 3)
    out["hand_only_phantom_bodies_per_100_frames"] = round(100.0 * phantoms / frames, 2)
    out["palm_detection_ms_p50"] = round(float(np.median(palm_ms)), 2)
    out["palm_vs_person_detector_ratio"] = round(float(np.median(palm_ms) / np.median(person_ms)), 3)
    jitter = []
    for name in UPPER_BODY:
        poses, _, _ = run_clip(name)
        by_id: dict[int, list] = {}
        for f in poses:
            for p in f.poses:
                if Part.BODY in p.present:
                    by_id.setdefault(p.track_id, []).append((p.part_pixels(Part.BODY), p.part_confidence(Part.BODY)))
        for track in by_id.values():
            px = np.array([t[0] for t in track], np.float64)
            sure = np.array([t[1] for t in track]) >= VISIBLE
            if len(px) >= 3:
                second = np.linalg.norm(px[2:] - 2 * px[1:-1] + px[:-2], axis=2)
                ok = sure[2:] & sure[1:-1] & sure[:-2]
                jitter.append(second[ok])
    out["upper_body_jitter_px"] = round(float(np.concatenate(jitter).mean()), 3)
    for name in SMALL:
        out.update(small_subject(name))
    return out


def _holistic_person(result, width: int, height: int) -> tuple[np.ndarray, set[Part]] | None:
    """Holistic's person as (33, 3) body pixels + visibility and the hands it found."""
    body = _pixels(result.pose_landmarks, width, height)
    if body is None:
        return None
    hands = {part for part, found in ((Part.LEFT_HAND, result.left_hand_landmarks),
                                      (Part.RIGHT_HAND, result.right_hand_landmarks)) if found is not None}
    return body, hands


def _matched(poses: list, reference: np.ndarray) -> object | None:
    """Our pose of Holistic's person: the nearest body (median over the keypoints Holistic sees), if
    within a fifth of that person's height."""
    seen = reference[:, 2] >= VISIBLE
    if not poses or seen.sum() < 2:
        return None
    distance = [np.median(np.linalg.norm(p.part_pixels(Part.BODY)[seen] - reference[seen, :2], axis=1)) for p in poses]
    best = int(np.argmin(distance))
    return poses[best] if distance[best] < 0.2 * max(np.ptp(reference[seen, 1]), 1.0) else None


def small_subject(name: str, **overrides) -> dict[str, float]:
    """Jitter and hands found, ours vs Holistic on one clip (see the module docstring, small); `overrides`
    change our config (tools/hand_recall.py)."""
    import mediapipe as mp

    frames, fps = clip(name)
    height, width = frames[0].shape[:2]
    ours = build_estimator(PoseNodeConfig(**{"max_people": 2, "num_threads": THREADS,
                                             "one_euro": OneEuroConfig(enabled=False), **overrides}))
    holistic = mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1, smooth_landmarks=False)
    pairs = []  # per frame: (our matched pose, Holistic's person), None where either is missing
    for i, image in enumerate(frames):
        poses = [p for p in ours.process(image, round(i * 1e9 / fps), "camera", None).poses if Part.BODY in p.present]
        reference = _holistic_person(holistic.process(image), width, height)
        pose = _matched(poses, reference[0]) if reference is not None else None
        pairs.append((pose, reference) if pose is not None else None)
    holistic.close()
    second: dict[str, list[np.ndarray]] = {"ours": [], "reference": []}
    for triplet in zip(pairs, pairs[1:], pairs[2:]):
        if None in triplet or len({pose.track_id for pose, _ in triplet}) != 1:
            continue
        ours_px = np.array([pose.part_pixels(Part.BODY) for pose, _ in triplet])
        ref_px = np.array([reference[0][:, :2] for _, reference in triplet])
        both = np.all([(pose.part_confidence(Part.BODY) >= VISIBLE) & (reference[0][:, 2] >= VISIBLE)
                       for pose, reference in triplet], axis=0)
        for key, px in (("ours", ours_px), ("reference", ref_px)):
            second[key].append(np.linalg.norm(px[2] - 2 * px[1] + px[0], axis=1)[both])
    found = {"ours": 0, "reference": 0, "visible": 0, "both": 0}
    for pose, (body, hands) in filter(None, pairs):
        for part, wrist in ((Part.LEFT_HAND, 15), (Part.RIGHT_HAND, 16)):  # BlazePose wrists
            x, y, visibility = body[wrist]
            if visibility >= VISIBLE and 0 <= x < width and 0 <= y < height:
                found["visible"] += 1
                found["ours"] += part in pose.present
                found["reference"] += part in hands
                found["both"] += part in pose.present and part in hands
    jitter = {key: float(np.concatenate(v).mean()) for key, v in second.items()}
    key = SMALL[name]
    return {f"small_{key}_frames": len(frames), f"small_{key}_frames_matched": sum(p is not None for p in pairs),
            f"small_{key}_jitter_px": round(jitter["ours"], 3),
            f"small_{key}_reference_jitter_px": round(jitter["reference"], 3),
            f"small_{key}_jitter_ratio": round(jitter["ours"] / jitter["reference"], 3),
            f"small_{key}_hands_visible": found["visible"],
            f"small_{key}_hands_found": round(found["ours"] / max(found["visible"], 1), 3),
            f"small_{key}_reference_hands_found": round(found["reference"] / max(found["visible"], 1), 3),
            f"small_{key}_hands_found_where_reference_finds": round(found["both"] / max(found["reference"], 1), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(THREADS)

    single = versus_holistic(still_frames("messi5.jpg", args.frames), args.warmup)
    video = versus_holistic(video_frames("Megamind.avi", 10, args.frames), args.warmup)
    several = one_versus_many(still_frames("basketball1.png", args.frames), args.warmup, many=2, tiles=2)
    crowd = one_versus_many(video_frames("vtest.avi", 0, args.frames), args.warmup, many=4, tiles=3)

    ours_p50, ref_p50 = float(np.median(single["ours_ms"])), float(np.median(single["ref_ms"]))
    video_p50, video_ref_p50 = float(np.median(video["ours_ms"])), float(np.median(video["ref_ms"]))
    result = {
        "ours_ms_p50": round(ours_p50, 2),
        "ours_ms_p99": round(float(np.percentile(single["ours_ms"], 99)), 2),
        "reference_ms_p50": round(ref_p50, 2),
        "reference_ms_p99": round(float(np.percentile(single["ref_ms"], 99)), 2),
        "ratio": round(ours_p50 / ref_p50, 3),
        "mean_px_error": round(single["px"], 3),
        "body_px_error": round(single["body_px"], 3),
        "hand_px_error": round(single["hand_px"], 3),
        "extra_person_cost": round(several["extra_person_cost"], 3),
        "extra_person_cpu_cost": round(several["extra_person_cpu_cost"], 3),
        "several_people": round(several["people"], 2),
        "several_ms_p50": round(several["many_ms"], 2),
        "several_one_person_ms_p50": round(several["one_ms"], 2),
        "video_ours_ms_p50": round(video_p50, 2),
        "video_ours_ms_p99": round(float(np.percentile(video["ours_ms"], 99)), 2),
        "video_reference_ms_p50": round(video_ref_p50, 2),
        "video_ratio": round(video_p50 / video_ref_p50, 3),
        "video_mean_px_error": round(video["px"], 3),
        "video_body_px_error": round(video["body_px"], 3),
        "video_hand_px_error": round(video["hand_px"], 3),
        "video_hands_compared": video["hands_compared"],
        "crowd_people": round(crowd["people"], 2),
        "crowd_ms_p50": round(crowd["many_ms"], 2),
        "crowd_extra_person_cost": round(crowd["extra_person_cost"], 3),
        "crowd_extra_person_cpu_cost": round(crowd["extra_person_cpu_cost"], 3),
        "frames": len(single["ours_ms"]),
        "threads": THREADS,
    }
    result.update(shipped_one_person(still_frames("messi5.jpg", 2 * args.frames), args.warmup))
    result.update(recall())
    if SCENES.is_dir():
        result.update(scenes())
    else:
        print(f"scenes: skipped, {SCENES} not found")
    print(f"single person (messi5, fixed frame): ours {ours_p50:.1f} ms vs Holistic {ref_p50:.1f} ms, "
          f"agreement {result['mean_px_error']} px")
    print(f"video (Megamind): ours {video_p50:.1f} ms vs Holistic {video_ref_p50:.1f} ms, "
          f"agreement {result['video_mean_px_error']} px ({video['hands_compared']} hands compared)")
    print(f"two people (basketball1): {several['many_ms']:.1f} ms vs {several['one_ms']:.1f} ms for one; "
          f"crowd (vtest): {crowd['people']:.2f} people in {crowd['many_ms']:.1f} ms")
    for key in SMALL.values():
        if f"small_{key}_jitter_px" in result:
            small = {k.removeprefix(f"small_{key}_"): v for k, v in result.items() if k.startswith(f"small_{key}_")}
            print(f"small subjects ({key}): jitter {small['jitter_px']} px vs Holistic {small['reference_jitter_px']} "
                  f"px; hands found {small['hands_found']} vs {small['reference_hands_found']} of "
                  f"{small['hands_visible']} visible")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
