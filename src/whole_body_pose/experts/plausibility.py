"""Plausibility of a body before it is published: a collapsed skeleton must not drive an arm.

When a person turns sideways the body model can fold both arms onto the torso axis and squeeze the
shoulders into a line; such a body comes out with its usual visibilities.  Each rule below is a
ratio of metric lengths of the body model's world landmarks (hip-centred, metres), so it does not
depend on distance or view; the limits come from measurements on real footage
(bench/plausibility.py, README "Plausibility").  An arm that breaks a rule is published with its
keypoints' confidence lowered to `low_confidence` (the retargeting node holds an arm whose
keypoints are below its `min_confidence`) and counted in the node's diagnostics:
  - collapsed arm: elbow and wrist both within `min_arm_axis` torso lengths of the torso axis, and
    the arm no longer than `max_collapsed_arm` torso lengths (folded onto the axis);
  - shoulders: shoulder width against torso length, or against head width (ear to ear), outside
    [min, max]: the whole upper body is implausible, both arms are marked;
  - swapped: left and right shoulders each closer (in pixels) to the other side's last position
    than to their own: both arms are marked for that frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teleop_common.layout import BODY, HAND_ON_BODY, PARTS, Part

LEFT, RIGHT = "left", "right"
# Body keypoints of each arm (shoulder, elbow, wrist, pinky, index, thumb) and the hand part it holds.
ARM_POINTS = {side: tuple(BODY[f"{side}_{name}"] for name in ("shoulder", "elbow", "wrist", "pinky", "index",
                                                                "thumb")) for side in (LEFT, RIGHT)}
ARM_HAND = {LEFT: Part.LEFT_HAND, RIGHT: Part.RIGHT_HAND}
assert all(ARM_POINTS[side][2] == HAND_ON_BODY[ARM_HAND[side]][0] for side in (LEFT, RIGHT))
_LS, _RS, _LH, _RH = BODY["left_shoulder"], BODY["right_shoulder"], BODY["left_hip"], BODY["right_hip"]
_LEAR, _REAR = BODY["left_ear"], BODY["right_ear"]


@dataclass(frozen=True)
class Measures:
    """Ratios of one body observation (world landmarks, metres)."""

    shoulder_torso: float              # shoulder width / torso length (mid-shoulder to mid-hip)
    shoulder_head: float               # shoulder width / ear-to-ear width
    arm_axis: dict[str, float]         # per side: max distance of elbow and wrist from the torso axis / torso
    arm_length: dict[str, float]       # per side: (upper arm + forearm) / torso


def measure(world: np.ndarray) -> Measures:
    """The ratios of one body's (33, 3) world landmarks."""
    mid_shoulder = 0.5 * (world[_LS] + world[_RS])
    mid_hip = 0.5 * (world[_LH] + world[_RH])
    axis = mid_shoulder - mid_hip
    torso = max(float(np.linalg.norm(axis)), 1e-6)
    unit = axis / torso
    shoulders = float(np.linalg.norm(world[_LS] - world[_RS]))
    head = max(float(np.linalg.norm(world[_LEAR] - world[_REAR])), 1e-6)

    def off_axis(point: np.ndarray) -> float:
        rel = point - mid_hip
        return float(np.linalg.norm(rel - (rel @ unit) * unit))

    arm_axis, arm_length = {}, {}
    for side, (shoulder, elbow, wrist, *_) in ARM_POINTS.items():
        arm_axis[side] = max(off_axis(world[elbow]), off_axis(world[wrist])) / torso
        arm_length[side] = float(np.linalg.norm(world[elbow] - world[shoulder])
                                 + np.linalg.norm(world[wrist] - world[elbow])) / torso
    return Measures(shoulders / torso, shoulders / head, arm_axis, arm_length)


def swapped(pixels: np.ndarray, previous: np.ndarray | None) -> bool:
    """Whether left and right shoulders (pixels, (33, 2)) traded places since `previous` (the last frame's)."""
    if previous is None:
        return False
    left, right = pixels[_LS], pixels[_RS]
    last_left, last_right = previous[_LS], previous[_RS]
    same = np.linalg.norm(left - last_left) + np.linalg.norm(right - last_right)
    crossed = np.linalg.norm(left - last_right) + np.linalg.norm(right - last_left)
    return bool(crossed < same)


def implausible_arms(m: Measures, swap: bool, config) -> dict[str, str]:
    """Side -> the rule it breaks (PlausibilityConfig limits); sides not listed are plausible."""
    out: dict[str, str] = {}
    if swap:
        return {LEFT: "swapped", RIGHT: "swapped"}
    if not config.min_shoulder_torso <= m.shoulder_torso <= config.max_shoulder_torso:
        return {LEFT: "shoulder_torso", RIGHT: "shoulder_torso"}
    if not config.min_shoulder_head <= m.shoulder_head <= config.max_shoulder_head:
        return {LEFT: "shoulder_head", RIGHT: "shoulder_head"}
    for side in (LEFT, RIGHT):
        if m.arm_axis[side] < config.min_arm_axis and m.arm_length[side] < config.max_collapsed_arm:
            out[side] = "collapsed_arm"
    return out


def arm_indices(side: str) -> np.ndarray:
    """Layout indices whose confidence an implausible arm lowers: its body arm points and its hand."""
    hand = PARTS[ARM_HAND[side]].slice
    return np.concatenate([np.array(ARM_POINTS[side]), np.arange(hand.start, hand.stop)])
