"""The camera frame handed from the callback to the worker: newest vs fresh (latency first), real threads."""
from __future__ import annotations

import threading
import time

import pytest

from teleop_common.frame_slot import FrameSlot

# Camera frame interval of these tests (s). The policy's decisions hinge on fractions of it (half an
# interval waited, 1.5 intervals overdue), so a thread woken late on a loaded machine must stay well
# inside those fractions: 0.2 s leaves ~40 ms of slack where 0.04 s left ~8 ms.
INTERVAL = 0.2


def camera(slot: FrameSlot, frames: range) -> None:
    """Frames at the camera's interval; the last one was just put."""
    for frame in frames:
        if frame != frames[0]:
            time.sleep(INTERVAL)
        slot.put(frame)


def put_later(slot: FrameSlot, frame: int, delay: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), slot.put(frame)))
    thread.start()
    return thread


def test_newest_takes_the_last_frame_and_reports_each_drop() -> None:
    slot: FrameSlot[int] = FrameSlot("newest")
    assert [slot.put(frame) for frame in range(3)] == [False, True, True]
    frame, arrival = slot.take()
    assert frame == 2 and arrival <= time.monotonic()


@pytest.mark.parametrize("policy, expected", [("newest", 5), ("fresh", 6)])
def test_a_stale_frame_waits_for_the_next_one_only_when_fresh(policy: str, expected: int) -> None:
    slot: FrameSlot[int] = FrameSlot(policy)
    camera(slot, range(5))                  # the camera's interval is known
    assert slot.take()[0] == 4 and slot.stale_waits == 0
    slot.put(5)
    time.sleep(0.9 * INTERVAL)              # frame 5 has waited most of an interval: 6 is due sooner
    sender = put_later(slot, 6, 0.1 * INTERVAL)
    frame, _ = slot.take()
    sender.join()
    assert frame == expected
    assert slot.stale_waits == (policy == "fresh")


def test_fresh_loses_nothing_when_the_camera_stops() -> None:
    slot: FrameSlot[int] = FrameSlot("fresh")
    camera(slot, range(5))
    assert slot.take()[0] == 4
    slot.put(5)                              # the last frame: nothing follows
    time.sleep(0.9 * INTERVAL)
    started = time.monotonic()
    frame, _ = slot.take()
    assert frame == 5 and slot.stale_waits == 1
    assert time.monotonic() - started < 2 * INTERVAL   # given up once the next frame is overdue


def test_close_releases_a_waiting_worker() -> None:
    slot: FrameSlot[int] = FrameSlot("fresh")
    taken = []
    worker = threading.Thread(target=lambda: taken.append(slot.take()))
    worker.start()
    time.sleep(0.05)
    slot.close()
    worker.join(timeout=2.0)
    assert not worker.is_alive() and taken == [None]


def test_unknown_policy_is_refused_with_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="fresh.*newest"):
        FrameSlot("oldest")
