"""The simulated robot: MuJoCo physics driven by the commanded positions through the model's
position actuators, so the published JointState shows how a position-controlled robot follows."""
from __future__ import annotations

import mujoco
import numpy as np

from pose_retarget.robot import Robot


class SimulatedRobot:
    def __init__(self, robot: Robot, max_substeps: int) -> None:
        self.robot = robot
        self.model = robot.model
        self.data = mujoco.MjData(self.model)
        self.max_substeps = max_substeps
        self._pending = 0.0
        self.joint_names = [name for arm in robot.arms for name in (*arm.joint_names, *arm.gripper_joint_names)]
        self._qpos = np.concatenate([np.r_[arm.qpos, arm.gripper_qpos] for arm in robot.arms])
        self._dofs = np.concatenate([np.r_[arm.dofs, arm.gripper_dofs] for arm in robot.arms])
        self._actuators = np.concatenate([np.r_[arm.actuators, arm.gripper_actuators] for arm in robot.arms])
        self.data.qpos[:] = robot.home
        self.data.ctrl[self._actuators] = robot.home[self._qpos]
        mujoco.mj_forward(self.model, self.data)

    def advance(self, command: np.ndarray, dt: float) -> None:
        """Set the position targets from the full configuration `command` and simulate `dt` seconds."""
        self.data.ctrl[self._actuators] = command[self._qpos]
        self._pending += dt            # carry the rounding over, so simulated time keeps up with dt
        steps = int(np.clip(round(self._pending / self.model.opt.timestep), 0, self.max_substeps))
        self._pending = self._pending - steps * self.model.opt.timestep if steps < self.max_substeps else 0.0
        if steps:
            mujoco.mj_step(self.model, self.data, steps)

    @property
    def positions(self) -> np.ndarray:
        return self.data.qpos[self._qpos].copy()

    @property
    def velocities(self) -> np.ndarray:
        return self.data.qvel[self._dofs].copy()
