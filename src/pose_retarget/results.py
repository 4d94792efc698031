"""What one retargeting cycle decided: per arm, the command, why it was held or clamped, and its
target; for the whole robot, the commanded configuration and whether it is engaged (no ROS)."""
from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from pose_retarget.command_shaper import Segment
from teleop_common.status import Reason

CLAMPS = frozenset({Reason.OUT_OF_REACH, Reason.COLLISION, Reason.JOINT_LIMIT})   # not held: clamped


@dataclass
class ArmResult:
    name: str
    joint_names: tuple[str, ...]
    positions: np.ndarray               # commanded arm joint positions
    gripper_joint_names: tuple[str, ...]
    gripper_positions: np.ndarray       # the actuated gripper joints (mimicking fingers follow)
    gripper_opening: float              # [0, 1], 0 closed
    reason: Reason
    held: bool                          # True when the arm did not move this cycle
    tracking_error: float               # m; NaN without a target
    target_position: np.ndarray | None  # robot base frame
    target_quaternion: np.ndarray | None  # w, x, y, z, robot base frame
    detail: str = ""                    # why the input was rejected, if it was
    segment: Segment | None = None      # the arm command (command_shaper); None: send none
    clamped: bool = False               # moving to the nearest pose the checks allow, the target being beyond it
    bridged: bool = False               # invalid keypoints this frame: moving on to the last target (input.bridge_s)


@dataclass
class RetargetResult:
    stamp_ns: int
    engaged: bool
    operator_track_id: int
    arms: list[ArmResult]
    command: np.ndarray                 # full commanded configuration (qpos layout)
    dt: float                           # s since the previous step (clamped), for the simulation
    stage_ms: dict[str, float] = field(default_factory=dict)  # map / ik / check durations of this step
    rejected: str = ""                  # kind of input rejected whole this cycle ('too_fast': dropped)
    disengaged: str = ""                # why this cycle disengaged the robot, if it did


def quaternion(rotation: np.ndarray) -> np.ndarray:
    """w, x, y, z of a rotation matrix."""
    wxyz = np.zeros(4)
    mujoco.mju_mat2Quat(wxyz, np.ascontiguousarray(rotation).reshape(9))
    return wxyz
