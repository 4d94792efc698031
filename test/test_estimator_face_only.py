"""Face-only people (issue 24) on real footage: close-up faces that no body covers are people with a
face, no body and a stable id; a face a body covers is that body's, never a second person."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import MEDIA as CACHE_MEDIA
from conftest import REPO

from teleop_common.frame_sources import VideoFileSource, rgb_frames
from teleop_common.layout import Part
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.experts.face_only import EYE_CORNERS, NOSE_TIP
from whole_body_pose.pipeline import build_estimator

MEDIA = REPO.parent / "shared" / "media"
pytestmark = pytest.mark.skipif(not MEDIA.is_dir(), reason=f"development clips not found at {MEDIA}")
HEAD_TURNS = "two_people_side_by_side_head_turns__intel.gif"


def _frames(path, count: int | None = None) -> list[np.ndarray]:
    out = []
    for i, (_, rgb) in enumerate(rgb_frames(VideoFileSource(str(path)))):
        if count is not None and i >= count:
            break
        out.append(rgb)
    return out


def _face_only(frame) -> list:
    return [p for p in frame.poses if Part.FACE in p.present and Part.BODY not in p.present]


def _check_metric_face(pose) -> None:
    points = pose.part_points(Part.FACE)
    assert np.isfinite(points).all() and 0.2 < np.median(points[:, 2]) < 3.0, np.median(points[:, 2])
    span = np.linalg.norm(points[EYE_CORNERS[0]] - points[EYE_CORNERS[1]])
    assert 0.06 < span < 0.12, span   # outer eye corners of a real face
    assert np.isnan(pose.part_points(Part.BODY)).all() and not pose.part_confidence(Part.BODY).any()


def test_face_whose_body_is_missed_is_a_face_only_person_until_a_body_covers_it():
    """Woman and man side by side: the person detector finds only the man at first; her face is a
    face-only person with one id, and once her body is found it carries her face (no duplicate).
    The whole-frame detector only: the tiled one finds her body at once (test_estimator_recall.py)."""
    estimator = build_estimator(PoseNodeConfig(max_people=4, detector_tiles=1))
    fps = 12.0
    frames = [estimator.process(rgb, round(i * 1e9 / fps), "camera", None)
              for i, rgb in enumerate(_frames(MEDIA / HEAD_TURNS))]
    width = 480
    face_only = [_face_only(f) for f in frames]
    assert face_only[0], "no face-only person on the first frame"
    woman = [p for people in face_only for p in people]
    assert all(p.part_pixels(Part.FACE)[NOSE_TIP, 0] < width / 2 for p in woman)   # her face, on the left
    ids = Counter(p.track_id for p in woman)
    assert len(ids) == 1, ids   # one stable id while she is face-only
    for pose in woman:
        _check_metric_face(pose)
    for frame in frames:   # never her face twice: no face-only nose inside a body's box
        bodies = [p for p in frame.poses if Part.BODY in p.present]
        for face in _face_only(frame):
            nose = face.part_pixels(Part.FACE)[NOSE_TIP]
            assert not any((b.box[:2] <= nose).all() and (nose <= b.box[2:]).all() for b in bodies)
    later = [f for f in frames[len(frames) // 2:]]
    assert all(len([p for p in f.poses if Part.BODY in p.present]) == 2 and not _face_only(f) for f in later)


def _close_up(estimator, rgb: np.ndarray) -> np.ndarray:
    """A 256 x 256 close-up of the face the estimator finds in `rgb` (the face fills the image)."""
    import cv2
    estimator.reset()
    pose = next(p for p in estimator.process(rgb, 0, "camera", None).poses if Part.FACE in p.present)
    pixels = pose.part_pixels(Part.FACE)
    centre, half = 0.5 * (pixels.min(0) + pixels.max(0)), 0.7 * (pixels.max(0) - pixels.min(0)).max()
    x0, y0 = np.maximum(centre - half, 0).astype(int)
    x1, y1 = (centre + half).astype(int)
    return cv2.resize(rgb[y0:y1, x0:x1], (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def two_faces() -> np.ndarray:
    """Two real close-up faces side by side (Megamind frame 60, the thumbs-up clip's woman frame 10)."""
    estimator = build_estimator(PoseNodeConfig(face_only=False))
    man = _close_up(estimator, _frames(CACHE_MEDIA / "Megamind.avi", 61)[60])
    woman = _close_up(estimator, _frames(MEDIA / "woman_upper_body_raises_arm_thumbs_up__mediapipe-samples.mp4",
                                         11)[10])
    return np.ascontiguousarray(np.concatenate([man, woman], axis=1))


def _faces(frame) -> list:
    return [p for p in frame.poses if Part.FACE in p.present]


def test_two_close_up_faces_are_two_people_with_stable_ids(two_faces):
    estimator = build_estimator(PoseNodeConfig())
    # From the second frame: on the first, the person detector's two detections of the left face
    # both open body tracks (the body side's duplicate check resolves them the next frame).
    frames = [estimator.process(two_faces, i * 33_000_000, "camera", None) for i in range(5)][1:]
    for frame in frames:
        faces = _faces(frame)
        noses = sorted(p.part_pixels(Part.FACE)[NOSE_TIP, 0] for p in faces)
        assert len(faces) == 2 and noses[0] < 256 < noses[1], noses   # one face in each half
    assert all({p.track_id for p in _faces(f)} == {p.track_id for p in _faces(frames[0])} for f in frames)
    face_only = _face_only(frames[-1])
    assert face_only
    for pose in face_only:
        _check_metric_face(pose)


def test_without_face_only_one_of_the_two_close_up_faces_is_missed(two_faces):
    """What the face-only rule adds: the body-driven face search alone finds one face (the issue's report)."""
    estimator = build_estimator(PoseNodeConfig(face_only=False))
    frames = [estimator.process(two_faces, i * 33_000_000, "camera", None) for i in range(5)]
    halves = [{bool(p.part_pixels(Part.FACE)[NOSE_TIP, 0] > 256) for p in _faces(f)} for f in frames]
    assert all(len(h) < 2 for h in halves), halves
