"""Multi-person whole-body estimator built from MediaPipe's part experts (pure core, no ROS).

Per frame: (when schedule.py says: at once when something is lost, else every
`detect_every_n_frames`, palms and people on consecutive frames) detect palms and people and open
tracks for newcomers (newcomers.py) -> body landmarks of every tracked person in one batch
(people.py) -> hands and faces of everyone in batched rounds (parts.py) -> one whole-body pose per
person in metric 3D, filtered, with short gaps held (assemble.py), phantom bodies dropped and each
arm checked for plausibility before it is published (checks.py); hands and faces no body holds
become hand-only and face-only people.  Crops carry over between frames, which is what makes the
detector unnecessary on most frames, and lets the tracked hands and faces run on a second thread
while the body model runs (`overlap_parts`, prefetch.py); that thread also runs the searches whose
answer can wait a frame (background.py).
"""
from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from teleop_common.camera import CameraIntrinsics, intrinsics_for
from teleop_common.layout import HAND_ON_BODY, Part
from teleop_common.pose import PoseFrame
from teleop_common.timing import StageClock
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.experts import roi
from whole_body_pose.experts.assemble import Assembler
from whole_body_pose.experts.background import BackgroundDetector
from whole_body_pose.experts.checks import BodyChecks
from whole_body_pose.experts.face_only import FaceOnlyTracker
from whole_body_pose.experts.hand_only import HandOnlyTracker
from whole_body_pose.experts.loading import Experts, load_experts
from whole_body_pose.experts.newcomers import NewcomerSearch
from whole_body_pose.experts.parts import FaceStage, HandStage, SearchBudget
from whole_body_pose.experts.people import People
from whole_body_pose.experts.prefetch import PrefetchingLandmarker
from whole_body_pose.experts.schedule import Searches
from whole_body_pose.experts.tracks import Track
from whole_body_pose.pipeline import check_image

BODY_FACE_POINTS = 11  # the body model's first 11 landmarks are the face's (nose, eyes, ears, mouth)
HANDS = (Part.LEFT_HAND, Part.RIGHT_HAND)


def build_part_experts(config: PoseNodeConfig) -> PartExpertsEstimator:
    return PartExpertsEstimator(config, load_experts(config))


class PartExpertsEstimator:
    def __init__(self, config: PoseNodeConfig, experts: Experts) -> None:
        self.config = config
        self.experts = experts
        # A second thread landmarks the tracked hands and faces while the body model runs (prefetch.py)
        # and runs the periodic look for newcomers in the background (background.py).
        pool = ThreadPoolExecutor(1, thread_name_prefix="parts") if config.overlap_parts else None
        self._hand_tracker = PrefetchingLandmarker(experts.hand_tracker, pool)
        self._face = PrefetchingLandmarker(experts.face, pool)
        palms = BackgroundDetector(experts.palm, pool)
        hand_only = config.hand_only and config.enable_hands
        self.searches = NewcomerSearch(BackgroundDetector(experts.detector, pool), palms, config, hand_only)
        self.people = People(experts.body, config.max_people, config.body_presence, config.gap_fill.max_frames)
        search = self._hand_tracker if experts.hand_tracker is experts.hand else experts.hand
        self.hands = HandStage(search, self._hand_tracker, palms if config.palm_recovery else None,
                               config.hand_presence, config.palm_score, config.wrist_visibility, config.refine_passes,
                               config.min_part_px, config.part_retry_frames)
        self.faces = FaceStage(self._face, config.face_presence, config.refine_passes, config.min_part_px,
                               config.part_retry_frames)
        self.assembler = Assembler(config.one_euro, config.gap_fill)
        self.checks = BodyChecks(config.plausibility)
        self.hand_only = (HandOnlyTracker(experts.hand, experts.hand_tracker, config.hand_presence,
                                          config.refine_passes, config.one_euro, config.gap_fill)
                          if hand_only else None)
        self.face_only = (FaceOnlyTracker(experts.face_detector, experts.face, config.face_detection_score,
                                          config.face_presence, config.one_euro, config.gap_fill)
                          if experts.face_detector is not None else None)
        self.reset()

    @property
    def stats(self) -> Counter[str]:
        """Phantom bodies and implausible arms since the last reset, for diagnostics."""
        return self.checks.stats

    def reset(self) -> None:
        self.searches.reset()
        self.people.reset()
        self.checks.reset()
        self._frames = 0  # frames processed (face mesh cadence)
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
        t = stamp_ns * 1e-9
        self.people.begin_frame()
        self.checks.begin_frame()
        face_due = self._frames % self.config.face_every_n_frames == 0
        self._frames += 1
        self._hand_tracker.start(image, self.people.part_crops(tuple(HAND_ON_BODY) if self.config.enable_hands else ()))
        self._face.start(image, self.people.part_crops((Part.FACE,) if self.config.enable_face and face_due else ()))
        searches = self._detect(image)
        # A periodic look for newcomers is a search too: that frame's hands and faces get their tracked
        # round only (their search continues next frame), so the two costs never stack in one frame.
        budget = SearchBudget(0 if searches.periodic else self.config.part_search_calls)
        clock.lap("detect")
        self.people.landmark(image, t)
        if self.config.reject_phantoms:
            self.checks.reject_phantoms(self.people, self._loose_hands(), (width, height))
        clock.lap("body")

        observed = self.people.observed()
        hands = self.hands(image, observed, budget) if observed and self.config.enable_hands else {}
        self._hand_tracker.finish()  # unused prefetch: the tracker is free for the hand-only people
        clock.lap("hands")
        faces = self.faces(image, observed, budget) if observed and self.config.enable_face and face_due else {}
        self._face.finish()
        skipped = frozenset() if face_due else frozenset({Part.FACE})  # not run this frame: held, not missed
        clock.lap("face")
        poses = []
        for i, track in enumerate(observed):
            track_hands = {part: hands[(i, part)] for part in HANDS if (i, part) in hands}
            pose = self.assembler.observed(track, track_hands, faces.get((i, Part.FACE)), cam, t, (width, height),
                                           skipped)
            poses.append(self.checks.plausible(track, pose))
        poses.extend(self.people.held(self.assembler))
        if self.hand_only is not None:
            body_hands = body_hand_crops(observed, hands, self.config.wrist_visibility)
            poses.extend(self.hand_only(image, self.searches.palms, body_hands, cam, t, self.people.new_id))
            clock.lap("hands")  # hand-only people count as hand work
        if self.face_only is not None:
            poses.extend(self.face_only(image, searches.people, body_face_crops(observed, faces),
                                        self.config.max_people - len(observed), cam, t, self.people.new_id))
            clock.lap("face")
        poses.sort(key=lambda p: p.track_id)
        clock.lap("temporal")
        return PoseFrame(stamp_ns=stamp_ns, frame_id=frame_id, poses=poses,
                         latency_ms=(time.perf_counter() - start) * 1e3, stage_ms=clock.stages)

    def _detect(self, image: np.ndarray) -> Searches:
        """The look for newcomers: the background runs of the frame before, then this frame's searches."""
        self.people.open(self.searches.begin_frame())
        hand_only = self.hand_only
        searches, found = self.searches(image, self.people.live(), hand_only.live() if hand_only is not None else 0,
                                        self.people.lost_last_frame,
                                        hand_only is not None and hand_only.lost_last_frame,
                                        self.people.coasting())
        self.people.open(found)
        return searches

    def _loose_hands(self) -> np.ndarray:
        """Crops of the hands known this frame that belong to no body: hand-only hands and the whole-frame
        palms of this frame or the one before (a body's own hand crops are not used: a hand pushed at
        the camera may cover most of its owner)."""
        crops = [self.hand_only.crops()] if self.hand_only is not None else []
        palms = self.searches.recent_palms()
        if palms is not None and len(palms):
            crops.append(palms.hand_crops)
        return np.concatenate(crops) if crops else np.zeros((0, 5))


def body_hand_crops(observed: list[Track], hands: dict, wrist_visibility: float) -> np.ndarray:
    """Crops of the hands bodies hold this frame: found ones, else the crop at a visible wrist."""
    crops = []
    for i, track in enumerate(observed):
        for part, (wrist, index, pinky) in HAND_ON_BODY.items():
            if (i, part) in hands:
                crops.append(hands[(i, part)].roi)
            elif track.body.visibility[wrist] >= wrist_visibility:
                px = track.body.pixels
                crops.append(roi.hand_from_body(px[None, wrist], px[None, index], px[None, pinky])[0])
    return np.array(crops).reshape(-1, 5)


def body_face_crops(observed: list[Track], faces: dict) -> np.ndarray:
    """Face crops of the bodies seen this frame: their face found, else the crop of their face points."""
    crops = [faces[(i, Part.FACE)].roi if (i, Part.FACE) in faces
             else roi.face_from_body(track.body.pixels[None, :BODY_FACE_POINTS])[0]
             for i, track in enumerate(observed)]
    return np.array(crops).reshape(-1, 5)
