"""People found per clip against the hand-labelled counts of test/data/people_counts.json (issue 24 item 2).

    PYTHONPATH=src .venv/bin/python tools/people_counts.py [clip ...] [--set key=value ...]

Runs the part-experts estimator over each labelled clip as a stream and scores the bodies it
publishes (observed or held): recall = the fraction of labelled frames where found >= labelled,
phantoms = labelled frames where found > labelled, and time-to-find = seconds from each `appear`
frame to the first frame whose found count reaches its count (None: never); body_ids = the track ids
that published a body (a person who keeps one id counts once).  Clips of
../shared/media are skipped when that folder is absent.  Prints one JSON line per clip.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from teleop_common.frame_sources import VideoFileSource, rgb_frames  # noqa: E402
from teleop_common.layout import Part  # noqa: E402
from whole_body_pose.config import PoseNodeConfig  # noqa: E402
from whole_body_pose.pipeline import build_estimator  # noqa: E402

LABELS = REPO / "test" / "data" / "people_counts.json"
MEDIA = {"cache": REPO / ".cache" / "media", "shared": REPO.parent / "shared" / "media"}


@dataclass(frozen=True)
class ClipScore:
    clip: str
    recall: float             # labelled frames with found >= labelled / labelled frames
    phantom_frames: int       # labelled frames with found > labelled
    time_to_find_s: list      # per `appear` label: seconds until found, None when never
    found: dict               # labelled frame -> found
    ids: list                 # per frame, the track ids of the bodies found

    @property
    def body_ids(self) -> list[int]:
        """The track ids that published a body at least once."""
        return sorted({i for frame in self.ids for i in frame})

    def frames_with(self, track_id: int) -> int:
        return sum(track_id in frame for frame in self.ids)

    def as_json(self) -> dict:
        return {"clip": self.clip, "recall": round(self.recall, 3), "phantom_frames": self.phantom_frames,
                "time_to_find_s": self.time_to_find_s, "found": self.found,
                "body_ids": len(self.body_ids)}


def labels() -> dict:
    return json.loads(LABELS.read_text())["clips"]


def clip_path(name: str) -> Path:
    return MEDIA[labels()[name]["media"]] / name


def bodies_per_frame(path: Path, config: PoseNodeConfig) -> tuple[list[list[int]], float]:
    """The track ids of the bodies published on each frame of the clip run as a stream, and the clip's
    frame rate."""
    source = VideoFileSource(str(path))
    fps = source.fps or 30.0
    estimator = build_estimator(config)
    ids = [[p.track_id for p in estimator.process(rgb, round(i * 1e9 / fps), "camera", None).poses
            if Part.BODY in p.present] for i, (_, rgb) in enumerate(rgb_frames(source))]
    return ids, fps


def score(name: str, ids: list[list[int]], fps: float) -> ClipScore:
    label = labels()[name]
    counts = [len(frame) for frame in ids]
    found = {f["frame"]: counts[f["frame"]] for f in label["frames"]}
    hits = sum(found[f["frame"]] >= f["count"] for f in label["frames"])
    phantoms = sum(found[f["frame"]] > f["count"] for f in label["frames"])
    times = []
    for appear in label["appear"]:
        at = next((i for i in range(appear["frame"], len(counts)) if counts[i] >= appear["count"]), None)
        times.append(None if at is None else round((at - appear["frame"]) / fps, 3))
    return ClipScore(name, hits / len(label["frames"]), phantoms, times, found, ids)


def run(name: str, config: PoseNodeConfig) -> ClipScore:
    return score(name, *bodies_per_frame(clip_path(name), config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="*", help="labelled clip names (default: all present)")
    parser.add_argument("--set", action="append", default=[], help="config override key=value (YAML value)")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    config = PoseNodeConfig(num_threads=2, **overrides)
    for name in args.clips or list(labels()):
        if not clip_path(name).exists():
            print(json.dumps({"clip": name, "skipped": f"{clip_path(name)} not found"}))
            continue
        print(json.dumps(run(name, config).as_json()), flush=True)


if __name__ == "__main__":
    main()
