"""The cascade's models, opened once per estimator with the configured runtimes."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.experts.face_only import FACE_DETECTOR_KEYPOINTS, FACE_DETECTOR_STRIDES
from whole_body_pose.experts.networks import (PALM_DETECTOR_STRIDES, POSE_DETECTOR_STRIDES, BodyLandmarker, Detector,
                                              FaceLandmarker, HandLandmarker)
from whole_body_pose.models import ModelStore
from whole_body_pose.runtime import model_format, open_session


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
