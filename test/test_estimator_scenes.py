"""Real scenes teleoperation users point a camera at (../shared/media, not shipped): people side by
side, a newcomer next to a tracked person, hands without a body (no phantom bodies), hands joined
to their body when one is in view."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import REPO

from teleop_common.frame_sources import VideoFileSource, rgb_frames
from teleop_common.layout import HAND, Part
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.pipeline import build_estimator

MEDIA = REPO.parent / "shared" / "media"
pytestmark = pytest.mark.skipif(not MEDIA.is_dir(), reason=f"development clips not found at {MEDIA}")
HANDS = (Part.LEFT_HAND, Part.RIGHT_HAND)


def _run(name: str, **config) -> tuple[list, object]:
    estimator = build_estimator(PoseNodeConfig(**config))
    source = VideoFileSource(str(MEDIA / name))
    fps = source.fps or 30.0
    frames = [estimator.process(rgb, round(i * 1e9 / fps), "camera", None)
              for i, (_, rgb) in enumerate(rgb_frames(source))]
    assert frames, f"{name} decoded no frames"
    return frames, estimator


def _bodies(frame) -> set[int]:
    return {p.track_id for p in frame.poses if Part.BODY in p.present}


def test_three_people_shoulder_to_shoulder_are_three_stable_tracks():
    frames, _ = _run("three_people_side_by_side_walk_to_camera__intel.gif", detector_tiles=2, max_people=4)
    late = [_bodies(f) for f in frames[20:]]
    assert sum(len(ids) == 3 for ids in late) >= 0.6 * len(late), late
    # An id is never reused: once a track is no longer published, its id never comes back (a person the
    # tracker revives where one was lost gets a new id; the retargeting node decides who that is).
    published = [{p.track_id for p in f.poses} for f in frames]
    for track in set().union(*published):
        seen = [k for k, ids in enumerate(published) if track in ids]
        assert seen == list(range(seen[0], seen[-1] + 1)), (track, published)


def test_newcomer_next_to_a_tracked_person_opens_a_track():
    frames, _ = _run("two_people_side_by_side_head_turns__intel.gif", max_people=4)
    ids = [_bodies(f) for f in frames]
    first = next(i for i, s in enumerate(ids) if len(s) == 2)  # the second person is found while the first is tracked
    assert ids[0] and ids[0] <= ids[first]
    assert sum(len(s) == 2 for s in ids[first:]) >= 0.9 * len(ids[first:]), ids
    assert len(set().union(*ids)) == 2, ids


@pytest.mark.parametrize(("name", "side"), [
    ("hand_open_palm_turning_no_face__mediapipe-samples.mp4", Part.RIGHT_HAND),  # "one right hand" (SOURCES.md)
    ("hand_only_fist_then_open_palm__tf-examples-pr427.mp4", None),
])
def test_hand_only_clip_gives_a_hand_only_person_and_no_phantom_body(name, side):
    frames, estimator = _run(name, max_people=4)
    assert all(not _bodies(f) for f in frames), "a body was published on a hand-only clip"
    hand_people = [[p for p in f.poses if p.present & set(HANDS)] for f in frames]
    found = sum(bool(people) for people in hand_people)
    assert found >= 0.9 * len(frames), f"hands on {found}/{len(frames)} frames"
    ids = Counter(p.track_id for people in hand_people for p in people)
    assert ids.most_common(1)[0][1] >= 0.9 * found, ids  # one stable id
    for people in hand_people:
        for pose in people:
            assert Part.BODY not in pose.present
            for part in pose.present:
                points = pose.part_points(part)
                assert np.isfinite(points).all() and 0.1 < np.median(points[:, 2]) < 2.0  # metric, in front
                palm = np.linalg.norm(points[HAND["wrist"]] - points[HAND["middle_mcp"]])
                assert 0.05 < palm < 0.15, palm  # a real palm's length, fist or open hand
    if side is not None:
        sides = Counter(part for people in hand_people for p in people for part in p.present)
        assert sides.most_common(1)[0][0] is side, sides
    if name.startswith("hand_open"):
        assert estimator.stats["phantom_bodies"] > 0  # the person detector fires on the palm: rejected, counted


def test_hands_of_a_visible_body_stay_with_that_body():
    frames, estimator = _run("upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv", max_people=4)
    assert all(len(_bodies(f)) == 1 for f in frames)
    assert all(Part.BODY in p.present or not p.present for f in frames for p in f.poses), "hand-only person beside a body"
    with_hands = sum(any(p.present & set(HANDS) for p in f.poses) for f in frames)
    assert with_hands >= 0.7 * len(frames)
    assert estimator.stats["phantom_bodies"] == 0


@pytest.mark.parametrize("name", ["woman_upper_body_raises_arm_thumbs_up__mediapipe-samples.mp4",
                                  "upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv"])
def test_overlap_finds_what_the_one_thread_estimator_finds(name):
    """overlap_parts: the tracked hands and faces run beside the body model (same models, same crops:
    the same landmarks), lost hands' palm searches and the look for newcomers beside the frame (their
    crops are tried a frame later).  The body, which waits for neither, is bit-identical; each hand and
    the face are found in as many frames, give or take one."""
    runs = {overlap: _run(name, overlap_parts=overlap)[0] for overlap in (True, False)}
    found = {overlap: Counter() for overlap in runs}
    for overlapped, alone in zip(runs[True], runs[False]):
        for frame, overlap in ((overlapped, True), (alone, False)):
            found[overlap].update(part for p in frame.poses for part in p.present)
        bodies = {p.track_id: p.part_pixels(Part.BODY) for p in alone.poses if Part.BODY in p.present}
        assert {p.track_id for p in overlapped.poses if Part.BODY in p.present} == bodies.keys()
        for p in overlapped.poses:
            if p.track_id in bodies:
                np.testing.assert_array_equal(p.part_pixels(Part.BODY), bodies[p.track_id])
    for part in (Part.LEFT_HAND, Part.RIGHT_HAND, Part.FACE):
        assert found[True][part] >= found[False][part] - 1, (part, found)
    assert found[False][Part.LEFT_HAND] and found[False][Part.RIGHT_HAND] and found[False][Part.FACE], found
