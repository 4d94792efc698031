"""Shared post-processing of the network's outputs (torch or any ONNX runtime): merging per part."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from whole_body_pose.dope.merge import Detection, MergeSettings, merge_part
from whole_body_pose.dope.network import NetSpec
from whole_body_pose.dope.parts import PART_NAMES


def detections(outputs: Mapping[str, np.ndarray], spec: NetSpec, settings: Mapping[str, MergeSettings],
               image: int = 0) -> dict[str, list[Detection]]:
    """Merged detections per part of one image from the named outputs (network.OUTPUT_NAMES)."""
    return {part: merge_part(part, outputs["boxes"][image], outputs[f"{part}_scores"][image], outputs[f"{part}_labels"][image],
                             outputs[f"{part}_pose2d"][image], outputs[f"{part}_pose3d"][image],
                             spec.num_anchor_poses[part], settings[part])
            for part in PART_NAMES}
