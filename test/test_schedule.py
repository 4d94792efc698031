"""The detectors' schedule: at once when something is lost, periodic runs staggered (never both)."""
from __future__ import annotations

from whole_body_pose.experts.schedule import DetectionSchedule, Searches


def run(schedule: DetectionSchedule, frames: int, bodies: int = 1, hands: int = 0) -> list[Searches]:
    return [schedule.due(bodies, hands, body_lost=False, hand_lost=False) for _ in range(frames)]


def test_nobody_tracked_runs_both_detectors_every_frame() -> None:
    schedule = DetectionSchedule(max_people=4, every=10, hand_only=True, reject_phantoms=True)
    assert run(schedule, 3, bodies=0) == [Searches(people=True, palms=True, periodic=False)] * 3


def test_periodic_palms_then_people_on_the_next_frame() -> None:
    schedule = DetectionSchedule(max_people=4, every=10, hand_only=True, reject_phantoms=True)
    searches = run(schedule, 40)
    palms = [i for i, s in enumerate(searches) if s.palms]
    people = [i for i, s in enumerate(searches) if s.people]
    assert palms == [0, 11, 22, 33] and people == [1, 12, 23, 34]
    assert not any(s.palms and s.people for s in searches)
    assert all(s.periodic for s in searches if s.palms or s.people)


def test_full_house_runs_palms_only_for_the_hand_only_tracker() -> None:
    with_hands = run(DetectionSchedule(max_people=1, every=5, hand_only=True, reject_phantoms=True), 12)
    assert [i for i, s in enumerate(with_hands) if s.palms] == [0, 5, 10] and not any(s.people for s in with_hands)
    without = run(DetectionSchedule(max_people=1, every=5, hand_only=False, reject_phantoms=True), 12)
    assert not any(s.palms or s.people for s in without)


def test_people_only_when_nothing_uses_palms() -> None:
    searches = run(DetectionSchedule(max_people=2, every=3, hand_only=False, reject_phantoms=False), 9)
    assert [i for i, s in enumerate(searches) if s.people] == [0, 3, 6] and not any(s.palms for s in searches)


def test_a_loss_runs_at_once_and_restarts_the_cycle() -> None:
    schedule = DetectionSchedule(max_people=4, every=10, hand_only=True, reject_phantoms=True)
    run(schedule, 5)
    assert schedule.due(1, 0, body_lost=True, hand_lost=False) == Searches(people=True, palms=True, periodic=False)
    assert schedule.due(1, 1, body_lost=False, hand_lost=True) == Searches(people=True, palms=True, periodic=False)
    assert not any(s.palms or s.people for s in run(schedule, 9))
    assert run(schedule, 1)[0].palms


def test_a_coasting_body_makes_the_periodic_cycle_due_at_once() -> None:
    schedule = DetectionSchedule(max_people=4, every=10, hand_only=False, reject_phantoms=False)
    run(schedule, 3)
    assert schedule.due(2, 0, body_lost=False, hand_lost=False, coasting=True) == \
        Searches(people=True, palms=False, periodic=True)
    assert not run(schedule, 1)[0].people  # then the usual wait
