"""Operator selection (largest / nearest / track id, kept across frames) and the pinch->gripper filter."""
from __future__ import annotations

import numpy as np
import pytest

from pose_retarget.config import GripperConfig, InputConfig, OperatorConfig
from pose_retarget.gripper import GripperFilter
from pose_retarget.operator import OperatorSelector
from teleop_common.layout import BODY, Part, index
from teleop_common.pose import PersonPose, empty_keypoints

MIN_CONFIDENCE = InputConfig().min_confidence

MS = 1_000_000


def person(track_id: int, box_size: float, depth: float) -> PersonPose:
    pixels, points, confidence = empty_keypoints()
    for name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"):
        points[BODY[name]] = [0.0, 0.0, depth]
        confidence[BODY[name]] = 0.9
    return PersonPose(track_id=track_id, score=0.9, box=np.array([0, 0, box_size, box_size], np.float32),
                      pixels=pixels, points=points, confidence=confidence, present=frozenset({Part.BODY}))


BIG_FAR, SMALL_NEAR = person(1, 300, 4.0), person(2, 100, 1.5)


@pytest.mark.parametrize("selection, expected", [("largest", 1), ("nearest", 2)])
def test_selection_rule(selection: str, expected: int) -> None:
    selector = OperatorSelector(OperatorConfig(selection=selection), MIN_CONFIDENCE)
    assert selector.select([BIG_FAR, SMALL_NEAR], 0).track_id == expected


def test_track_id_selection_waits_for_that_person() -> None:
    selector = OperatorSelector(OperatorConfig(selection="track_id", track_id=7), MIN_CONFIDENCE)
    assert selector.select([BIG_FAR, SMALL_NEAR], 0) is None
    assert selector.select([BIG_FAR, person(7, 50, 3.0)], 33 * MS).track_id == 7


def test_keeps_the_same_person_until_lost_for_the_timeout() -> None:
    selector = OperatorSelector(OperatorConfig(selection="largest", lost_timeout_s=1.0), MIN_CONFIDENCE)
    assert selector.select([SMALL_NEAR], 0).track_id == 2
    bigger = person(3, 500, 3.0)                                               # not where the operator was
    assert selector.select([bigger, SMALL_NEAR], 100 * MS).track_id == 2     # someone larger appears: kept
    assert selector.select([bigger], 600 * MS) is None                         # operator unseen: nobody
    assert selector.select([bigger], 1000 * MS) is None                        # 0.9 s unseen: still waiting
    assert selector.select([bigger], 1200 * MS).track_id == 3                  # > 1 s: reselected


def test_empty_frames_select_nobody() -> None:
    assert OperatorSelector(OperatorConfig(), MIN_CONFIDENCE).select([], 0) is None


def test_nearest_ignores_people_without_depth() -> None:
    faceless = person(4, 900, np.nan)
    assert OperatorSelector(OperatorConfig(selection="nearest"), MIN_CONFIDENCE).select([faceless, BIG_FAR], 0).track_id == 1


CONFIG = GripperConfig(closed_ratio=0.3, open_ratio=1.2, hysteresis=0.05, max_rate=1000.0)


def ratio(opening: float) -> float:
    return CONFIG.closed_ratio + opening * (CONFIG.open_ratio - CONFIG.closed_ratio)


def test_ratio_range_maps_to_closed_and_open() -> None:
    gripper = GripperFilter(CONFIG)
    assert gripper.update(0.1, 0.03) == pytest.approx(0.0)       # pinched: closed
    assert gripper.update(2.0, 0.03) == pytest.approx(1.0)       # spread: open
    # Coming down from open, the dead band leaves it `hysteresis` above the requested opening.
    assert gripper.update(ratio(0.5), 0.03) == pytest.approx(0.5 + CONFIG.hysteresis)


def test_hysteresis_ignores_jitter_and_follows_real_changes() -> None:
    gripper = GripperFilter(CONFIG, opening=0.5)
    settled = gripper.update(ratio(0.5), 0.03)
    jitter = [settled + d for d in (0.04, -0.04, 0.03, -0.03, 0.045)]
    outputs = {gripper.update(ratio((o + 0.05) / 1.1), 0.03) for o in jitter}   # raw openings within the band
    assert outputs == {settled}
    opened = gripper.update(ratio(0.9), 0.03)
    assert opened > settled + 0.2
    # Reversing by less than twice the band leaves it where it is, more than that moves it.
    assert gripper.update(ratio(0.9 - 0.08 / 1.1), 0.03) == opened
    assert gripper.update(ratio(0.5), 0.03) < opened - 0.2


def test_rate_limit() -> None:
    gripper = GripperFilter(GripperConfig(max_rate=2.0), opening=0.0)
    openings = [gripper.update(5.0, 0.01) for _ in range(100)]     # fully open requested
    assert np.max(np.diff([0.0, *openings])) <= 2.0 * 0.01 + 1e-12
    assert openings[49] == pytest.approx(1.0) and openings[48] < 1.0


def test_hold_at_resumes_from_the_real_opening() -> None:
    gripper = GripperFilter(CONFIG, opening=1.0)
    gripper.hold_at(0.25)
    assert gripper.opening == 0.25
    assert gripper.update(ratio(0.25), 0.03) == pytest.approx(0.25, abs=0.06)


def test_nearest_measures_hand_only_people_at_their_wrists() -> None:
    """A hand-only person (desk camera, mapping.source hand) has no torso: its wrists give its depth."""
    hands = person(5, 50, np.nan)
    hands.points[index(Part.RIGHT_HAND, "wrist")] = [0.0, 0.0, 0.6]
    assert OperatorSelector(OperatorConfig(selection="nearest"), MIN_CONFIDENCE).select([BIG_FAR, hands], 0).track_id == 5
