"""Several people in one frame, identities over consecutive video frames, held poses over gaps."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import DATA

from teleop_common.layout import BODY, Part
from whole_body_pose.boxes import box_iou
from whole_body_pose.config import GapFillConfig, PoseNodeConfig
from whole_body_pose.experts.tracks import REVIVE_FRAMES
from whole_body_pose.pipeline import build_estimator

VTEST = [DATA / f"vtest_{i:04d}.jpg" for i in range(8)]
FRAME_NS = 100_000_000  # vtest.avi runs at 10 fps
TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def tiled():
    """Far pedestrians need the detector's tiles (their faces are a few pixels in a whole-frame pass)."""
    return build_estimator(PoseNodeConfig(detector_tiles=3, max_people=6))


@pytest.mark.parametrize(("name", "tiles", "at_least"), [("basketball1.png", 2, 2), ("vtest_0000.jpg", 3, 3)])
def test_finds_several_people(name, tiles, at_least):
    estimator = build_estimator(PoseNodeConfig(detector_tiles=tiles, max_people=6))
    image = _rgb(DATA / name)
    size = np.array([image.shape[1], image.shape[0]])
    frame = estimator.process(image, 0, "camera", None)
    observed = [p for p in frame.poses if Part.BODY in p.present]
    assert len(observed) >= at_least
    assert len({p.track_id for p in observed}) == len(observed)
    for i, a in enumerate(observed):  # distinct people, not one person found twice
        for b in observed[i + 1:]:
            assert box_iou(a.box[None], b.box[None])[0, 0] < 0.5
    for pose in observed:
        body = pose.part_pixels(Part.BODY)[pose.part_confidence(Part.BODY) > 0.5]
        assert len(body) >= 8 and np.all((body >= -5) & (body <= size + 5))


def test_track_ids_stable_over_video(tiled):
    tiled.reset()
    frames = [tiled.process(_rgb(path), i * FRAME_NS, "camera", None) for i, path in enumerate(VTEST)]
    ids = [{p.track_id for p in f.poses if Part.BODY in p.present} for f in frames]
    assert len(ids[0]) >= 3
    assert all(frame_ids == ids[0] for frame_ids in ids), ids
    for previous, current in zip(frames, frames[1:]):  # each id follows one pedestrian: small steps
        before = {p.track_id: _torso(p) for p in previous.poses}
        for pose in current.poses:
            step = np.linalg.norm(_torso(pose) - before[pose.track_id])
            assert step < 0.25 * (pose.box[3] - pose.box[1]), f"track {pose.track_id} jumped {step:.0f} px"


def _torso(pose) -> np.ndarray:
    return pose.pixels[[BODY[name] for name in TORSO]].mean(axis=0)


def test_gap_is_held_then_dropped_and_ids_are_never_reused():
    gap_fill = GapFillConfig(max_frames=3, confidence_decay=0.5)
    estimator = build_estimator(PoseNodeConfig(max_people=1, gap_fill=gap_fill))
    person, blank = _rgb(DATA / "messi5.jpg"), np.zeros((342, 548, 3), np.uint8)
    seen = estimator.process(person, 0, "camera", None).poses[0]
    held = estimator.process(blank, FRAME_NS, "camera", None).poses
    assert len(held) == 1 and held[0].track_id == seen.track_id and not held[0].present
    np.testing.assert_allclose(held[0].confidence, 0.5 * seen.confidence, rtol=1e-5)
    np.testing.assert_array_equal(held[0].pixels, seen.pixels)
    back = estimator.process(person, 2 * FRAME_NS, "camera", None).poses
    assert [p.track_id for p in back] == [seen.track_id] and Part.BODY in back[0].present
    for i in range(3, 8):
        last = estimator.process(blank, i * FRAME_NS, "camera", None)
    assert last.poses == []
    again = estimator.process(person, 9 * FRAME_NS, "camera", None).poses
    # Dropped, then revived where it was lost, under a new id: ids are never reused in one run (whoever
    # comes back there may be someone else; the retargeting node judges that).
    assert len(again) == 1 and again[0].track_id > seen.track_id
    gone = 10 + gap_fill.max_frames + REVIVE_FRAMES
    for i in range(10, gone + 1):
        estimator.process(blank, i * FRAME_NS, "camera", None)
    later = estimator.process(person, (gone + 1) * FRAME_NS, "camera", None).poses
    assert len(later) == 1 and later[0].track_id > again[0].track_id  # too late to revive: a new person
    estimator.reset()                                                  # a new clip: ids still go on
    assert estimator.process(person, 0, "camera", None).poses[0].track_id > later[0].track_id


def test_four_people_in_one_frame():
    """A 2x2 collage of the real messi5.jpg: four people, each found once, with distinct ids and boxes."""
    image = _rgb(DATA / "messi5.jpg")
    collage = np.concatenate([np.concatenate([image, image], axis=1)] * 2, axis=0)
    estimator = build_estimator(PoseNodeConfig(detector_tiles=2, max_people=4))
    frame = estimator.process(np.ascontiguousarray(collage), 0, "camera", None)
    observed = [p for p in frame.poses if Part.BODY in p.present]
    assert len(observed) == 4 and len({p.track_id for p in observed}) == 4
    height, width = image.shape[:2]
    quadrants = {(int(_torso(p)[0] // width), int(_torso(p)[1] // height)) for p in observed}
    assert quadrants == {(0, 0), (1, 0), (0, 1), (1, 1)}, quadrants       # one person per tile
