"""Recall of people in the background and in groups (issue 24 item 2), on real footage against the
counts hand-labelled in test/data/people_counts.json (tools/people_counts.py scores them).

The demo clip (.cache/media, made by `make setup`) always runs: its second person, a woman standing
fully visible in the background, was never found by the whole-frame detector alone; and once she was
(detector_tiles 2), the operator's crop, tightened around his shoulders because hers lie inside it,
cut off his swinging arms and lost his body every other frame, so he came back under new track ids.  The
../shared/media clips run when that folder is there.  A phantom (more people than labelled in a
labelled frame) fails as a missed person does.
"""
from __future__ import annotations

import sys

import pytest
from conftest import REPO

from whole_body_pose.config import PoseNodeConfig

sys.path.insert(0, str(REPO / "tools"))
# The scorer lives in tools/, which a colcon install of the tests lacks.
people_counts = pytest.importorskip("people_counts", reason="tools/people_counts.py not present")

FIND_WITHIN_S = 1.0
# labelled frames with found >= labelled; below 1: people shoulder to shoulder whose body model
# presence flickers around the threshold for a frame or two (tracking, not detection)
MIN_RECALL = {"three_people_side_by_side_walk_to_camera__intel.gif": 0.8}


def check(name: str) -> people_counts.ClipScore:
    score = people_counts.run(name, PoseNodeConfig(num_threads=2))   # shipped detector: tiles 2
    summary = score.as_json()
    assert score.phantom_frames == 0, summary
    assert all(t is not None and t <= FIND_WITHIN_S for t in score.time_to_find_s), summary
    assert score.recall >= MIN_RECALL.get(name, 1.0), summary
    return score


def test_demo_clip_background_woman_is_found_and_the_operator_keeps_his_id() -> None:
    score = check("operator_arms.mp4")
    ids = score.body_ids
    assert len(ids) == 2, score.as_json()   # the operator and the woman, each under one id all along
    assert all(score.frames_with(i) >= 0.95 * len(score.ids) for i in ids), [score.frames_with(i) for i in ids]


@pytest.mark.parametrize("name", [n for n, label in people_counts.labels().items() if label["media"] == "shared"])
def test_development_clip_people_are_found_within_a_second(name: str) -> None:
    if not people_counts.clip_path(name).exists():
        pytest.skip(f"{people_counts.clip_path(name)} not found")
    check(name)
