"""When the whole-frame detectors (person detector, palm detector) run.

Tracking makes them unnecessary on most frames: they run at once when something is lost (nobody is
tracked, a body or a hand-only hand was just lost) and otherwise once every `every` frames, while
they can still find someone new.  The periodic runs are staggered: palms on one frame, people on
the next, so no tracking frame pays for both detectors (each costs about as much as the body model;
together they were the latency tail, issue 12).  The people frame's phantom check still sees the
palms of the frame before (newcomers.py keeps them a frame).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Searches:
    """What runs this frame."""

    people: bool
    palms: bool
    periodic: bool  # a detector runs on its cadence (not because something was lost)


class DetectionSchedule:
    def __init__(self, max_people: int, every: int, hand_only: bool, reject_phantoms: bool) -> None:
        self.max_people = max_people
        self.every = every
        self.hand_only = hand_only              # the hand-only tracker starts hands from whole-frame palms
        self.reject_phantoms = reject_phantoms  # new bodies inside a palm are rejected
        self._since = every                     # frames since the last periodic cycle: due at once
        self._palms_done = False                # this cycle's palm run is done; people next

    def due(self, bodies: int, hands: int, body_lost: bool, hand_lost: bool, coasting: bool = False) -> Searches:
        """The searches of this frame given what is tracked (`bodies`, hand-only `hands`) and lost;
        a body `coasting` (missed, held on its last crop) makes the periodic cycle due at once: the
        detector's fresh crop is what brings it back (tracks.associate)."""
        self._since += 1
        if coasting:
            self._since = max(self._since, self.every)
        want_people = bodies < self.max_people
        want_palms = self.hand_only or (self.reject_phantoms and want_people)
        nobody = bodies == 0 and hands == 0
        if nobody or (want_people and body_lost) or (self.hand_only and hand_lost):
            searches = Searches(people=want_people, palms=want_palms, periodic=False)
        elif self._since < self.every or not (want_people or want_palms):
            searches = Searches(people=False, palms=False, periodic=False)
        elif want_palms and not self._palms_done:
            self._palms_done = want_people  # people on the next frame
            searches = Searches(people=False, palms=True, periodic=True)
        else:
            searches = Searches(people=want_people, palms=False, periodic=True)
        if searches.people or (searches.palms and not self._palms_done):
            self._since, self._palms_done = 0, False
        return searches
