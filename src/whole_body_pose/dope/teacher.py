"""The teachers: our expert pipeline, run frame by frame for pseudo ground truth."""
from __future__ import annotations

import dataclasses

from whole_body_pose.dope.pseudo_gt import Expert


def pipeline_teacher(config_path: str | None = None) -> Expert:
    """The experts' estimator (a pose node parameter file, or the defaults) as a pseudo-GT source.

    Every frame is treated as an observation of its own: the person detector runs on every frame
    and its answer is used in that frame (no second thread, whose detections apply a frame later), the
    temporal filter is off (no lag or smoothing baked into the targets) and missed parts are not held
    (a held part is not `present`, and only present parts become training instances).
    """
    from teleop_common.config import load
    from whole_body_pose.config import PoseNodeConfig
    from whole_body_pose.pipeline import build_estimator

    config = load(PoseNodeConfig, config_path) if config_path else PoseNodeConfig()
    if config.estimator != "experts":
        raise ValueError(f"the teachers are the part experts: choose estimator 'experts', not {config.estimator!r}")
    config = dataclasses.replace(config, detect_every_n_frames=1, overlap_parts=False,
                                 one_euro=dataclasses.replace(config.one_euro, enabled=False),
                                 gap_fill=dataclasses.replace(config.gap_fill, max_frames=0))
    estimator = build_estimator(config)
    return lambda rgb, index: estimator.process(rgb, index, "camera", None)
