"""Hand recovery with the palm detector when the body model misplaces a hand (real models, messi5)."""
from __future__ import annotations

import copy
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from conftest import DATA

from teleop_common.layout import HAND_ON_BODY, Part
from whole_body_pose.config import GapFillConfig, PoseNodeConfig
from whole_body_pose.experts import roi
from whole_body_pose.experts.background import BackgroundDetector
from whole_body_pose.experts.estimator import PartExpertsEstimator
from whole_body_pose.experts.loading import load_experts
from whole_body_pose.experts.newcomers import detector_regions
from whole_body_pose.experts.parts import HandStage, SearchBudget
from whole_body_pose.experts.prefetch import PrefetchingLandmarker
from whole_body_pose.experts.tracks import Body, Track

KEY = (0, Part.LEFT_HAND)


@pytest.fixture(scope="module")
def scene():
    experts = load_experts(PoseNodeConfig())
    image = cv2.cvtColor(cv2.imread(str(DATA / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    found = experts.detector(image, detector_regions(image.shape[1], image.shape[0], 1), 0.5)
    crop = roi.body_crop(found.keypoints[:1])
    return experts, image, crop[0], Body.from_batch(experts.body(image, crop), 0)


def _stage(experts, palm: bool) -> HandStage:
    return HandStage(experts.hand, experts.hand_tracker, BackgroundDetector(experts.palm, None) if palm else None,
                     presence=0.5, palm_score=0.5,
                     wrist_visibility=0.1, refine_passes=1, min_side=24.0, retry_interval=5)


def _track(crop: np.ndarray, body: Body) -> Track:
    track = Track(1, crop.copy(), 1.0)
    track.body = body
    return track


@pytest.mark.parametrize("offset_px", [25, 45])
def test_palm_detector_recovers_a_hand_the_body_misplaces(scene, offset_px):
    experts, image, crop, body = scene
    truth = _stage(experts, palm=True)(image, [_track(crop, body)])[KEY]

    misplaced = Body(body.presence, body.pixels.copy(), body.visibility, body.world)
    for i in HAND_ON_BODY[Part.LEFT_HAND]:  # wrist, index and pinky shifted off the hand
        misplaced.pixels[i] += offset_px
    assert KEY not in _stage(experts, palm=False)(image, [_track(crop, misplaced)])
    recovered = _stage(experts, palm=True)(image, [_track(crop, misplaced)])
    assert KEY in recovered
    assert np.linalg.norm(recovered[KEY].pixels - truth.pixels, axis=1).mean() < 2.0


class _Counted:
    """A real model, with its calls counted."""

    def __init__(self, model) -> None:
        self.model, self.calls, self.threads = model, 0, []

    def __call__(self, *args):
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        return self.model(*args)


def _misplaced_left_hand(scene):
    """The scene with the body's left hand moved 45 px off (the body model misplaced it), and the hand the
    unbounded in-frame search finds."""
    experts, image, crop, body = scene
    misplaced = Body(body.presence, body.pixels.copy(), body.visibility, body.world)
    for i in HAND_ON_BODY[Part.LEFT_HAND]:
        misplaced.pixels[i] += 45
    return experts, image, crop, misplaced, _stage(experts, palm=True)(image, [_track(crop, misplaced)])[KEY]


@pytest.mark.parametrize("calls", [1, 2])
def test_search_budget_spreads_the_palm_search_over_frames(scene, calls):
    """Unbounded, the misplaced hand costs four calls in one frame (body crop, palm detector, palm
    crop, refinement).  With a budget it costs at most `calls` beyond the first round per frame: with two
    it is found in the same frame without the refinement, with one the palm crop found is tried first
    in the next frame; a search cut short is not a miss (no back-off)."""
    experts, image, crop, misplaced, unbounded = _misplaced_left_hand(scene)
    hand, palm = _Counted(experts.hand), _Counted(experts.palm)
    stage = HandStage(hand, hand, BackgroundDetector(palm, None), presence=0.5, palm_score=0.5, wrist_visibility=0.1,
                      refine_passes=1, min_side=24.0, retry_interval=5)
    track = _track(crop, misplaced)
    found, frames = {}, 0
    while KEY not in found:
        frames += 1
        assert frames <= 4, "the bounded search never finished"
        before = hand.calls + palm.calls
        found = stage(image, [track], SearchBudget(calls))
        assert hand.calls + palm.calls - before <= 1 + calls
        state = track.parts[Part.LEFT_HAND]
        assert KEY in found or state.failed is None, "a search cut by the budget was counted as a miss"
        track.parts[Part.RIGHT_HAND].roi = found[(0, Part.RIGHT_HAND)].roi if (0, Part.RIGHT_HAND) in found else None
    assert frames == (1 if calls == 2 else 2)
    assert np.linalg.norm(found[KEY].pixels - unbounded.pixels, axis=1).mean() < 3.0


class _CountedSession:
    """A real inference session, with its runs counted."""

    def __init__(self, session) -> None:
        self.session, self.runs = session, 0

    def __getattr__(self, name: str):
        return getattr(self.session, name)

    def run(self, inputs):
        self.runs += 1
        return self.session.run(inputs)


def test_face_mesh_at_a_lower_cadence_is_held_in_between(scene):
    """face_every_n_frames=8 with gap_fill.max_frames=2: the face model runs on every eighth frame only,
    and between runs the face is held (following the body, confidence not decayed), not missed: it
    stays in the output on every frame although the cadence is longer than a missed part is held."""
    experts, image, _, _ = scene
    face = copy.copy(experts.face)
    face.session = _CountedSession(experts.face.session)
    config = PoseNodeConfig(max_people=1, face_every_n_frames=8, gap_fill=GapFillConfig(max_frames=2))
    estimator = PartExpertsEstimator(config, dataclasses.replace(experts, face=face))
    run_frames, seen = [], []
    for i in range(17):
        before = face.session.runs
        person = estimator.process(image, int(i * 1e9 / 30), "camera", None).poses[0]
        if face.session.runs > before:
            run_frames.append(i)
        seen.append((Part.FACE in person.present, person.part_confidence(Part.FACE).copy(),
                     np.isfinite(person.part_pixels(Part.FACE)).all()))
    estimator.reset()  # its background detector runs end here: the next tests share these experts
    assert run_frames == [0, 8, 16]
    assert [present for present, _, _ in seen] == [i % 8 == 0 for i in range(17)]
    assert all(finite for _, _, finite in seen)
    for i, (_, confidence, _) in enumerate(seen):
        assert confidence.min() > 0.5
        np.testing.assert_array_equal(confidence, seen[i - i % 8][1])  # the last run's, not decayed


def test_periodic_detection_takes_the_frames_search_budget(scene):
    """A frame that looks for newcomers (detect_every_n_frames: palms, then people the next frame) gives its
    hands and faces no search calls beyond their tracked round; the other frames get part_search_calls."""
    experts, image, _, _ = scene
    detector, palm, budgets = _Counted(experts.detector), _Counted(experts.palm), []
    config = PoseNodeConfig(max_people=2, detect_every_n_frames=3, part_search_calls=2, overlap_parts=False)
    estimator = PartExpertsEstimator(config, dataclasses.replace(experts, detector=detector, palm=palm))
    hands = estimator.hands
    estimator.hands = lambda image, tracks, budget: (budgets.append(budget.calls), hands(image, tracks, budget))[1]
    people, palms = [], []
    for i in range(9):
        before = detector.calls, palm.calls
        estimator.process(image, int(i * 1e9 / 30), "camera", None)
        people.append(detector.calls > before[0])
        palms.append(palm.calls > before[1])
    assert people == [True, False, False, False, True, False, False, False, True]  # first: nobody tracked yet
    assert palms == [True, False, False, True, False, False, False, True, False]   # the frame before people
    detected = [a or b for a, b in zip(people, palms)]
    assert [b for b, d in zip(budgets, detected) if d][1:] == [0, 0, 0, 0]
    assert all(b == 2 for b, d in zip(budgets, detected) if not d)


def test_prefetched_rows_are_the_landmarkers_own(scene):
    """A call after `start` answers the prefetched crops from the background run and runs only the others,
    in the order asked; a call on another image ignores the prefetch."""
    experts, image, _, body = scene
    face = roi.face_from_body(body.pixels[None, :11])[0]
    crops = np.stack([face, face + [8, 0, 0, 0, 0], face + [0, 8, 4, 4, 0.1]])
    with ThreadPoolExecutor(1) as pool:
        prefetching = PrefetchingLandmarker(experts.face, pool)
        prefetching.start(image, crops[:2])
        asked = crops[[1, 2, 0]]
        got, direct = prefetching(image, asked), experts.face(image, asked)
        for field in dataclasses.fields(got):
            np.testing.assert_array_equal(getattr(got, field.name), getattr(direct, field.name))
        prefetching.start(image, crops[:1])
        other = image.copy()
        other[:] = 0
        assert prefetching(other, crops[:1]).presence[0] < 0.5 < direct.presence[2]


def test_periodic_detection_runs_beside_the_frame_with_overlap(scene):
    """With overlap_parts, the periodic look for newcomers runs on the parts thread (the frame does not
    wait for it); a detection that must run now (nobody tracked yet) stays in the frame's own thread."""
    experts, image, _, _ = scene
    detector, palm = _Counted(experts.detector), _Counted(experts.palm)
    estimator = PartExpertsEstimator(PoseNodeConfig(max_people=2, detect_every_n_frames=3),
                                     dataclasses.replace(experts, detector=detector, palm=palm))
    ids = [{p.track_id for p in estimator.process(image, int(i * 1e9 / 30), "camera", None).poses} for i in range(9)]
    estimator.reset()  # waits for the background runs
    main = threading.current_thread().name
    assert detector.threads[0] == palm.threads[0] == main
    assert detector.threads[1:] and palm.threads[1:]
    assert all(name.startswith("parts") for name in detector.threads[1:] + palm.threads[1:])
    assert ids == [{1}] * 9  # the background runs find the tracked person again: no second track


def test_palm_search_beside_the_frame_is_tried_the_next_frame(scene):
    """With a parts thread, the misplaced hand's palm search runs there: the frame only pays for its body
    crop, the palm crop found is tried first in the next frame and finds the hand the unbounded search does."""
    experts, image, crop, misplaced, unbounded = _misplaced_left_hand(scene)
    hand, palm = _Counted(experts.hand), _Counted(experts.palm)
    with ThreadPoolExecutor(1, thread_name_prefix="parts") as pool:
        stage = HandStage(hand, hand, BackgroundDetector(palm, pool), presence=0.5, palm_score=0.5,
                          wrist_visibility=0.1, refine_passes=1, min_side=24.0, retry_interval=5)
        track = _track(crop, misplaced)
        first = stage(image, [track], SearchBudget(1))
        assert KEY not in first and track.parts[Part.LEFT_HAND].failed is None  # searching, not a miss
        assert hand.calls == 2  # both body crops in one batch, then the right hand's refinement: no palm crop yet
        track.parts[Part.RIGHT_HAND].roi = first[(0, Part.RIGHT_HAND)].roi
        second = stage(image, [track], SearchBudget(1))
    assert palm.threads == ["parts_0"]
    assert np.linalg.norm(second[KEY].pixels - unbounded.pixels, axis=1).mean() < 3.0
