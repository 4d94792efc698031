"""The tracked people: tracks opened for the people the detector finds, each tracked body landmarked
in one batch per frame, followed or coasting, and forgotten once no longer revivable.  Ids are
never reused, not even after a reset: an id names one person per run (hand-only and face-only
people draw from the same counter)."""
from __future__ import annotations

import numpy as np

from teleop_common.layout import Part
from teleop_common.pose import PersonPose
from whole_body_pose.experts.assemble import Assembler
from whole_body_pose.experts.networks import BodyLandmarker, ImageDetections
from whole_body_pose.experts.tracks import REVIVE_FRAMES, Body, Track, associate, crowded, drifted, duplicates, tighten


class People:
    def __init__(self, body: BodyLandmarker, max_people: int, presence: float, max_held: int) -> None:
        self.body = body
        self.max_people = max_people
        self.presence = presence    # body landmark model presence threshold
        self.max_held = max_held    # frames a missed body is held (gap_fill.max_frames)
        self._next_id = 1
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.lost_last_frame = False  # a track stopped coasting: look for its person at once

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def begin_frame(self) -> None:
        for track in self.tracks:
            track.body = None

    def live(self) -> int:
        """How many tracks have a crop to look at this frame."""
        return sum(track.roi is not None for track in self.tracks)

    def coasting(self) -> bool:
        """Whether a live track's body was missed (its crop is a guess)."""
        return any(track.roi is not None and track.missed for track in self.tracks)

    def observed(self) -> list[Track]:
        return [track for track in self.tracks if track.body is not None]

    def part_crops(self, parts: tuple[Part, ...]) -> np.ndarray:
        """(N, 5) the crops the live tracks' last landmarks define for `parts` (tracked parts only)."""
        live = [track for track in self.tracks if track.roi is not None]
        crops = [track.parts[part].roi for track in live for part in parts if track.parts[part].roi is not None]
        return np.array(crops).reshape(-1, 5)

    def open(self, found: ImageDetections | None) -> None:
        """Tracks for the detected people no track follows yet."""
        if found is None or not len(found):
            return
        new, self._next_id = associate(self.tracks, found.keypoints, found.scores, self.max_people, self._next_id)
        self.tracks.extend(new)

    def landmark(self, image: np.ndarray, t: float) -> None:
        """Body landmarks of every live track in one batch: found bodies are followed, the others coast;
        then the younger of two tracks on one person is dropped."""
        live = [track for track in self.tracks if track.roi is not None]
        for track in self.tracks:
            if track.roi is None:
                track.missed += 1
        self.lost_last_frame = False
        if live:
            self._follow(image, live, t)
        for duplicate in duplicates(self.tracks):
            self.tracks.remove(duplicate)

    def _follow(self, image: np.ndarray, live: list[Track], t: float) -> None:
        """A crowded track's crop is tightened around its own shoulders, unless a tightened crop lost its body
        before (`Track.loose`): a large person with a small one behind (the demo clip's operator and the
        woman) loses his swinging arms to it.  A tightened crop that finds no body is retried full at once."""
        near = crowded(live)
        tight = [bool(near[i]) and not track.loose for i, track in enumerate(live)]
        result = self.body(image, np.stack([tighten(track.roi, track.shoulders) if tight[i] else track.roi
                                            for i, track in enumerate(live)]))
        bodies = [(Body.from_batch(result, i), result.auxiliary[i]) for i in range(len(live))]
        retry = [i for i in range(len(live)) if tight[i] and result.presence[i] < self.presence]
        if retry:
            full = self.body(image, np.stack([live[i].roi for i in retry]))
            for k, i in enumerate(retry):
                bodies[i] = (Body.from_batch(full, k), full.auxiliary[k])
                live[i].loose = full.presence[k] >= self.presence
        for i, track in enumerate(live):
            body, auxiliary = bodies[i]
            if near[i] and drifted(track, body):  # on a neighbour's shoulders: tighten again next frame
                track.loose = False
            elif body.presence >= self.presence:
                track.follow(body, auxiliary, t)
                continue
            track.coast(self.max_held)
            self.lost_last_frame |= track.roi is None  # coasting gave up: ask the detector

    def held(self, assembler: Assembler) -> list[PersonPose]:
        """The held poses of the tracks not observed this frame; a track past reviving is forgotten."""
        poses = []
        for track in [track for track in self.tracks if track.body is None]:
            pose = assembler.held(track)
            if pose is not None:
                poses.append(pose)
            elif track.last_box is None or track.missed > self.max_held + REVIVE_FRAMES:
                self.tracks.remove(track)  # no longer revivable under its id
        return poses
