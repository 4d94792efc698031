"""Operator arm and hand -> end-effector target in the robot's world frame.

Position, `mapping.source: arm`: the wrist relative to the shoulder (camera frame, so the camera
translation cancels), optionally mirrored, rotated by the mounting, scaled by robot reach / operator
arm length and added to the arm's anchor.  `source: hand` (a camera that sees only the hands): the
hand's wrist relative to where it was at engagement, scaled by `hand_scale`, added to where the end
effector was then; no body keypoint is read.  Orientation (both): a hand frame from wrist,
index_mcp and pinky_mcp.  Bad keypoints raise InputInvalid: the caller holds the arm instead of guessing.
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

import numpy as np
from mink import SO3

from pose_retarget.config import InputConfig, MappingConfig
from pose_retarget.robot import Arm, Robot
from teleop_common.layout import BODY, Part, index
from teleop_common.pose import PersonPose

HAND_PARTS = {"left": Part.LEFT_HAND, "right": Part.RIGHT_HAND}
MIRROR = np.diag([-1.0, 1.0, 1.0])   # reflection of the camera's left-right axis
OTHER_SIDE = {"left": "right", "right": "left"}
_ARM_KEYPOINTS = ("shoulder", "elbow", "wrist")
_HAND_KEYPOINTS = ("wrist", "index_mcp", "pinky_mcp", "middle_mcp", "thumb_tip", "index_tip")
# Keypoints one arm needs, read in one indexing operation: body arm, then hand.
KEYPOINTS = {side: np.array([BODY[f"{side}_{name}"] for name in _ARM_KEYPOINTS]
                            + [index(HAND_PARTS[side], name) for name in _HAND_KEYPOINTS])
             for side in ("left", "right")}


class InputInvalid(ValueError):
    """Keypoints that cannot drive an arm (missing, low confidence, NaN, implausible)."""


@dataclass
class ArmTarget:
    position: np.ndarray   # (3,) world frame
    rotation: np.ndarray   # (3, 3) world frame
    pinch_ratio: float     # thumb-tip to index-tip distance / hand size
    clamped: bool          # the target was moved back into the arm's workspace


def rpy_matrix(rpy: tuple[float, ...]) -> np.ndarray:
    return SO3.from_rpy_radians(*rpy).as_matrix()


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross costs ~20 us of axis handling per call)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _norm(v: np.ndarray) -> float:
    return math.sqrt(float(v @ v))


def hand_frame(wrist: np.ndarray, index_mcp: np.ndarray, pinky_mcp: np.ndarray, side: str) -> np.ndarray:
    """x along the fingers, z out of the back of the hand, y = z x x (for either hand)."""
    x = 0.5 * (index_mcp + pinky_mcp) - wrist
    across = index_mcp - pinky_mcp
    z = _cross(x, across) * (1.0 if side == "right" else -1.0)
    x_norm, z_norm = _norm(x), _norm(z)
    if z_norm <= 0.05 * x_norm * _norm(across) or x_norm < 1e-4:     # palm axes within 3 degrees
        raise InputInvalid("degenerate hand (wrist, index and pinky are collinear)")
    x, z = x / x_norm, z / z_norm
    return np.column_stack([x, _cross(z, x), z])


class ArmLength:
    """Running median of one operator arm's length (shoulder-elbow-wrist), robust to outliers."""

    def __init__(self, window: int) -> None:
        self._values: deque[float] = deque(maxlen=window)

    def update(self, length: float) -> float:
        self._values.append(length)
        return statistics.median(self._values)

    def clear(self) -> None:
        self._values.clear()



def driving_side(arm: Arm, mirror: bool) -> str:
    """The operator's side that drives `arm` (the other side when mirrored)."""
    return OTHER_SIDE[arm.config.operator_side] if mirror else arm.config.operator_side

class Mapper:
    """Maps one operator onto every arm of a robot."""

    def __init__(self, robot: Robot, mapping: MappingConfig, inputs: InputConfig) -> None:
        self.robot = robot
        self.inputs = inputs
        self.mirror = mapping.mirror
        self.source = mapping.source
        self.hand_scale = mapping.hand_scale
        self._origins: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # hand source: (wrist, end effector)
        self._mount = rpy_matrix(mapping.mounting_rpy)          # camera axes in the world frame
        self._reflect = MIRROR if mapping.mirror else np.eye(3)
        self._lengths = {arm.name: ArmLength(inputs.arm_length_window) for arm in robot.arms}
        self._hand_to_ee = {arm.name: rpy_matrix(arm.config.hand_to_ee_rpy) for arm in robot.arms}

    def reset(self) -> None:
        """A new operator: forget measured arm lengths and hand origins."""
        for length in self._lengths.values():
            length.clear()
        self.rebase()

    def rebase(self) -> None:
        """Hand source: the next wrist position of each arm becomes its origin (called while disengaged)."""
        self._origins.clear()

    def driving_side(self, arm: Arm) -> str:
        return driving_side(arm, self.mirror)

    def _points(self, person: PersonPose, side: str) -> np.ndarray:
        """Arm (shoulder, elbow, wrist; source arm only) and hand keypoints of one side, validated."""
        indices = KEYPOINTS[side] if self.source == "arm" else KEYPOINTS[side][len(_ARM_KEYPOINTS):]
        points = np.asarray(person.points[indices], dtype=float)
        confidence = np.asarray(person.confidence[indices], dtype=float)
        if not np.isfinite(points).all() or not np.all(confidence >= self.inputs.min_confidence):   # NaN fails too
            raise InputInvalid(f"{side} arm or hand: keypoints missing or below confidence {self.inputs.min_confidence}")
        depth = points[:, 2]
        if depth.min() < self.inputs.min_depth_m or depth.max() > self.inputs.max_depth_m:
            raise InputInvalid(f"{side} arm or hand: depth outside [{self.inputs.min_depth_m}, {self.inputs.max_depth_m}] m")
        return points

    def _arm_position(self, arm: Arm, side: str, shoulder: np.ndarray, elbow: np.ndarray,
                      wrist: np.ndarray) -> np.ndarray:
        measured = _norm(elbow - shoulder) + _norm(wrist - elbow)
        if not self.inputs.min_arm_length_m <= measured <= self.inputs.max_arm_length_m:
            raise InputInvalid(f"{side} arm length {measured:.2f} m outside "
                               f"[{self.inputs.min_arm_length_m}, {self.inputs.max_arm_length_m}]")
        scale = arm.config.reach / self._lengths[arm.name].update(measured)
        return self.robot.anchors[arm.name] + scale * (self._mount @ self._reflect @ (wrist - shoulder))

    def _hand_position(self, arm: Arm, wrist: np.ndarray, ee_position: np.ndarray) -> np.ndarray:
        if arm.name not in self._origins:        # first sight since engagement (or disengaged): no motion yet
            self._origins[arm.name] = (wrist.copy(), np.array(ee_position, dtype=float))
        wrist_origin, ee_origin = self._origins[arm.name]
        return ee_origin + self.hand_scale * (self._mount @ self._reflect @ (wrist - wrist_origin))

    def map_arm(self, person: PersonPose, arm: Arm, shoulder_world: np.ndarray,
                ee_position: np.ndarray | None = None) -> ArmTarget:
        """Target for `arm`; `shoulder_world` is the centre of its workspace sphere, `ee_position` where
        the end effector is now (the origin of hand-source motion; unused with source arm)."""
        side = self.driving_side(arm)
        if self.source == "arm" and Part.BODY not in person.present:
            raise InputInvalid("no body in this frame (a hand-only person): mapping.source arm needs the arms")
        points = self._points(person, side)
        h_wrist, h_index, h_pinky, h_middle, h_thumb_tip, h_index_tip = points[-len(_HAND_KEYPOINTS):]
        hand_size = _norm(h_middle - h_wrist)
        if not self.inputs.min_hand_size_m <= hand_size <= self.inputs.max_hand_size_m:
            raise InputInvalid(f"{side} hand size {hand_size:.3f} m outside "
                               f"[{self.inputs.min_hand_size_m}, {self.inputs.max_hand_size_m}]")
        if self.source == "hand":
            if ee_position is None:
                raise ValueError("mapping.source hand needs the end effector's position")
            position = self._hand_position(arm, h_wrist, ee_position)
        else:
            position = self._arm_position(arm, side, *points[:len(_ARM_KEYPOINTS)])
        reflect = self._reflect
        # Once mirrored, the driving hand is geometrically a hand of the arm's own side.
        frame = hand_frame(reflect @ h_wrist, reflect @ h_index, reflect @ h_pinky, arm.config.operator_side)
        rotation = self._mount @ frame @ self._hand_to_ee[arm.name]
        offset = position - shoulder_world
        distance = _norm(offset)
        clamped = distance > arm.config.max_reach
        if clamped:
            position = shoulder_world + offset * (arm.config.max_reach / distance)
        if position[2] < self.robot.config.min_target_z:   # a hand below the table top: the gripper onto it
            position = np.array([position[0], position[1], self.robot.config.min_target_z])
            clamped = True
        pinch = _norm(h_thumb_tip - h_index_tip) / hand_size
        return ArmTarget(position=position, rotation=rotation, pinch_ratio=pinch, clamped=clamped)
