"""What the robot did in a session: time engaged, how far each end effector travelled, gripper events.

Computed from the robot's own JointState stream (forward kinematics in its MuJoCo model) and the
retargeting node's statuses, so the figures say what the robot did, not what it was asked.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from pose_retarget.robot import Robot

GRIPPER_CLOSED_BELOW = 0.35     # opening fraction (0 closed .. 1 open); hysteresis between the two
GRIPPER_OPEN_ABOVE = 0.65
MAX_ENGAGED_GAP_S = 0.5         # a longer silence between statuses is not counted as engaged time


class JointStateKinematics:
    """The robot's MuJoCo state at each /joint_states message: its joints set by name on the home
    configuration (a joint a message lacks keeps its last value), forward kinematics run."""

    def __init__(self, robot: Robot) -> None:
        self.model = robot.model
        self.data = mujoco.MjData(robot.model)
        self.data.qpos[:] = robot.home
        self._address = {mujoco.mj_id2name(robot.model, mujoco.mjtObj.mjOBJ_JOINT, j): int(robot.model.jnt_qposadr[j])
                         for j in range(robot.model.njnt)}

    def __call__(self, names: tuple[str, ...], positions: np.ndarray) -> mujoco.MjData:
        for name, position in zip(names, positions):
            if name in self._address:
                self.data.qpos[self._address[name]] = position
        mujoco.mj_kinematics(self.model, self.data)
        return self.data


@dataclass
class ArmMotion:
    name: str
    distance_m: list[float] = field(default_factory=list)   # cumulative end-effector path, per joint state
    opening: list[float] = field(default_factory=list)      # gripper opening fraction, per joint state
    closes: int = 0
    opens: int = 0

    def summary(self) -> dict:
        moved = self.distance_m[-1] if self.distance_m else 0.0
        opening = np.asarray(self.opening) if self.opening else np.zeros(1)
        return {"moved_cm": round(100 * moved, 1), "gripper_closes": self.closes, "gripper_opens": self.opens,
                "gripper_opening_min": round(float(opening.min()), 2),
                "gripper_opening_max": round(float(opening.max()), 2)}


@dataclass
class RobotMotion:
    """Per-joint-state cumulative figures (for the video) and their totals (for the summary)."""

    times_ns: list[int]
    arms: list[ArmMotion]
    engaged_s: float

    def summary(self) -> dict:
        return {"engaged_s": round(self.engaged_s, 1), "arms": {a.name: a.summary() for a in self.arms}}


def engaged_seconds(statuses: list[tuple[int, object]]) -> float:
    """Time between consecutive statuses (receive time) whose first one was engaged."""
    total = 0.0
    for (start, status), (end, _) in zip(statuses, statuses[1:]):
        if status.engaged:
            total += min((end - start) / 1e9, MAX_ENGAGED_GAP_S)
    return total


def measure(robot: Robot, joint_states: list[tuple[int, tuple[str, ...], np.ndarray]],
            statuses: list[tuple[int, object]]) -> RobotMotion:
    """Forward kinematics of every joint state: end-effector path length and gripper opening per arm."""
    kinematics = JointStateKinematics(robot)
    arms = [ArmMotion(arm.name) for arm in robot.arms]
    previous: list[np.ndarray | None] = [None] * len(arms)
    closed_state = [None] * len(arms)
    times = []
    for time_ns, names, positions in joint_states:
        data = kinematics(names, positions)
        times.append(time_ns)
        for i, (arm, motion) in enumerate(zip(robot.arms, arms)):
            point = data.site_xpos[arm.site].copy()
            step = 0.0 if previous[i] is None else float(np.linalg.norm(point - previous[i]))
            previous[i] = point
            motion.distance_m.append((motion.distance_m[-1] if motion.distance_m else 0.0) + step)
            opening = float(np.clip(arm.gripper_opening(data.qpos), 0.0, 1.0))   # a joint may pass its range
            motion.opening.append(opening)
            if opening < GRIPPER_CLOSED_BELOW and closed_state[i] is not True:
                motion.closes += closed_state[i] is False      # a close after having been open
                closed_state[i] = True
            elif opening > GRIPPER_OPEN_ABOVE and closed_state[i] is not False:
                motion.opens += closed_state[i] is True
                closed_state[i] = False
    return RobotMotion(times, arms, engaged_seconds(statuses))
