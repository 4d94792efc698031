"""Face-only people: faces the whole-frame face detector finds that no body covers.

Close-up faces (a head filling the frame, two children's faces side by side) show too little body
for the person detector, so the body-driven face search never runs.  Here MediaPipe's short-range
face detector (faces within ~2 m), run whenever the person detector runs, opens a face track for
each face whose centre lies in no body's face crop; the face mesh then follows it from the crop its
own landmarks define, like MediaPipe's face tracking, until the mesh loses it.  Each face is a
person of its own (`has_body` false) with a stable track id; a face that a body's face crop comes
to cover is that body's (parts.FaceStage finds it) and leaves.  3D: the mesh's relative depths,
placed at the distance where the outer eye corners (mesh points 33, 263) lie EYE_SPAN_M apart.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from teleop_common.camera import CameraIntrinsics
from teleop_common.layout import PARTS, Part
from teleop_common.pose import PersonPose, empty_keypoints
from whole_body_pose import lift
from whole_body_pose.config import GapFillConfig, OneEuroConfig
from whole_body_pose.experts import roi
from whole_body_pose.experts.filters import KeypointFilter
from whole_body_pose.experts.networks import Detector, FaceLandmarker, ImageDetections

FACE_DETECTOR_STRIDES = (8, 16, 16, 16)  # MediaPipe face_detection_short_range anchors (896)
FACE_DETECTOR_KEYPOINTS = 6              # right eye, left eye, nose tip, mouth, right ear, left ear
DETECTION_SCALE = 1.5                    # MediaPipe's face_detection_front_detection_to_roi: box x1.5
EYE_CORNERS = (33, 263)                  # outer eye corners of the face mesh
EYE_SPAN_M = 0.09                        # adult outer-canthal width ~88-92 mm
NOSE_TIP = 1


@dataclass
class FacePerson:
    track_id: int
    roi: np.ndarray | None                 # crop for the next frame (None: lost)
    pixels: np.ndarray
    points: np.ndarray
    confidence: np.ndarray
    last_roi: np.ndarray | None = None     # crop of the last observation: a face found in it again is this one
    filters: KeypointFilter | None = None
    missed: int = 0


def face_crops(found: ImageDetections) -> np.ndarray:
    """(D, 5) face-mesh crops of face detections: box x1.5, square, eyes level."""
    rot = roi.rotation_towards(found.keypoints[:, 0], found.keypoints[:, 1], 0.0)
    size = found.boxes[:, 2:] - found.boxes[:, :2]
    rois = np.stack([found.centres[:, 0], found.centres[:, 1], size[:, 0], size[:, 1], rot], axis=1)
    return roi.transform(rois, DETECTION_SCALE)


class FaceOnlyTracker:
    def __init__(self, detector: Detector, landmarker: FaceLandmarker, detection_score: float, presence: float,
                 one_euro: OneEuroConfig, gap_fill: GapFillConfig) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.detection_score = detection_score
        self.presence = presence
        self.one_euro = one_euro
        self.gap_fill = gap_fill
        self.people: list[FacePerson] = []
        self.lost_last_frame = False  # a tracked face was lost: run the detector at once

    def reset(self) -> None:
        self.people = []
        self.lost_last_frame = False

    def live(self) -> int:
        return sum(person.roi is not None for person in self.people)

    def __call__(self, image: np.ndarray, detect: bool, body_faces: np.ndarray, room: int, camera: CameraIntrinsics,
                 t: float, new_id: Callable[[], int]) -> list[PersonPose]:
        """Face-only people this frame.  `body_faces`: (B, 5) face crops of the bodies seen this frame;
        `room`: how many face-only people there may be (`max_people` less the bodies)."""
        if len(body_faces):   # a face a body now covers is that body's
            self.people = [p for p in self.people
                           if not roi.contains(body_faces, p.pixels[NOSE_TIP]).any()]
        tracked = [p for p in self.people if p.roi is not None]
        seen: set[int] = set()
        if tracked:
            result = self.landmarker(image, np.stack([p.roi for p in tracked]))
            for i, person in enumerate(tracked):
                if result.presence[i] >= self.presence:
                    self._update(person, result, i, camera, t)
                    seen.add(person.track_id)
        if detect or self.lost_last_frame:
            seen |= self._new_faces(image, body_faces, room, camera, t, new_id)
        return self._publish(seen)

    def _new_faces(self, image: np.ndarray, body_faces: np.ndarray, room: int, camera: CameraIntrinsics, t: float,
                   new_id: Callable[[], int]) -> set[int]:
        """Ids of the faces found (new, or lost ones found again) among detections no body or track has."""
        height, width = image.shape[:2]
        whole = roi.transform(np.array([[width / 2, height / 2, width, height, 0.0]]), 1.0)
        found = self.detector(image, whole, self.detection_score)
        known = np.array([p.roi for p in self.people if p.roi is not None]).reshape(-1, 5)
        fresh = [crop for crop, centre in zip(face_crops(found), found.centres)
                 if not (len(body_faces) and roi.contains(body_faces, centre).any())
                 and not (len(known) and roi.contains(known, centre).any())]
        if not fresh:
            return set()
        first = self.landmarker(image, np.stack(fresh))
        keep = np.flatnonzero(first.presence >= self.presence)
        if not keep.size:
            return set()
        # One more pass on the crop the landmarks define (the crop the mesh was trained on).
        again = self.landmarker(image, roi.face_from_landmarks(first.pixels[keep]))
        found_ids: set[int] = set()
        for j, i in enumerate(keep):
            result, row = (again, j) if again.presence[j] >= self.presence else (first, i)
            nose = result.pixels[row, NOSE_TIP]
            if any(p.track_id in found_ids and roi.contains(p.roi[None], nose)[0] for p in self.people):
                continue   # two detections of one face
            person = next((p for p in self.people if p.roi is None and p.track_id not in found_ids
                           and roi.contains(p.last_roi[None], nose)[0]), None)
            if person is None:
                if len(self.people) >= room:
                    continue
                person = FacePerson(new_id(), None, np.empty(0), np.empty(0), np.empty(0))
                self.people.append(person)
            self._update(person, result, row, camera, t)
            found_ids.add(person.track_id)
        return found_ids

    def _update(self, person: FacePerson, result, i: int, camera: CameraIntrinsics, t: float) -> None:
        pixels, depth = result.pixels[i].astype(np.float64), result.depth[i]
        a, b = EYE_CORNERS
        span_px = float(np.linalg.norm([*(pixels[a] - pixels[b]), depth[a] - depth[b]]))
        points = np.full((len(pixels), 3), np.nan)
        if span_px > 1.0:
            points = lift.back_project(pixels, depth, NOSE_TIP, camera.fx * EYE_SPAN_M / span_px, camera)
        crop = roi.face_from_landmarks(pixels[None])[0]
        if self.one_euro.enabled:
            if person.filters is None:
                c = self.one_euro
                person.filters = KeypointFilter(c.min_cutoff, c.beta, c.d_cutoff)
            pixels = person.filters.pixels(pixels, float(crop[roi.W]), t)
            points = person.filters.points(points, t)
        person.roi, person.last_roi, person.missed = crop, crop, 0
        person.pixels, person.points = pixels, points
        person.confidence = np.full(len(pixels), float(result.presence[i]))

    def _publish(self, seen: set[int]) -> list[PersonPose]:
        self.lost_last_frame = False
        poses = []
        for person in self.people:
            observed = person.track_id in seen
            if not observed:
                self.lost_last_frame |= person.roi is not None
                person.roi, person.filters, person.missed = None, None, person.missed + 1
                person.confidence = person.confidence * self.gap_fill.confidence_decay
            if person.missed <= self.gap_fill.max_frames:
                poses.append(_pose(person, observed))
        self.people = [p for p in self.people if p.missed <= self.gap_fill.max_frames]
        return poses


def _pose(person: FacePerson, observed: bool) -> PersonPose:
    pixels, points, confidence = empty_keypoints()
    sl = PARTS[Part.FACE].slice
    pixels[sl], points[sl], confidence[sl] = person.pixels, person.points, person.confidence
    box = np.concatenate([person.pixels.min(axis=0), person.pixels.max(axis=0)]).astype(np.float32)
    return PersonPose(track_id=person.track_id, score=float(person.confidence[0]), box=box, pixels=pixels,
                      points=points, confidence=confidence,
                      present=frozenset({Part.FACE}) if observed else frozenset())
