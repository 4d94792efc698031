"""Hand-only people: hands the whole-frame palm detector finds that belong to no body.

Close-up hand footage (a camera on a desk pointed at the operator's hands) shows no body, so the
body-driven hand search finds nothing.  Here palms found over the whole frame (on the person
detector's schedule) that no body's hand already covers open hand tracks; each is then followed
like MediaPipe's hand tracking, from the crop its own landmarks define, until the landmark model
loses it.  A person holds at most one left and one right hand: a new hand joins a hand-only person
that lacks that side, else opens a new one.  3D is metric: the hand model's world landmarks placed
by the translation that reprojects them onto their 2D landmarks (lift.solve_translation), so depth
comes from the hand's real size and the intrinsics.  A hand that comes near a body's wrist is
that body's (parts.HandStage finds it) and leaves the hand-only person.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from teleop_common.camera import CameraIntrinsics
from teleop_common.layout import PARTS, Part
from teleop_common.pose import PersonPose, empty_keypoints
from whole_body_pose import lift
from whole_body_pose.config import GapFillConfig, OneEuroConfig
from whole_body_pose.experts import roi
from whole_body_pose.experts.filters import KeypointFilter
from whole_body_pose.experts.hand_identity import palm_length, same_hand
from whole_body_pose.experts.networks import HandLandmarker, ImageDetections

# The hand model's handedness score is >= 0.5 for the hand the body model calls right (measured on
# body-joined hands of the upper-body clips: right hands 0.95-0.98, left hands 0.01-0.07).
RIGHT_HAND_SCORE = 0.5
REVIVE_HAND = 2.0    # a palm this many palm lengths from a lost hand's last wrist is that hand again
JOIN_HAND = 8.0      # a new hand joins a hand-only person whose other hand is this close (palm lengths)
HANDS = (Part.LEFT_HAND, Part.RIGHT_HAND)


@dataclass
class HandSlot:
    """One tracked hand of a hand-only person."""

    roi: np.ndarray | None = None          # crop for the next frame (None: lost, wait for the palm detector)
    missed: int = 0
    pixels: np.ndarray | None = None       # last published (21, 2), (21, 3), (21,)
    points: np.ndarray | None = None
    confidence: np.ndarray | None = None
    filters: KeypointFilter | None = None


@dataclass
class HandPerson:
    track_id: int
    hands: dict[Part, HandSlot] = field(default_factory=dict)
    observed: set[Part] = field(default_factory=set)  # sides seen this frame


@dataclass
class _Found:
    pixels: np.ndarray
    world: np.ndarray
    presence: float
    side: Part
    roi: np.ndarray


class HandOnlyTracker:
    def __init__(self, landmarker: HandLandmarker, tracker: HandLandmarker, presence: float, refine_passes: int,
                 one_euro: OneEuroConfig, gap_fill: GapFillConfig) -> None:
        self.landmarker = landmarker  # new hands, from palm crops
        self.tracker = tracker        # tracked hands, from their last landmarks' crop (may be a lighter model)
        self.presence = presence
        self.refine_passes = refine_passes
        self.one_euro = one_euro
        self.gap_fill = gap_fill
        self.people: list[HandPerson] = []
        self.lost_last_frame = False  # a tracked hand was lost: run the palm detector at once

    def reset(self) -> None:
        self.people = []
        self.lost_last_frame = False

    def live(self) -> int:
        return sum(slot.roi is not None for person in self.people for slot in person.hands.values())

    def crops(self) -> np.ndarray:
        """(M, 5) crops of the tracked hands (phantom bodies drawn inside them are rejected)."""
        crops = [slot.roi for person in self.people for slot in person.hands.values() if slot.roi is not None]
        return np.array(crops).reshape(-1, 5)

    def __call__(self, image: np.ndarray, palms: ImageDetections | None, body_hands: np.ndarray,
                 camera: CameraIntrinsics, t: float, new_id: Callable[[], int]) -> list[PersonPose]:
        """Hand-only people this frame.  `body_hands`: (B, 5) crops of the hands bodies own this frame."""
        self._release(body_hands)
        tracked = [(person, side) for person in self.people for side, slot in person.hands.items()
                   if slot.roi is not None]
        found = self._landmarks(self.tracker, image, [person.hands[side].roi for person, side in tracked], refine=False)
        for person in self.people:
            person.observed = set()
        kept: list[_Found] = []
        for (person, side), obs in zip(tracked, found):
            if obs is None:
                continue
            person.observed.add(side)
            self._update(person, side, obs, camera, t)
            kept.append(obs)
        if palms is not None and len(palms):
            for obs in self._new_hands(image, palms, body_hands, kept):
                self._place(obs, camera, t, new_id)
                kept.append(obs)
        return self._publish()

    # --- steps ------------------------------------------------------------------------------------

    def _release(self, body_hands: np.ndarray) -> None:
        """A hand-only hand that a body now holds (its crop centre in the body's hand crop) leaves."""
        if not len(body_hands):
            return
        for person in self.people:
            for side, slot in list(person.hands.items()):
                if slot.roi is not None and roi.contains(body_hands, slot.roi[:2]).any():
                    del person.hands[side]
        self.people = [person for person in self.people if person.hands]

    def _landmarks(self, landmarker: HandLandmarker, image: np.ndarray, crops: list[np.ndarray],
                   refine: bool) -> list[_Found | None]:
        if not crops:
            return []
        result = landmarker(image, np.stack(crops))
        out: list[_Found | None] = []
        for i in range(len(crops)):
            if result.presence[i] < self.presence:
                out.append(None)
                continue
            pixels = result.pixels[i]
            side = Part.RIGHT_HAND if result.handedness[i] >= RIGHT_HAND_SCORE else Part.LEFT_HAND
            out.append(_Found(pixels, result.world[i], float(result.presence[i]), side,
                              roi.hand_from_landmarks(pixels[None])[0]))
        if refine:  # one more pass on the crops the landmarks define (the crop the model was trained on)
            again = self._landmarks(self.tracker, image, [obs.roi for obs in out if obs is not None], False)
            it = iter(again)
            out = [None if obs is None else (next(it) or obs) for obs in out]
        return out

    def _new_hands(self, image: np.ndarray, palms: ImageDetections, body_hands: np.ndarray,
                   known: list[_Found]) -> list[_Found]:
        """Hands from palms that no body and no tracked hand already has."""
        fresh = []
        for i, crop in enumerate(palms.hand_crops):
            if len(body_hands) and roi.contains(body_hands, palms.centres[i]).any():
                continue
            fresh.append(crop)
        new: list[_Found] = []
        for obs in self._landmarks(self.landmarker, image, fresh, self.refine_passes > 0):
            if obs is None or any(same_hand(obs.pixels, other.pixels) for other in known + new):
                continue
            new.append(obs)
        return new

    def _place(self, obs: _Found, camera: CameraIntrinsics, t: float, new_id: Callable[[], int]) -> None:
        """A new hand: revive a lost slot of its side nearby, join a person lacking that side, or open one."""
        size = palm_length(obs.pixels)
        lost = [(person, slot) for person in self.people for side, slot in person.hands.items()
                if side is obs.side and slot.roi is None and slot.pixels is not None
                and np.linalg.norm(slot.pixels[0] - obs.pixels[0]) < REVIVE_HAND * size]
        if lost:
            person = min(lost, key=lambda ps: np.linalg.norm(ps[1].pixels[0] - obs.pixels[0]))[0]
        else:
            lacking = [person for person in self.people if obs.side not in person.hands
                       and any(np.linalg.norm(slot.pixels[0] - obs.pixels[0]) < JOIN_HAND * size
                               for slot in person.hands.values() if slot.pixels is not None)]
            if lacking:
                person = min(lacking, key=lambda p: min(np.linalg.norm(s.pixels[0] - obs.pixels[0])
                                                        for s in p.hands.values() if s.pixels is not None))
            else:
                person = HandPerson(new_id())
                self.people.append(person)
        person.observed.add(obs.side)
        self._update(person, obs.side, obs, camera, t)

    def _update(self, person: HandPerson, side: Part, obs: _Found, camera: CameraIntrinsics, t: float) -> None:
        slot = person.hands.setdefault(side, HandSlot())
        pixels, points = obs.pixels.astype(np.float64), np.full((21, 3), np.nan)
        shift = lift.solve_translation(obs.world, pixels, np.ones(len(pixels)), camera)
        if shift is not None:
            points = obs.world + shift
        if self.one_euro.enabled:
            if slot.filters is None:
                c = self.one_euro
                slot.filters = KeypointFilter(c.min_cutoff, c.beta, c.d_cutoff)
            pixels = slot.filters.pixels(pixels, float(obs.roi[roi.W]), t)
            if shift is not None:
                points = slot.filters.points(points, t)
        slot.roi, slot.missed = obs.roi, 0
        slot.pixels, slot.points, slot.confidence = pixels, points, np.full(21, obs.presence)

    def _publish(self) -> list[PersonPose]:
        poses = []
        self.lost_last_frame = False
        for person in self.people:
            for side, slot in list(person.hands.items()):
                if side in person.observed:
                    continue
                self.lost_last_frame |= slot.roi is not None
                slot.roi, slot.missed = None, slot.missed + 1
                slot.filters = None
                slot.confidence = slot.confidence * self.gap_fill.confidence_decay
                if slot.missed > self.gap_fill.max_frames:
                    del person.hands[side]
            if person.hands:
                poses.append(_pose(person))
        self.people = [person for person in self.people if person.hands]
        return poses


def _pose(person: HandPerson) -> PersonPose:
    pixels, points, confidence = empty_keypoints()
    for side, slot in person.hands.items():
        sl = PARTS[side].slice
        pixels[sl], points[sl], confidence[sl] = slot.pixels, slot.points, slot.confidence
    shown = np.concatenate([slot.pixels for slot in person.hands.values()])
    box = np.concatenate([shown.min(axis=0), shown.max(axis=0)]).astype(np.float32)
    score = max(float(slot.confidence[0]) for slot in person.hands.values())
    return PersonPose(track_id=person.track_id, score=score, box=box, pixels=pixels, points=points,
                      confidence=confidence, present=frozenset(person.observed))
