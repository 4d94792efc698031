"""The look for newcomers: the whole-frame person and palm detectors on the frames schedule.py picks.

A periodic run goes to the parts thread when there is one and counts the next frame (background.py);
a run because something was lost runs in the frame.  The palms found are kept a frame: the
hand-only tracker starts hands from this frame's, and the phantom check of the people frame that
follows a palm frame still sees them.
"""
from __future__ import annotations

import numpy as np

from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.experts import roi
from whole_body_pose.experts.background import BackgroundDetector
from whole_body_pose.experts.networks import ImageDetections
from whole_body_pose.experts.schedule import DetectionSchedule, Searches
from whole_body_pose.experts.tracks import DETECTOR_SCALE, SAME_PERSON_SHOULDERS

TILE_OVERLAP = 1.25  # detector tiles are this much larger than an exact n x n split
WHOLE_FRAME = "whole_frame"  # the background run of a periodic whole-frame detection


def detector_regions(width: int, height: int, tiles: int) -> np.ndarray:
    """The whole image (letterboxed to a square) plus, for tiles > 1, an overlapping tiles x tiles grid."""
    whole = roi.transform(np.array([[width / 2, height / 2, width, height, 0.0]]), 1.0)  # squared
    if tiles == 1:
        return whole
    side = min(min(width, height), TILE_OVERLAP * max(width, height) / tiles)
    xs = np.linspace(side / 2, width - side / 2, tiles)
    ys = np.linspace(side / 2, height - side / 2, tiles)
    grid = np.array([[x, y, side, side, 0.0] for y in ys for x in xs])
    return np.concatenate([whole, grid])


def newcomers(found: ImageDetections | None, min_score: float) -> ImageDetections | None:
    """The detections that may open or re-seed a track: scored at least `min_score`, less those of a
    tile on someone the whole frame found too (a tile cuts a person its region does not hold whole,
    so its crop is worse; tiles add only the people the whole frame missed: small, far, side by side)."""
    if found is None or not len(found):
        return found
    found = select(found, found.scores >= min_score)
    if not len(found) or found.source.min() > 0:
        return found
    shoulders = found.keypoints[:, 2]
    scale = DETECTOR_SCALE * np.linalg.norm(found.keypoints[:, 3] - shoulders, axis=1)
    whole = found.source == 0
    apart = np.linalg.norm(shoulders[:, None] - shoulders[None, whole], axis=2)  # (D, whole-frame D)
    same = apart < SAME_PERSON_SHOULDERS * np.maximum(scale[:, None], scale[None, whole])
    return select(found, whole | ~same.any(axis=1))


def select(found: ImageDetections, keep: np.ndarray) -> ImageDetections:
    return ImageDetections(found.scores[keep], found.boxes[keep], found.keypoints[keep], found.source[keep])


class NewcomerSearch:
    def __init__(self, people: BackgroundDetector, palms: BackgroundDetector, config: PoseNodeConfig,
                 hand_only: bool) -> None:
        self.people = people
        self.palm_detector = palms
        self.config = config
        self.hand_only = hand_only  # the hand-only tracker starts hands from whole-frame palms
        self.reset()

    def reset(self) -> None:
        self.people.discard()
        self.palm_detector.discard()
        self.palms: ImageDetections | None = None  # this frame's whole-frame palms (None: the detector did not run)
        self._last_frame_palms: ImageDetections | None = None  # the frame before's
        self._schedule = DetectionSchedule(self.config.max_people, self.config.detect_every_n_frames,
                                           self.hand_only, self.config.reject_phantoms)

    def begin_frame(self) -> ImageDetections | None:
        """The runs the frame before started in the background: their palms count as this frame's; the
        people they found are returned (None: no run)."""
        self._last_frame_palms, self.palms = self.palms, None
        palms = self.palm_detector.take(WHOLE_FRAME)
        if palms is not None:
            self.palms = palms
        return newcomers(self.people.take(WHOLE_FRAME), self.config.newcomer_score)

    def __call__(self, image: np.ndarray, bodies: int, hands: int, body_lost: bool,
                 hand_lost: bool, coasting: bool) -> tuple[Searches, ImageDetections | None]:
        """This frame's searches given what is tracked, lost and coasting (DetectionSchedule.due), and
        the people found now (None when the person detector did not run in this frame)."""
        searches = self._schedule.due(bodies, hands, body_lost, hand_lost, coasting)
        height, width = image.shape[:2]
        if searches.palms:
            regions = detector_regions(width, height, 1)
            score = self.config.palm_score
            if not (searches.periodic and self.palm_detector.start(WHOLE_FRAME, image, regions, score)):
                self.palms = self.palm_detector(image, regions, score)
        people = None
        if searches.people:
            regions = detector_regions(width, height, self.config.detector_tiles)
            score = self.config.detection_score
            if not (searches.periodic and self.people.start(WHOLE_FRAME, image, regions, score)):
                people = newcomers(self.people(image, regions, score), self.config.newcomer_score)
        return searches, people

    def recent_palms(self) -> ImageDetections | None:
        """The whole-frame palms of this frame, else of the frame before."""
        return self.palms if self.palms is not None else self._last_frame_palms
