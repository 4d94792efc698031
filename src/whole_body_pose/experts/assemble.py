"""One whole-body pose per person: parts joined in layout order, placed in metric 3D, filtered, held.

DOPE's pose module joins the part experts: body wrists to hand roots, head to face.  Here the
joint is geometric: each hand's metric shape is anchored at the depth of its body wrist and the
face mesh at the depth of the body's nose, so the parts share the body's camera-frame placement.
A part missed for a few frames is held (following its body anchor) with decaying confidence; one
whose model did not run this frame (a lower cadence) is held as it was.
"""
from __future__ import annotations

import numpy as np

from teleop_common.camera import CameraIntrinsics
from teleop_common.layout import PART_ANCHOR, PARTS, Part
from teleop_common.pose import PersonPose, empty_keypoints
from whole_body_pose import lift
from whole_body_pose.config import GapFillConfig, OneEuroConfig
from whole_body_pose.experts.filters import KeypointFilter
from whole_body_pose.experts.parts import FaceObs, HandObs
from whole_body_pose.experts.tracks import Track

FACE_NOSE_TIP = 1         # face-mesh index of the nose tip (the body's nose keypoint)
BOX_CONFIDENCE = 0.5      # keypoints at least this confident define the person's box


class Assembler:
    def __init__(self, one_euro: OneEuroConfig, gap_fill: GapFillConfig) -> None:
        self.one_euro = one_euro
        self.gap_fill = gap_fill

    def observed(self, track: Track, hands: dict[Part, HandObs], face: FaceObs | None,
                 camera: CameraIntrinsics, t: float, image_size: tuple[int, int],
                 skipped: frozenset[Part] = frozenset()) -> PersonPose:
        """Pose of a track whose body was seen this frame; updates the track's part states and held output.

        `skipped`: parts whose model did not run this frame (a lower cadence).  They are held as they
        were, not missed: no miss counted, no confidence decay, and their crop kept for the next run."""
        body = track.body
        pixels, points, confidence = (a.astype(np.float64) for a in empty_keypoints())
        present = {Part.BODY}
        sl = PARTS[Part.BODY].slice
        pixels[sl], confidence[sl] = body.pixels, body.visibility
        root = lift.solve_translation(body.world, body.pixels, body.visibility, camera)
        if root is not None:
            points[sl] = body.world + root
        for part in (Part.LEFT_HAND, Part.RIGHT_HAND, Part.FACE):
            obs = face if part is Part.FACE else hands.get(part)
            state = track.parts[part]
            sl = PARTS[part].slice
            if part in skipped:
                self._hold(track, part, pixels, points, confidence, 1.0)
                continue
            if obs is None:
                state.missed_frame()
                self._hold(track, part, pixels, points, confidence, self.gap_fill.confidence_decay)
                continue
            state.observed(obs.roi)
            present.add(part)
            pixels[sl], confidence[sl] = obs.pixels, obs.presence
            if root is None:
                continue
            depth = points[PART_ANCHOR[part], 2]
            if part is Part.FACE:
                points[sl] = lift.back_project(obs.pixels, obs.depth, FACE_NOSE_TIP, depth, camera)
            else:
                points[sl] = lift.place_hand(obs.world, obs.pixels, depth, camera)
        pixels, points = self._filter(track, pixels, points, t)
        track.pixels, track.points, track.confidence = pixels, points, confidence
        track.last_box = _box(pixels, confidence, image_size)
        track.score = body.presence
        return _pose(track, body.presence, present)

    def held(self, track: Track) -> PersonPose | None:
        """Last pose of a track whose body was missed, with decayed confidence; None once expired."""
        if track.pixels is None or track.missed > self.gap_fill.max_frames:
            return None
        track.confidence = track.confidence * self.gap_fill.confidence_decay
        return _pose(track, track.score, set())

    def _hold(self, track: Track, part: Part, pixels: np.ndarray, points: np.ndarray, confidence: np.ndarray,
              decay: float) -> None:
        """Carry a missed or skipped part's last keypoints along with its body anchor's motion."""
        state = track.parts[part]
        if not state.seen or track.pixels is None or state.missed > self.gap_fill.max_frames:
            return
        sl, anchor = PARTS[part].slice, PART_ANCHOR[part]
        pixels[sl] = track.pixels[sl] + (pixels[anchor] - track.pixels[anchor])
        points[sl] = track.points[sl] + (points[anchor] - track.points[anchor])
        confidence[sl] = track.confidence[sl] * decay

    def _filter(self, track: Track, pixels: np.ndarray, points: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """One-Euro per keypoint; pixels in units of the person's crop so parameters suit any distance."""
        if not self.one_euro.enabled:
            return pixels, points
        if track.filters is None:
            c = self.one_euro
            track.filters = KeypointFilter(c.min_cutoff, c.beta, c.d_cutoff)
        return track.filters.pixels(pixels, float(track.roi[2]), t), track.filters.points(points, t)


def _box(pixels: np.ndarray, confidence: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    finite = np.isfinite(pixels).all(axis=1)
    if not finite.any():
        return np.full(4, np.nan)
    sure = finite & (confidence >= BOX_CONFIDENCE)
    chosen = pixels[sure if sure.any() else finite]
    w, h = image_size
    lo = np.clip(chosen.min(axis=0), 0, [w, h])
    hi = np.clip(chosen.max(axis=0), 0, [w, h])
    return np.concatenate([lo, hi])


def _pose(track: Track, score: float, present: set[Part]) -> PersonPose:
    return PersonPose(track_id=track.track_id, score=float(score), box=track.last_box.astype(np.float32),
                      pixels=track.pixels.astype(np.float32), points=track.points.astype(np.float32),
                      confidence=track.confidence.astype(np.float32), present=frozenset(present))

