"""The retargeting view of a robot description: arm joints, frames, limits, geoms, grippers.

Everything downstream (mapping, IK, check) reads indices from here, so a second robot only needs
another YAML.  Loading the model itself is robot_model's (shared with the robot process).
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from robot_model.config import ArmConfig, RobotConfig
from robot_model.load import build_model, joints, model_id
from teleop_common.config import ConfigError


def _subtree_bodies(model: mujoco.MjModel, root: int) -> set[int]:
    bodies = {root}
    for body in range(root + 1, model.nbody):      # children always follow their parent
        if model.body_parentid[body] in bodies:
            bodies.add(body)
    return bodies


def _geoms_of(model: mujoco.MjModel, bodies: set[int]) -> frozenset[int]:
    return frozenset(int(g) for g in np.flatnonzero(np.isin(model.geom_bodyid, list(bodies))))


@dataclass(frozen=True)
class Arm:
    """Model indices of one arm and its gripper."""

    config: ArmConfig
    qpos: np.ndarray          # qpos addresses of the arm joints
    dofs: np.ndarray          # dof addresses of the arm joints
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    max_acceleration: np.ndarray
    home: np.ndarray
    actuators: np.ndarray
    site: int
    base_body: int
    shoulder_body: int
    geoms: frozenset[int]          # everything that moves with the arm
    gripper_geoms: frozenset[int]  # geoms carried by the end-effector body (contacts among them are the gripper's)
    gripper_qpos: np.ndarray       # actuated gripper joints first, then the fingers mimicking them
    gripper_closed: np.ndarray     # idem
    gripper_open: np.ndarray
    gripper_commanded: int         # how many of gripper_qpos are actuated (commanded)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.config.joints

    @property
    def command_names(self) -> tuple[str, ...]:
        """The arm joints as its controller names them."""
        return self.config.command_names()

    @property
    def gripper_command_names(self) -> tuple[str, ...]:
        """The actuated gripper joints as its controller names them (mimicking fingers follow them)."""
        return self.config.gripper.command_names()

    @property
    def gripper_command_qpos(self) -> np.ndarray:
        return self.gripper_qpos[:self.gripper_commanded]

    def gripper_positions(self, opening: float) -> np.ndarray:
        return self.gripper_closed + float(opening) * (self.gripper_open - self.gripper_closed)

    def gripper_opening(self, q: np.ndarray) -> float:
        """The opening of configuration `q` (inverse of gripper_positions, mean over the actuated
        gripper joints; a joint whose open and closed positions coincide counts as closed)."""
        n = self.gripper_commanded
        span = self.gripper_open[:n] - self.gripper_closed[:n]
        return float(np.mean((q[self.gripper_command_qpos] - self.gripper_closed[:n]) / np.where(span == 0, 1.0, span)))


class Robot:
    """A MuJoCo model with named arms; `home` is the full configuration the robot starts in."""

    def __init__(self, config: RobotConfig) -> None:
        self.config = config
        self.model: mujoco.MjModel = build_model(config)
        self.arms: list[Arm] = [self._arm(arm) for arm in config.arms]
        self.home = self.model.qpos0.copy()
        for arm in self.arms:
            self.home[arm.qpos] = arm.home
            self.home[arm.gripper_qpos] = arm.gripper_open
        self.geom_groups = {group.name: self._group(group.name, group.bodies) for group in config.geom_groups}
        self.collision_pairs = [(sorted(self.geom_groups[a]), sorted(self.geom_groups[b]))
                                for a, b in config.collision_pairs]
        base = model_id(self.model, mujoco.mjtObj.mjOBJ_BODY, config.base_frame, "base_frame")
        if self.model.body_weldid[base] != 0:
            raise ConfigError("base_frame", config.base_frame, "a body fixed to the world")
        data = mujoco.MjData(self.model)
        data.qpos[:] = self.home
        mujoco.mj_kinematics(self.model, data)
        self.base_rotation = data.xmat[base].reshape(3, 3).copy()   # base frame in the world
        self.base_position = data.xpos[base].copy()
        # Workspace centres; a shoulder frame on the first joint's axis does not move with it.
        self.shoulders = {arm.name: data.xpos[arm.shoulder_body].copy() for arm in self.arms}
        # Where each operator shoulder lands, given in the arm's base frame (fixed to the world).
        self.anchors = {arm.name: data.xpos[arm.base_body] + data.xmat[arm.base_body].reshape(3, 3) @ arm.config.anchor
                        for arm in self.arms}
        self._data = data                 # scratch of ee_poses (the safety check keeps its own)

    def ee_poses(self, q: np.ndarray, data: mujoco.MjData | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """World position and rotation of each arm's end-effector site at configuration `q`."""
        data = self._data if data is None else data
        data.qpos[:] = q
        mujoco.mj_kinematics(self.model, data)
        return {arm.name: (data.site_xpos[arm.site].copy(), data.site_xmat[arm.site].reshape(3, 3).copy())
                for arm in self.arms}

    @property
    def name(self) -> str:
        return self.config.name

    def to_base(self, position: np.ndarray, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World (MuJoCo) frame -> the robot's base frame, in which targets are reported."""
        return self.base_rotation.T @ (position - self.base_position), self.base_rotation.T @ rotation

    def _arm(self, arm: ArmConfig) -> Arm:
        model = self.model
        key = f"arms.{arm.name}"
        found = joints(model, arm.joints, f"{key}.joints")
        gripper = joints(model, arm.gripper.joints, f"{key}.gripper.joints")
        mimic = joints(model, tuple(m.joint for m in arm.gripper.mimic), f"{key}.gripper.mimic", actuated=False)
        home = np.array(arm.home, dtype=float)
        if np.any(home < found.lower) or np.any(home > found.upper):
            raise ConfigError(f"{key}.home", list(arm.home), "joint values inside the model's limits")
        closed, opened = np.array(arm.gripper.closed, dtype=float), np.array(arm.gripper.open, dtype=float)
        for values, label in ((closed, "closed"), (opened, "open")):
            if np.any(values < gripper.lower - 1e-9) or np.any(values > gripper.upper + 1e-9):
                raise ConfigError(f"{key}.gripper.{label}", list(values), "values inside the gripper joints' ranges")
        leaders = [arm.gripper.joints.index(m.leader) for m in arm.gripper.mimic]
        scale = np.array([m.multiplier for m in arm.gripper.mimic])
        offset = np.array([m.offset for m in arm.gripper.mimic])
        site = model_id(model, mujoco.mjtObj.mjOBJ_SITE, arm.ee_frame, f"{key}.ee_frame")
        first_body = int(model.jnt_bodyid[found.ids[0]])
        base_body = model_id(model, mujoco.mjtObj.mjOBJ_BODY, arm.base_frame, f"{key}.base_frame")
        if model.body_weldid[base_body] != 0:
            raise ConfigError(f"{key}.base_frame", arm.base_frame, "a body fixed to the world")
        return Arm(
            config=arm, qpos=found.qpos, dofs=found.dofs, lower=found.lower, upper=found.upper, base_body=base_body,
            max_velocity=np.array(arm.max_velocity, dtype=float),
            max_acceleration=np.array(arm.max_acceleration, dtype=float), home=home, actuators=found.actuators,
            site=site, shoulder_body=model_id(model, mujoco.mjtObj.mjOBJ_BODY, arm.shoulder_frame, f"{key}.shoulder_frame"),
            geoms=_geoms_of(model, _subtree_bodies(model, first_body)),
            gripper_geoms=_geoms_of(model, _subtree_bodies(model, int(model.site_bodyid[site]))),
            gripper_qpos=np.r_[gripper.qpos, mimic.qpos].astype(int), gripper_commanded=len(gripper.qpos),
            gripper_closed=np.r_[closed, scale * closed[leaders] + offset],
            gripper_open=np.r_[opened, scale * opened[leaders] + offset])

    def _group(self, name: str, bodies: tuple[str, ...]) -> list[int]:
        geoms: set[int] = set()
        for body in bodies:
            index = model_id(self.model, mujoco.mjtObj.mjOBJ_BODY, body, f"geom_groups.{name}")
            geoms |= {g for g in np.flatnonzero(self.model.geom_bodyid == index)
                      if self.model.geom_contype[g] or self.model.geom_conaffinity[g]}
        if not geoms:
            raise ConfigError(f"geom_groups.{name}", list(bodies), "bodies with at least one colliding geom")
        return sorted(int(g) for g in geoms)
