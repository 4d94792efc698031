"""People followed across frames: identity, crops carried over, held outputs.

A track keeps the crop its body landmarks define for the next frame, so the person detector only
runs every few frames (to find newcomers).  Identity follows the crop; a detection that overlaps a
live track is the same person, one that overlaps a recently lost track revives it under its id.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from teleop_common.layout import BODY, Part
from whole_body_pose import roi
from whole_body_pose.experts import BodyResult
from whole_body_pose.filters import OneEuroFilter

SAME_PERSON_IOU = 0.3   # detection vs track crop overlap that means "already tracked"
DUPLICATE_TORSO = 0.15  # torso points closer than this fraction of the body size: same person
_TORSO = np.array([BODY["left_shoulder"], BODY["right_shoulder"], BODY["left_hip"], BODY["right_hip"]])


class CropSmoother:
    """MediaPipe's One-Euro smoothing of the body's auxiliary points before they define the next crop.

    A steady crop is what keeps the body landmarks from jittering (and what Holistic does even with
    its landmark smoothing off): min cutoff 0.01 Hz, beta 10, speeds in body sizes per second, the
    speed taken from raw (not filtered) successive values, 30 Hz until two time stamps are known.
    """

    MIN_CUTOFF, BETA, D_CUTOFF, START_HZ = 0.01, 10.0, 1.0, 30.0

    def __init__(self) -> None:
        self._raw: np.ndarray | None = None
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time: float | None = None
        self._hz = self.START_HZ

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        return 1.0 / (1.0 + self._hz / (2.0 * np.pi * cutoff))

    def __call__(self, points: np.ndarray, t: float) -> np.ndarray:
        """Smoothed (2, 2) hip centre and scale point observed at time t (seconds)."""
        if self._time is not None and t <= self._time:
            return points
        if self._time is not None:
            self._hz = 1.0 / (t - self._time)
        self._time = t
        scale = 1.0 / max(2.0 * float(np.linalg.norm(points[1] - points[0])), 1e-6)
        speed = np.zeros_like(points) if self._raw is None else (points - self._raw) * scale * self._hz
        self._speed = speed if self._speed is None else self._speed + self._alpha(self.D_CUTOFF) * (speed - self._speed)
        cutoff = self.MIN_CUTOFF + self.BETA * np.abs(self._speed)
        self._value = points if self._value is None else self._value + self._alpha(cutoff) * (points - self._value)
        self._raw = points
        return self._value


@dataclass
class PartTrack:
    """A hand or the face of one person."""

    roi: np.ndarray | None = None  # crop derived from this part's last landmarks (None: re-crop from the body)
    missed: int = 0                # frames since last observed
    seen: bool = False             # observed at least once (something to hold)
    failed: np.ndarray | None = None  # body-derived crop of the last search that found nothing
    wait: int = 0                     # frames before searching that unchanged crop again
    misses: int = 0                   # searches in a row that found nothing
    pending: tuple[np.ndarray, np.ndarray] | None = None  # palm crop (and its search region) found, not yet tried


@dataclass
class Body:
    """One frame's body observation of a track (row of a batched BodyResult)."""

    presence: float
    pixels: np.ndarray      # (33, 2)
    visibility: np.ndarray  # (33,)
    world: np.ndarray       # (33, 3)

    @classmethod
    def from_batch(cls, result: BodyResult, i: int) -> Body:
        return cls(float(result.presence[i]), result.pixels[i], result.visibility[i], result.world[i])


@dataclass(eq=False)
class Track:
    track_id: int
    roi: np.ndarray | None               # body crop for the current frame; None while lost
    score: float
    missed: int = 0                      # frames since the body was last observed
    body: Body | None = None             # this frame's observation (None: not observed)
    parts: dict[Part, PartTrack] = field(default_factory=lambda: {
        Part.LEFT_HAND: PartTrack(), Part.RIGHT_HAND: PartTrack(), Part.FACE: PartTrack()})
    pixels: np.ndarray | None = None     # last published keypoints (held while parts are missed)
    points: np.ndarray | None = None
    confidence: np.ndarray | None = None
    last_box: np.ndarray | None = None   # box of the last observed pose, to revive a lost track
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # crop centre motion, pixels/frame
    filters: tuple[OneEuroFilter, OneEuroFilter] | None = None
    smoother: CropSmoother = field(default_factory=CropSmoother)

    def follow(self, body: Body, auxiliary: np.ndarray, t: float) -> None:
        """The body was seen: its (smoothed) auxiliary points give next frame's crop."""
        next_roi = roi.body_crop(self.smoother(auxiliary, t)[None])[0]
        self.velocity = 0.5 * self.velocity + 0.5 * (next_roi[:2] - self.roi[:2])
        self.body, self.roi, self.missed = body, next_roi, 0

    def coast(self, max_frames: int) -> None:
        """The body was missed (occlusion, blur): keep looking where it should be, for a few frames."""
        self.body = None
        self.smoother = CropSmoother()
        self.missed += 1
        if self.missed > max_frames:
            self.roi = None
        else:
            self.roi = self.roi.copy()
            self.roi[:2] += self.velocity


def associate(tracks: list[Track], det_rois: np.ndarray, det_scores: np.ndarray, capacity: int,
              next_id: int) -> tuple[list[Track], int]:
    """Revive lost tracks or open new ones for detections no live track covers.

    Detections are taken best first; one overlapping a live track is that track's person already
    (its crop is kept: landmark-derived crops are tighter than detector ones).
    """
    new: list[Track] = []
    live = [t for t in tracks if t.roi is not None]
    lost = [t for t in tracks if t.roi is None and t.last_box is not None]
    live_boxes = roi.axis_box(np.array([t.roi for t in live])) if live else np.zeros((0, 4))
    for i in np.argsort(-det_scores):
        box = roi.axis_box(det_rois[i:i + 1])
        if len(live_boxes) and roi.box_iou(box, live_boxes).max() > SAME_PERSON_IOU:
            continue
        revived = None
        if lost:
            iou = roi.box_iou(box, np.array([t.last_box for t in lost]))[0]
            if iou.max() > SAME_PERSON_IOU:
                revived = lost.pop(int(iou.argmax()))
        if revived is not None:
            revived.roi, revived.score = det_rois[i].copy(), float(det_scores[i])
        elif len(tracks) + len(new) < capacity:
            new.append(Track(next_id, det_rois[i].copy(), float(det_scores[i])))
            next_id += 1
        else:
            continue
        live_boxes = np.concatenate([live_boxes, box])
    return new, next_id


def duplicates(tracks: list[Track]) -> list[Track]:
    """The younger of each pair of observed tracks whose torsos coincide (two crops on one person)."""
    observed = sorted((t for t in tracks if t.body is not None), key=lambda t: t.track_id)
    dropped: list[Track] = []
    for i, older in enumerate(observed):
        if any(d is older for d in dropped):
            continue
        torso = older.body.pixels[_TORSO]
        size = np.ptp(older.body.pixels, axis=0).max()
        for younger in observed[i + 1:]:
            if all(d is not younger for d in dropped) and \
                    np.linalg.norm(torso - younger.body.pixels[_TORSO], axis=1).mean() < DUPLICATE_TORSO * size:
                dropped.append(younger)
    return dropped
