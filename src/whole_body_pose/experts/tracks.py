"""People followed across frames: identity, crops carried over, held outputs.

A track keeps the crop its body landmarks define for the next frame, so the person detector only
runs every few frames (to find newcomers).  Identity is matched on what identifies a person, the
shoulders (the detector's mid-shoulder keypoint vs the track's last landmarks), not on crops:
body crops are inflated to the full-body extent, so for close or upper-body people they are larger
than the image and neighbours' crops overlap.  A detection whose shoulders sit on a live track's is
that person; near a recently lost track's last shoulders it revives that track under a new id (ids are
never reused in one run: the retargeting node judges whether it is the same person).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from teleop_common.layout import SHOULDERS, TORSO, Part
from whole_body_pose.experts import roi
from whole_body_pose.experts.filters import KeypointFilter
from whole_body_pose.experts.networks import BodyResult

# Same person: mid-shoulder points closer than this many shoulder scales.  Side by side, neighbours'
# shoulder centres are >= 0.9 shoulder widths apart (measured on the three- and two-people clips);
# one person's detections from overlapping tiles land within 0.3.
SAME_PERSON_SHOULDERS = 0.5
REVIVE_SHOULDERS = 1.0    # a lost track may have moved: looser
REVIVE_FRAMES = 30        # a lost track (no longer published) can be revived this many frames after
DUPLICATE_SHOULDERS = 0.3  # two tracks' shoulder points this close (mean, in shoulder scales): one person
CROWDED_CROP = 0.8        # a crop holding another person's shoulders shrinks to this, around its own
DRIFTED = 0.5             # ...and its body may then move this many shoulder scales per frame, else it
                          # jumped to the neighbour (full crops: right person of three found on the
                          # middle one; 0.8 crops: each mostly on their own, measured on the three-people clip)
DETECTOR_SCALE = 0.7      # shoulder width / detector's upper-body radius (|kp3 - kp2|), measured ~0.6-0.8
_SHOULDERS = np.array(SHOULDERS)
_TORSO = np.array(TORSO)


def shoulder_scale(pixels: np.ndarray) -> float:
    """A person's size in pixels that neighbours do not share: shoulder width, or half the torso
    length when the person is seen from the side (shoulders overlap)."""
    width = float(np.linalg.norm(pixels[SHOULDERS[0]] - pixels[SHOULDERS[1]]))
    torso = float(np.linalg.norm(pixels[_TORSO[:2]].mean(axis=0) - pixels[_TORSO[2:]].mean(axis=0)))
    return max(width, 0.5 * torso, 1.0)


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
    """A hand or the face of one person: its crop state, changed only through these methods
    (by the hand/face stages in parts.py and the assembler)."""

    roi: np.ndarray | None = None  # crop derived from this part's last landmarks (None: re-crop from the body)
    missed: int = 0                # frames since last observed
    seen: bool = False             # observed at least once (something to hold)
    failed: np.ndarray | None = None  # body-derived crop of the last search that found nothing
    wait: int = 0                     # frames before searching that unchanged crop again
    misses: int = 0                   # searches in a row that found nothing
    pending: tuple[np.ndarray, np.ndarray] | None = None  # palm crop (and its search region) found, not yet tried

    def observed(self, crop: np.ndarray) -> None:
        """Found this frame: the next frame tracks it from `crop`."""
        self.roi, self.missed, self.seen = crop, 0, True

    def missed_frame(self) -> None:
        """Not found this frame: the next search re-crops from the body."""
        self.roi = None
        self.missed += 1

    def palm_found(self, crop: np.ndarray, search: np.ndarray) -> None:
        """A palm detection gave a crop that was not tried yet (tried first next frame)."""
        self.pending = (crop, search)

    def take_palm(self) -> tuple[np.ndarray, np.ndarray] | None:
        pending, self.pending = self.pending, None
        return pending

    def searched(self, found: bool, body_crop: np.ndarray, retry_frames: int, max_backoff: int) -> None:
        """A search from the body's crop ended: forget failures, or wait `retry_frames` (doubled per
        further miss, up to 2**max_backoff times) before searching that unchanged crop again."""
        if found:
            self.failed, self.misses = None, 0
        else:
            self.failed, self.wait = body_crop, retry_frames * 2 ** min(self.misses, max_backoff)
            self.misses += 1

    def tick_wait(self) -> int:
        """One frame of the retry wait passed; the frames left."""
        self.wait -= 1
        return self.wait


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
    shoulders: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))  # last mid-shoulder point (px):
    scale: float = 1.0                   # identity for association; shoulder_scale of the last observation (px)
    missed: int = 0                      # frames since the body was last observed
    seen_frames: int = 0                 # frames the body was observed in (an established person)
    loose: bool = False                  # crowded, its crop stays full: the tightened one lost its body
    body: Body | None = None             # this frame's observation (None: not observed)
    parts: dict[Part, PartTrack] = field(default_factory=lambda: {
        Part.LEFT_HAND: PartTrack(), Part.RIGHT_HAND: PartTrack(), Part.FACE: PartTrack()})
    pixels: np.ndarray | None = None     # last published keypoints (held while parts are missed)
    points: np.ndarray | None = None
    confidence: np.ndarray | None = None
    last_box: np.ndarray | None = None   # box of the last observed pose, to revive a lost track
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # crop centre motion, pixels/frame
    filters: KeypointFilter | None = None
    smoother: CropSmoother = field(default_factory=CropSmoother)

    def follow(self, body: Body, auxiliary: np.ndarray, t: float) -> None:
        """The body was seen: its (smoothed) auxiliary points give next frame's crop."""
        next_roi = roi.body_crop(self.smoother(auxiliary, t)[None])[0]
        self.velocity = 0.5 * self.velocity + 0.5 * (next_roi[:2] - self.roi[:2])
        self.body, self.roi, self.missed = body, next_roi, 0
        self.seen_frames += 1
        self.shoulders, self.scale = body.pixels[_SHOULDERS].mean(axis=0), shoulder_scale(body.pixels)

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


def associate(tracks: list[Track], det_keypoints: np.ndarray, det_scores: np.ndarray, capacity: int,
              next_id: int) -> tuple[list[Track], int]:
    """Revive lost tracks or open new ones for detections whose shoulders no live track has.

    Detections (person detector keypoints, (D, 4, 2): hip centre, full-body scale point, mid-shoulder,
    upper-body scale point) are taken best first; one on a live track's shoulders is that track's
    person already (its crop is kept: landmark-derived crops are tighter than detector ones), unless
    that track is coasting (its body missed): then the detection's crop replaces the stale one.
    """
    new: list[Track] = []
    reseeded: list[Track] = []
    live = [t for t in tracks if t.roi is not None]
    lost = [t for t in tracks if t.roi is None and t.last_box is not None]
    rois = roi.body_crop(det_keypoints)
    for i in np.argsort(-det_scores):
        shoulders = det_keypoints[i, 2]
        scale = DETECTOR_SCALE * float(np.linalg.norm(det_keypoints[i, 3] - det_keypoints[i, 2]))
        same = [t for t in live + new if _near(t, shoulders, scale, SAME_PERSON_SHOULDERS)]
        if same:
            nearest = min(same, key=lambda t: float(np.linalg.norm(t.shoulders - shoulders)))
            if nearest.missed and nearest not in reseeded:  # coasting on a stale crop: the detector's is fresh
                reseeded.append(nearest)
                nearest.roi, nearest.velocity = rois[i].copy(), np.zeros(2)
                nearest.shoulders, nearest.scale = shoulders.copy(), scale
            continue
        revived = min((t for t in lost if _near(t, shoulders, scale, REVIVE_SHOULDERS)),
                      key=lambda t: float(np.linalg.norm(t.shoulders - shoulders)), default=None)
        if revived is not None:                # its crops and held parts help; its id is retired: whoever
            lost.remove(revived)               # comes back there may be someone else (the robot side decides)
            revived.track_id, next_id = next_id, next_id + 1
            revived.filters, revived.seen_frames = None, 0
            revived.roi, revived.score = rois[i].copy(), float(det_scores[i])
            revived.shoulders, revived.scale = shoulders.copy(), scale
            live.append(revived)
        elif len(live) + len(new) < capacity:  # lost tracks waiting for revival take no place
            new.append(Track(next_id, rois[i].copy(), float(det_scores[i]), shoulders.copy(), scale))
            next_id += 1
    return new, next_id


def _near(track: Track, shoulders: np.ndarray, scale: float, limit: float) -> bool:
    return float(np.linalg.norm(track.shoulders - shoulders)) < limit * max(track.scale, scale)


def crowded(tracks: list[Track]) -> np.ndarray:
    """(N,) whether each track's crop holds another track's shoulders (neighbours side by side)."""
    if len(tracks) < 2:
        return np.zeros(len(tracks), bool)
    crops = np.stack([t.roi for t in tracks])
    shoulders = np.stack([t.shoulders for t in tracks])
    out = np.zeros(len(tracks), bool)
    for j, other in enumerate(shoulders):
        if np.isfinite(other).all():
            inside = roi.contains(crops, other)
            inside[j] = False
            out |= inside
    return out


def tighten(crop: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """`crop` scaled by CROWDED_CROP around `centre` (the person's own shoulders), so neighbours
    fill less of it: the body model otherwise may lock onto whoever is most central."""
    out = crop.copy()
    out[:2] = centre + (crop[:2] - centre) * CROWDED_CROP
    out[roi.W:roi.H + 1] *= CROWDED_CROP
    return out


def drifted(track: Track, body: Body) -> bool:
    """Whether a crowded track's new body is off its own shoulders (on a neighbour's)."""
    moved = float(np.linalg.norm(body.pixels[_SHOULDERS].mean(axis=0) - track.shoulders))
    return moved > DRIFTED * track.scale


def duplicates(tracks: list[Track]) -> list[Track]:
    """The younger of each pair of observed tracks whose shoulders coincide (two crops on one person)."""
    observed = sorted((t for t in tracks if t.body is not None), key=lambda t: t.track_id)
    dropped: list[Track] = []
    for i, older in enumerate(observed):
        if any(d is older for d in dropped):
            continue
        shoulders = older.body.pixels[_SHOULDERS]
        for younger in observed[i + 1:]:
            if all(d is not younger for d in dropped) and np.linalg.norm(
                    shoulders - younger.body.pixels[_SHOULDERS], axis=1).mean() < DUPLICATE_SHOULDERS * older.scale:
                dropped.append(younger)
    return dropped
