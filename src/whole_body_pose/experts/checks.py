"""Each observed body checked before it is published, counted in `stats` (the node's diagnostics):
a phantom body (phantoms.py: inside a hand, smaller than a hand, no head) is dropped; an
implausible arm (plausibility.py: collapsed, swapped) keeps its pose with its confidence capped."""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from teleop_common.pose import PersonPose
from whole_body_pose.config import PlausibilityConfig
from whole_body_pose.experts.people import People
from whole_body_pose.experts.phantoms import phantom_reason
from whole_body_pose.experts.plausibility import Measures, arm_indices, implausible_arms, measure, swapped
from whole_body_pose.experts.tracks import Track

ESTABLISHED_FRAMES = 30  # frames a body is observed before hands no longer judge it (1 s at 30 Hz)

class BodyChecks:
    def __init__(self, rules: PlausibilityConfig) -> None:
        self.rules = rules
        self.reset()

    def reset(self) -> None:
        self.stats: Counter[str] = Counter()  # rejections, for diagnostics
        self.measures: dict[int, tuple[Measures, bool]] = {}  # this frame's plausibility ratios per track id
        self._last_body: dict[int, tuple[int, np.ndarray]] = {}  # track id -> (frame, body pixels) last observed
        self._frame = 0

    def begin_frame(self) -> None:
        self.measures = {}
        self._last_body = {k: v for k, v in self._last_body.items() if v[0] >= self._frame - 1}
        self._frame += 1

    def reject_phantoms(self, people: People, hands: np.ndarray, image_size: tuple[int, int]) -> None:
        """Drop the observed bodies that are not a person; `hands`: (M, 5) crops of hands no body holds.
        A person already seen for ESTABLISHED_FRAMES is not judged against hands: a phantom is drawn
        from a hand when it appears, while a foreground hand passing in front of a real person in the
        background is larger than that person (the demo clip's woman was dropped so, issue 24)."""
        no_hands = np.zeros((0, 5))
        for track in people.observed():
            judged = hands if track.seen_frames <= ESTABLISHED_FRAMES else no_hands
            reason = phantom_reason(track.body.pixels, track.body.visibility, judged, image_size)
            if reason is not None:
                people.tracks.remove(track)
                self.stats["phantom_bodies"] += 1
                self.stats[f"phantom_bodies.{reason}"] += 1

    def plausible(self, track: Track, pose: PersonPose) -> PersonPose:
        """The pose with each implausible arm's confidence capped.  The track's held output is capped
        too, so held frames of a collapsed arm cannot drive either."""
        rules = self.rules
        if not rules.enabled:
            return pose
        body = track.body
        frame, last = self._last_body.get(track.track_id, (-1, None))
        swap = rules.check_swap and frame == self._frame - 1 and swapped(body.pixels, last)
        self._last_body[track.track_id] = (self._frame, body.pixels)
        found = measure(body.world)
        self.measures[track.track_id] = (found, swap)
        broken = implausible_arms(found, swap, rules)
        if not broken:
            return pose
        for side, rule in broken.items():
            index = arm_indices(side)
            track.confidence[index] = np.minimum(track.confidence[index], rules.low_confidence)
            self.stats["implausible_arms"] += 1
            self.stats[f"implausible_arms.{rule}"] += 1
        return dataclasses.replace(pose, confidence=track.confidence.astype(np.float32))
