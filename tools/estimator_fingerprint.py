"""Fingerprint of the part-experts estimator: every array it publishes, frame by frame, on fixed real footage.

A change to the cascade that must not change its output (a refactor) is checked by running this
before and after it and comparing the two files (`--compare`: np.array_equal on every array, so
any difference, however small, is reported).  Each scenario is one estimator built by the pipeline
(`build_estimator`, as the node and the CLI build it) running a fixed run of frames; per scenario
the file holds the poses of every frame (id, score, box, pixels, points, confidence, present
parts), the poses per frame, the stamps, the estimator's counters (phantoms, implausible arms) and
the sha256 of the input frames (a different decode of the same clip is a different input); the
file also names the kernels that made it (`kernels`: CPU features and runtime versions), since
other kernels publish slightly other floats.

`--committed` runs only the footage `make setup` provides (.cache/media, test/data): that is the
golden file test/test_estimator_fingerprint.py compares with.  Without it the development clips of
../shared/media (hand-only, face-only, several people) are added when present.  `--threads`,
`--ort-optimization disable` and `--litert-kernels builtin` run the same frames on other kernels:
the differences they make size the test's tolerance (another CPU runs other kernels too).

    PYTHONPATH=src .venv/bin/python tools/estimator_fingerprint.py OUT.npz [--committed] [--compare REF.npz]
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import platform
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from teleop_common.frame_sources import VideoFileSource, rgb_frames  # noqa: E402
from teleop_common.layout import Part  # noqa: E402
from teleop_common.pose import PoseFrame  # noqa: E402
from whole_body_pose.config import PoseNodeConfig  # noqa: E402
from whole_body_pose.pipeline import build_estimator  # noqa: E402

CACHE_MEDIA = REPO / ".cache" / "media"
DATA = REPO / "test" / "data"
SHARED = REPO.parent / "shared" / "media"
POSE_FIELDS = ("track_id", "score", "box", "pixels", "points", "confidence", "present")


@dataclass(frozen=True)
class Scenario:
    name: str
    frames: Callable[[], list[np.ndarray]]   # the RGB frames, in order
    fps: float
    config: dict = field(default_factory=dict)  # PoseNodeConfig fields
    committed: bool = True                   # footage `make setup` provides (else ../shared/media)


def video(path: Path, start: int, count: int) -> Callable[[], list[np.ndarray]]:
    def frames() -> list[np.ndarray]:
        if not path.is_file():
            raise FileNotFoundError(path)
        out: list[np.ndarray] = []
        for i, (_, rgb) in enumerate(rgb_frames(VideoFileSource(str(path)))):
            if i >= start + count:
                break
            if i >= start:
                out.append(rgb)
        return out
    return frames


def images(*paths: Path, repeat: int = 1) -> Callable[[], list[np.ndarray]]:
    def frames() -> list[np.ndarray]:
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(path)
        return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths for _ in range(repeat)]
    return frames


def close_up_faces() -> list[np.ndarray]:
    """Megamind's face (frame 60) as a 256 x 256 close-up beside its mirror image: the whole-frame
    person detector opening tracks at 0.5 finds one body, the other face is a face-only person (the
    shipped detector_tiles 2 / newcomer_score 0.6 of issue 24 would change which)."""
    rgb = video(CACHE_MEDIA / "Megamind.avi", 60, 1)()[0]
    face = cv2.resize(rgb[183:393, 184:394], (256, 256), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(np.concatenate([face, face[:, ::-1]], axis=1))] * 3


DEMO = CACHE_MEDIA / "operator_arms.mp4"
SCENARIOS = (
    # The demo clip: the operator, both hands (face blurred), and a woman standing in the background
    # (found by the tiled detector since issue 24 item 2).
    Scenario("demo", video(DEMO, 0, 9), 30.0),
    # The other code paths on the same person: one thread, face every other frame, full hand tracking,
    # a look for newcomers every third frame.
    Scenario("demo_variants", video(DEMO, 0, 6), 30.0,
             dict(overlap_parts=False, face_every_n_frames=2, hand_tracking_model="full", detect_every_n_frames=3)),
    # Pedestrians far away (detector tiles, several tracks).
    Scenario("vtest", images(*(DATA / f"vtest_{i:04d}.jpg" for i in range(6))), 10.0,
             dict(detector_tiles=3, max_people=6)),
    # A face near the camera and a hand without a body; a phantom body rejected (frame 35).
    Scenario("megamind", video(CACHE_MEDIA / "Megamind.avi", 33, 6), 24.0),
    Scenario("close_up_faces", close_up_faces, 30.0, dict(detector_tiles=1, newcomer_score=0.5)),
    # Several people in a still, seen twice (tracks on a still image).
    Scenario("basketball", images(DATA / "basketball1.png", repeat=2), 30.0, dict(detector_tiles=2, max_people=6)),
    # Development clips (../shared/media, not shipped).
    Scenario("hand_only_palm", video(SHARED / "hand_open_palm_turning_no_face__mediapipe-samples.mp4", 0, 15), 30.0,
             committed=False),
    Scenario("hand_only_fist", video(SHARED / "hand_only_fist_then_open_palm__tf-examples-pr427.mp4", 0, 15), 30.0,
             committed=False),
    Scenario("face_only_head_turns", video(SHARED / "two_people_side_by_side_head_turns__intel.gif", 0, 15), 12.0,
             dict(max_people=4), committed=False),
    Scenario("three_people", video(SHARED / "three_people_side_by_side_walk_to_camera__intel.gif", 0, 12), 12.0,
             dict(detector_tiles=2, max_people=4), committed=False),
)


def fingerprint(scenario: Scenario, frames: list[np.ndarray], **overrides) -> dict[str, np.ndarray]:
    """Every published array of every frame of `scenario` (its `frames`), keyed "<scenario>.<field>"."""
    estimator = build_estimator(PoseNodeConfig(**{**scenario.config, **overrides}))
    out = [estimator.process(rgb, round(i * 1e9 / scenario.fps), "camera", None) for i, rgb in enumerate(frames)]
    stats = sorted(dict(getattr(estimator, "stats", {})).items())
    estimator.reset()  # waits for the background detector runs (its counters start again)
    digest = hashlib.sha256()
    for rgb in frames:
        digest.update(np.ascontiguousarray(rgb).tobytes())
    arrays = {"input_sha256": np.array(digest.hexdigest()),
              "stamp_ns": np.array([f.stamp_ns for f in out], dtype=np.int64),
              "poses_per_frame": np.array([len(f.poses) for f in out], dtype=np.int64),
              "stats_keys": np.array([k for k, _ in stats], dtype=str),
              "stats_counts": np.array([v for _, v in stats], dtype=np.int64),
              **_poses(out)}
    return {f"{scenario.name}.{key}": value for key, value in arrays.items()}


def _poses(frames: list[PoseFrame]) -> dict[str, np.ndarray]:
    poses = [p for f in frames for p in f.poses]
    parts = list(Part)
    return {
        "track_id": np.array([p.track_id for p in poses], dtype=np.int64),
        "score": np.array([p.score for p in poses], dtype=np.float64),
        "box": np.array([p.box for p in poses]).reshape(len(poses), 4),
        "pixels": np.array([p.pixels for p in poses]).reshape(len(poses), -1, 2),
        "points": np.array([p.points for p in poses]).reshape(len(poses), -1, 3),
        "confidence": np.array([p.confidence for p in poses]).reshape(len(poses), -1),
        "present": np.array([[part in p.present for part in parts] for p in poses], dtype=bool).reshape(-1, len(parts)),
    }


def run(committed_only: bool, **overrides) -> Iterator[tuple[Scenario, dict[str, np.ndarray]]]:
    for scenario in SCENARIOS:
        if committed_only and not scenario.committed:
            continue
        try:
            frames = scenario.frames()
        except FileNotFoundError as missing:
            print(f"fingerprint: {scenario.name}: {missing} missing, skipped", file=sys.stderr)
            continue
        yield scenario, fingerprint(scenario, frames, **overrides)


def kernels() -> str:
    """What picks the float kernels here (JSON): the CPU's features and the versions of the runtimes and
    decoders.  Two machines with the same string run the same kernels on the same inputs."""
    flags = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags = next((line.split(":", 1)[1] for line in cpuinfo.read_text().splitlines()
                      if line.startswith(("flags", "Features"))), "")
    versions = {name: importlib.metadata.version(name)
                for name in ("onnxruntime", "ai-edge-litert", "opencv-contrib-python", "numpy")}
    return json.dumps({"machine": platform.machine(), "cpu_flags": sorted(flags.split()), **versions})


def summary(name: str, arrays: dict[str, np.ndarray]) -> str:
    """One line on what a scenario's fingerprint holds (frames, poses, ids, counters)."""
    present = arrays[f"{name}.present"]
    bodies = int(present[:, list(Part).index(Part.BODY)].sum())
    stats = dict(zip(arrays[f"{name}.stats_keys"].tolist(), arrays[f"{name}.stats_counts"].tolist()))
    return (f"{name}: {len(arrays[f'{name}.stamp_ns'])} frames, {len(present)} poses ({bodies} with a body), "
            f"ids {sorted(set(arrays[f'{name}.track_id'].tolist()))}, stats {stats}")


def compare(found: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> list[str]:
    """What differs between two fingerprints (missing keys, shapes, values), with the largest difference."""
    problems = [f"{key}: missing" for key in sorted(set(reference) - set(found))]
    problems += [f"{key}: not in the reference" for key in sorted(set(found) - set(reference))]
    for key in sorted(set(found) & set(reference)):
        a, b = found[key], reference[key]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{key}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
        elif not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            worst = (float(np.nanmax(np.abs(a - b))) if a.dtype.kind == "f" else int((a != b).sum()))
            problems.append(f"{key}: differs ({'max abs' if a.dtype.kind == 'f' else 'elements'} {worst})")
    return problems


def _kernels(ort_optimization: str, litert_kernels: str) -> None:
    """Swap the inference kernels (tolerance measurement): ORT without graph optimisations, LiteRT
    without its default XNNPACK delegate."""
    if ort_optimization == "disable":
        import onnxruntime as ort

        class Unoptimised(ort.SessionOptions):
            def __init__(self) -> None:
                super().__init__()
                self.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        ort.SessionOptions = Unoptimised
    if litert_kernels == "builtin":
        from ai_edge_litert import interpreter

        class Builtin(interpreter.Interpreter):
            def __init__(self, *args, **kwargs) -> None:
                kwargs["experimental_op_resolver_type"] = interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                super().__init__(*args, **kwargs)
        interpreter.Interpreter = Builtin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--committed", action="store_true", help="only footage `make setup` provides")
    parser.add_argument("--compare", type=Path, help="a fingerprint to compare with (exact)")
    parser.add_argument("--threads", type=int, help="num_threads of the inference runtimes (default: config's)")
    parser.add_argument("--ort-optimization", choices=("all", "disable"), default="all")
    parser.add_argument("--litert-kernels", choices=("xnnpack", "builtin"), default="xnnpack")
    args = parser.parse_args(argv)
    _kernels(args.ort_optimization, args.litert_kernels)
    overrides = {"num_threads": args.threads} if args.threads else {}
    found: dict[str, np.ndarray] = {"kernels": np.array(kernels())}
    for scenario, arrays in run(args.committed, **overrides):
        found.update(arrays)
        print(f"fingerprint: {summary(scenario.name, arrays)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **found)
    result = {"out": str(args.out), "arrays": len(found), "bytes": args.out.stat().st_size}
    problems: list[str] = []
    if args.compare:
        with np.load(args.compare) as reference:
            problems = compare(found, dict(reference))
        for problem in problems:
            print(f"fingerprint: {problem}", file=sys.stderr)
        result.update(compared=str(args.compare), identical=not problems, differences=len(problems))
    print(json.dumps(result))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
