"""Multi-person whole-body estimator built from MediaPipe's part experts (pure core, no ROS).

Per frame: (when schedule.py says: at once when something is lost, else every
`detect_every_n_frames`, palms and people on consecutive frames) detect palms and people and open
tracks for newcomers -> body landmarks of every tracked person in one batch -> hands and faces of
everyone in batched rounds (parts.py) -> one whole-body pose per person in metric 3D, filtered,
with short gaps held (assemble.py), each arm checked for plausibility before it is published
(plausibility.py); hands and faces no body holds become hand-only and face-only people.  Crops
carry over between frames, which is what makes the detector unnecessary on most frames, and lets
the tracked hands and faces run on a second thread while the body model runs (`overlap_parts`,
prefetch.py); that thread also runs the searches whose answer can wait a frame (background.py).
"""
from __future__ import annotations

import dataclasses
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from teleop_common.camera import CameraIntrinsics, intrinsics_for
from teleop_common.layout import HAND_ON_BODY, Part
from teleop_common.pose import PersonPose, PoseFrame
from teleop_common.timing import StageClock
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.experts import roi
from whole_body_pose.experts.assemble import Assembler
from whole_body_pose.experts.background import BackgroundDetector
from whole_body_pose.experts.face_only import FACE_DETECTOR_KEYPOINTS, FACE_DETECTOR_STRIDES, FaceOnlyTracker
from whole_body_pose.experts.hand_only import HandOnlyTracker
from whole_body_pose.experts.networks import (PALM_DETECTOR_STRIDES, POSE_DETECTOR_STRIDES, BodyLandmarker, Detector,
                                     FaceLandmarker, HandLandmarker, ImageDetections)
from whole_body_pose.experts.parts import FaceStage, HandStage, SearchBudget
from whole_body_pose.experts.phantoms import phantom_reason
from whole_body_pose.experts.plausibility import Measures, arm_indices, implausible_arms, measure, swapped
from whole_body_pose.experts.prefetch import PrefetchingLandmarker
from whole_body_pose.experts.schedule import DetectionSchedule
from whole_body_pose.experts.tracks import REVIVE_FRAMES, Body, Track, associate, crowded, drifted, duplicates, tighten
from whole_body_pose.models import ModelStore
from whole_body_pose.pipeline import check_image
from whole_body_pose.runtime import model_format, open_session

TILE_OVERLAP = 1.25  # detector tiles are this much larger than an exact n x n split
BODY_FACE_POINTS = 11       # the body model's first 11 landmarks are the face's (nose, eyes, ears, mouth)
WHOLE_FRAME = "whole_frame"  # the background run of a periodic whole-frame detection


@dataclass
class Experts:
    detector: Detector
    body: BodyLandmarker
    hand: HandLandmarker          # hand searches from rough crops (full model)
    hand_tracker: HandLandmarker  # hands on crops from landmarks (`hand_tracking_model`; may be `hand`)
    face: FaceLandmarker
    palm: Detector
    face_detector: Detector | None = None  # whole-frame faces for face-only people (`face_only`)


def load_experts(config: PoseNodeConfig) -> Experts:
    """Open the five models with the configured runtime (sha256-checked by the model store)."""
    store = ModelStore(config.model_dir or None)
    options = config.runtime_options()

    def session(expert: str, model: str | None = None, threads: int | None = None):
        model = model or expert
        runtime = config.runtime_for(expert, model)
        opened = dataclasses.replace(options, threads=threads or options.threads)
        return open_session(runtime, store.file_for(model, model_format(runtime)), opened), store.info(model)

    # Overlapped with the body model (prefetch.py), the tracked hands and faces run on one thread.
    parts_threads = 1 if config.overlap_parts else None
    hand = HandLandmarker(*session("hand_landmark"))
    tracking = config.hand_tracking()
    return Experts(detector=Detector(*session("pose_detection"), POSE_DETECTOR_STRIDES, 4),
                   body=BodyLandmarker(*session("pose_landmark")),
                   hand=hand,
                   hand_tracker=(hand if tracking == "hand_landmark"
                                 else HandLandmarker(*session("hand_landmark", tracking, parts_threads))),
                   face=FaceLandmarker(*session("face_landmark", threads=parts_threads)),
                   palm=Detector(*session("palm_detection"), PALM_DETECTOR_STRIDES, 7),
                   face_detector=(Detector(*session("face_detection"), FACE_DETECTOR_STRIDES, FACE_DETECTOR_KEYPOINTS)
                                  if config.face_only and config.enable_face else None))


def build_part_experts(config: PoseNodeConfig) -> PartExpertsEstimator:
    return PartExpertsEstimator(config, load_experts(config))


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


class PartExpertsEstimator:
    def __init__(self, config: PoseNodeConfig, experts: Experts) -> None:
        self.config = config
        self.experts = experts
        # A second thread landmarks the tracked hands and faces while the body model runs (prefetch.py)
        # and runs the periodic look for newcomers in the background (background.py).
        pool = ThreadPoolExecutor(1, thread_name_prefix="parts") if config.overlap_parts else None
        self._hand_tracker = PrefetchingLandmarker(experts.hand_tracker, pool)
        self._face = PrefetchingLandmarker(experts.face, pool)
        self._people_detector = BackgroundDetector(experts.detector, pool)
        self._palm_detector = BackgroundDetector(experts.palm, pool)
        search = self._hand_tracker if experts.hand_tracker is experts.hand else experts.hand
        self.hands = HandStage(search, self._hand_tracker, self._palm_detector if config.palm_recovery else None,
                               config.hand_presence, config.palm_score, config.wrist_visibility, config.refine_passes,
                               config.min_part_px, config.part_retry_frames)
        self.faces = FaceStage(self._face, config.face_presence, config.refine_passes, config.min_part_px,
                               config.part_retry_frames)
        self.assembler = Assembler(config.one_euro, config.gap_fill)
        self.hand_only = (HandOnlyTracker(experts.hand, experts.hand_tracker, config.hand_presence,
                                          config.refine_passes, config.one_euro, config.gap_fill)
                          if config.hand_only and config.enable_hands else None)
        self.face_only = (FaceOnlyTracker(experts.face_detector, experts.face, config.face_detection_score,
                                          config.face_presence, config.one_euro, config.gap_fill)
                          if experts.face_detector is not None else None)
        self._next_id = 1              # never rewound, not even by reset(): an id names one person per run
        self.reset()

    def reset(self) -> None:
        self.stats: Counter[str] = Counter()  # rejections, for diagnostics
        self._people_detector.discard()
        self._palm_detector.discard()
        self._palms = None             # this frame's whole-frame palms (None: the palm detector did not run)
        self._last_frame_palms = None  # the frame before's, for the phantom check of the people frame after them
        self._tracks: list[Track] = []
        self._schedule = DetectionSchedule(self.config.max_people, self.config.detect_every_n_frames,
                                           self.hand_only is not None, self.config.reject_phantoms)
        self._lost_last_frame = False  # a track stopped coasting: look for its person at once
        self._frames = 0               # frames processed (face mesh cadence)
        self.measures: dict[int, tuple[Measures, bool]] = {}  # this frame's plausibility ratios per track id
        self._last_body: dict[int, tuple[int, np.ndarray]] = {}  # track id -> (frame, body pixels) last observed
        if self.hand_only is not None:
            self.hand_only.reset()
        if self.face_only is not None:
            self.face_only.reset()

    def process(self, image_rgb: np.ndarray, stamp_ns: int, frame_id: str,
                camera: CameraIntrinsics | None) -> PoseFrame:
        start = time.perf_counter()
        clock = StageClock(start)
        image = check_image(image_rgb)
        height, width = image.shape[:2]
        cam = intrinsics_for(camera, width, height, self.config.default_fov_deg)
        for track in self._tracks:
            track.body = None
        self.measures = {}
        self._last_body = {k: v for k, v in self._last_body.items() if v[0] >= self._frames - 1}
        face_due = self._frames % self.config.face_every_n_frames == 0
        self._frames += 1
        self._prefetch_tracked_parts(image, face_due)
        self._last_frame_palms, self._palms = self._palms, None
        self._apply_background_detections()

        live = sum(track.roi is not None for track in self._tracks)
        hands_live = self.hand_only.live() if self.hand_only is not None else 0
        searches = self._schedule.due(live, hands_live, self._lost_last_frame,
                                      self.hand_only is not None and self.hand_only.lost_last_frame)
        if searches.palms:
            self._detect_palms(image, searches.periodic)
        if searches.people:
            self._detect_people(image, searches.periodic)
        # A periodic look for newcomers is a search too: that frame's hands and faces get their tracked
        # round only (their search continues next frame), so the two costs never stack in one frame.
        budget = SearchBudget(0 if searches.periodic else self.config.part_search_calls)
        clock.lap("detect")
        t = stamp_ns * 1e-9
        self._bodies(image, t)
        for duplicate in duplicates(self._tracks):
            self._tracks.remove(duplicate)
        if self.config.reject_phantoms:
            self._reject_phantoms((width, height))
        clock.lap("body")

        observed = [track for track in self._tracks if track.body is not None]
        hands = self.hands(image, observed, budget) if observed and self.config.enable_hands else {}
        self._hand_tracker.finish()  # unused prefetch: the tracker is free for the hand-only people
        clock.lap("hands")
        faces = self.faces(image, observed, budget) if observed and self.config.enable_face and face_due else {}
        self._face.finish()
        skipped = frozenset() if face_due else frozenset({Part.FACE})  # not run this frame: held, not missed
        clock.lap("face")
        poses = []
        for i, track in enumerate(observed):
            track_hands = {part: hands[(i, part)] for part in (Part.LEFT_HAND, Part.RIGHT_HAND) if (i, part) in hands}
            face = faces.get((i, Part.FACE))
            pose = self.assembler.observed(track, track_hands, face, cam, t, (width, height), skipped)
            poses.append(self._plausible(track, pose) if self.config.plausibility.enabled else pose)
        for track in [track for track in self._tracks if track.body is None]:
            pose = self.assembler.held(track)
            if pose is not None:
                poses.append(pose)
            elif track.last_box is None or track.missed > self.config.gap_fill.max_frames + REVIVE_FRAMES:
                self._tracks.remove(track)  # no longer revivable under its id
        if self.hand_only is not None:
            poses.extend(self.hand_only(image, self._palms, self._body_hands(observed, hands), cam, t, self._new_id))
            clock.lap("hands")  # hand-only people count as hand work
        if self.face_only is not None:
            poses.extend(self.face_only(image, searches.people, self._body_faces(observed, faces),
                                        self.config.max_people - len(observed), cam, t, self._new_id))
            clock.lap("face")
        poses.sort(key=lambda p: p.track_id)
        clock.lap("temporal")
        return PoseFrame(stamp_ns=stamp_ns, frame_id=frame_id, poses=poses,
                         latency_ms=(time.perf_counter() - start) * 1e3, stage_ms=clock.stages)

    def _prefetch_tracked_parts(self, image: np.ndarray, face_due: bool) -> None:
        """Start the tracked crops of the live bodies' hands (and faces, when due) on the parts thread."""
        live = [track for track in self._tracks if track.roi is not None]

        def tracked(parts: tuple[Part, ...], enabled: bool) -> np.ndarray:
            crops = [track.parts[part].roi for track in live for part in parts
                     if enabled and track.parts[part].roi is not None]
            return np.array(crops).reshape(-1, 5)

        self._hand_tracker.start(image, tracked(tuple(HAND_ON_BODY), self.config.enable_hands))
        self._face.start(image, tracked((Part.FACE,), self.config.enable_face and face_due))

    def _apply_background_detections(self) -> None:
        """The periodic detector runs the frame before started: its palms count as this frame's."""
        palms = self._palm_detector.take(WHOLE_FRAME)
        if palms is not None:
            self._palms = palms
        people = self._people_detector.take(WHOLE_FRAME)
        if people is not None:
            self._open_tracks(people)

    def _detect_palms(self, image: np.ndarray, periodic: bool) -> None:
        height, width = image.shape[:2]
        regions = detector_regions(width, height, 1)
        if not (periodic and self._palm_detector.start(WHOLE_FRAME, image, regions, self.config.palm_score)):
            self._palms = self._palm_detector(image, regions, self.config.palm_score)

    def _detect_people(self, image: np.ndarray, periodic: bool) -> None:
        height, width = image.shape[:2]
        regions = detector_regions(width, height, self.config.detector_tiles)
        if not (periodic and self._people_detector.start(WHOLE_FRAME, image, regions, self.config.detection_score)):
            self._open_tracks(self._people_detector(image, regions, self.config.detection_score))

    def _open_tracks(self, found: ImageDetections) -> None:
        """Tracks for the detected people no track follows yet."""
        if not len(found):
            return
        new, self._next_id = associate(self._tracks, found.keypoints, found.scores,
                                       self.config.max_people, self._next_id)
        self._tracks.extend(new)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _body_hands(self, observed: list[Track], hands: dict) -> np.ndarray:
        """Crops of the hands bodies hold this frame: found ones, else the crop at a visible wrist."""
        crops = []
        for i, track in enumerate(observed):
            for part, (wrist, index, pinky) in HAND_ON_BODY.items():
                if (i, part) in hands:
                    crops.append(hands[(i, part)].roi)
                elif track.body.visibility[wrist] >= self.config.wrist_visibility:
                    px = track.body.pixels
                    crops.append(roi.hand_from_body(px[None, wrist], px[None, index], px[None, pinky])[0])
        return np.array(crops).reshape(-1, 5)

    def _plausible(self, track: Track, pose: PersonPose) -> PersonPose:
        """The pose with each implausible arm's confidence capped (plausibility.py); counted in stats.
        The track's held output is capped too, so held frames of a collapsed arm cannot drive either."""
        rules = self.config.plausibility
        body = track.body
        frame, last = self._last_body.get(track.track_id, (-1, None))
        swap = rules.check_swap and frame == self._frames - 1 and swapped(body.pixels, last)
        self._last_body[track.track_id] = (self._frames, body.pixels)
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

    @staticmethod
    def _body_faces(observed: list[Track], faces: dict) -> np.ndarray:
        """Face crops of the bodies seen this frame: their face found, else the crop of their face points."""
        crops = [faces[(i, Part.FACE)].roi if (i, Part.FACE) in faces
                 else roi.face_from_body(track.body.pixels[None, :BODY_FACE_POINTS])[0]
                 for i, track in enumerate(observed)]
        return np.array(crops).reshape(-1, 5)

    def _hand_crops(self) -> np.ndarray:
        """Crops of the hands known this frame that belong to no body: hand-only hands and the whole-frame
        palms of this frame or the one before (a body's own hand crops are not used: a hand pushed at
        the camera may cover most of its owner)."""
        crops = [self.hand_only.crops()] if self.hand_only is not None else []
        palms = self._palms if self._palms is not None else self._last_frame_palms
        if palms is not None and len(palms):
            crops.append(palms.hand_crops)
        return np.concatenate(crops) if crops else np.zeros((0, 5))

    def _reject_phantoms(self, image_size: tuple[int, int]) -> None:
        hands = self._hand_crops()
        for track in [track for track in self._tracks if track.body is not None]:
            reason = phantom_reason(track.body.pixels, track.body.visibility, hands, image_size)
            if reason is not None:
                self._tracks.remove(track)
                self.stats["phantom_bodies"] += 1
                self.stats[f"phantom_bodies.{reason}"] += 1

    def _bodies(self, image: np.ndarray, t: float) -> None:
        live = [track for track in self._tracks if track.roi is not None]
        lost = [track for track in self._tracks if track.roi is None]
        for track in lost:
            track.missed += 1
        self._lost_last_frame = False
        if not live:
            return
        near = crowded(live)
        crops = np.stack([tighten(track.roi, track.shoulders) if near[i] else track.roi
                          for i, track in enumerate(live)])
        result = self.experts.body(image, crops)
        for i, track in enumerate(live):
            body = Body.from_batch(result, i)
            if result.presence[i] >= self.config.body_presence and not (near[i] and drifted(track, body)):
                track.follow(body, result.auxiliary[i], t)
            else:
                track.coast(self.config.gap_fill.max_frames)
                self._lost_last_frame |= track.roi is None  # coasting gave up: ask the detector
