"""The teachers: our expert pipeline, run frame by frame for pseudo ground truth."""
from __future__ import annotations

import dataclasses

import numpy as np

from teleop_common.pose import PoseFrame
from whole_body_pose.dope.pseudo_gt import Expert


def pipeline_teacher(config_path: str | None = None) -> Expert:
    """The experts' estimator (a pose node parameter file, or the defaults) as a pseudo-GT source.

    Every frame is an observation of its own: labelled frames are far apart (`video_step`) or
    unrelated images, and tracking across such gaps loses people (a body followed on a crop from 12
    frames ago fails while the detector counts it as tracked: Megamind frame 60 came out empty, a
    "nobody here" target). So the estimator is reset before each frame, its detector's answer applies
    in that frame, and parts are searched with the largest budget on one thread (no search left for
    a later frame). The reset also means no filter state (no lag or smoothing baked into the targets)
    and no held part (a held part is not `present`, and only present parts become training instances).
    """
    from teleop_common.config import load
    from whole_body_pose.config import MAX_PART_SEARCH_CALLS, PoseNodeConfig
    from whole_body_pose.pipeline import build_estimator

    config = load(PoseNodeConfig, config_path) if config_path else PoseNodeConfig()
    if config.estimator != "experts":
        raise ValueError(f"the teachers are the part experts: choose estimator 'experts', not {config.estimator!r}")
    config = dataclasses.replace(config, overlap_parts=False, part_search_calls=MAX_PART_SEARCH_CALLS)
    estimator = build_estimator(config)

    def label(rgb: np.ndarray, index: int) -> PoseFrame:
        estimator.reset()
        return estimator.process(rgb, index, "camera", None)

    return label
