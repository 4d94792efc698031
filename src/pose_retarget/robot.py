"""Robot model built from its YAML description: MJCF loading, arm joints, frames, limits, geoms.

Everything downstream (IK, check, simulation) reads indices from here, so a second robot only
needs another YAML.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from pose_retarget.config import ArmConfig, RobotConfig
from teleop_common.config import ConfigError


def resolve_model_path(model: str) -> Path:
    """'package://<python package>/<path>' (found without importing the package) or a file path."""
    if model.startswith("package://"):
        package, _, relative = model[len("package://"):].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError("model", model, f"a path inside an installed Python package ('{package}' not found)")
        path = Path(next(iter(spec.submodule_search_locations))) / relative
    else:
        path = Path(model)
    if not path.is_file():
        raise ConfigError("model", model, "an existing MJCF file")
    return path


def _subtree_bodies(model: mujoco.MjModel, root: int) -> set[int]:
    bodies = {root}
    for body in range(root + 1, model.nbody):      # children always follow their parent
        if model.body_parentid[body] in bodies:
            bodies.add(body)
    return bodies


def _geoms_of(model: mujoco.MjModel, bodies: set[int]) -> frozenset[int]:
    return frozenset(int(g) for g in np.flatnonzero(np.isin(model.geom_bodyid, list(bodies))))


def _actuator_of(model: mujoco.MjModel, joint: int, name: str) -> int:
    for actuator in range(model.nu):
        if int(model.actuator_trntype[actuator]) == int(mujoco.mjtTrn.mjTRN_JOINT) and model.actuator_trnid[actuator, 0] == joint:
            return actuator
    raise ConfigError("joints", name, "a joint driven by a position actuator in the model")


def _id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str, key: str) -> int:
    index = mujoco.mj_name2id(model, kind, name)
    if index < 0:
        raise ConfigError(key, name, f"a {kind.name[6:].lower()} name of the model")
    return index


@dataclass(frozen=True)
class Arm:
    """Model indices of one arm and its gripper."""

    config: ArmConfig
    qpos: np.ndarray          # qpos addresses of the arm joints
    dofs: np.ndarray          # dof addresses of the arm joints
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    home: np.ndarray
    actuators: np.ndarray
    site: int
    base_body: int
    shoulder_body: int
    geoms: frozenset[int]          # everything that moves with the arm
    gripper_geoms: frozenset[int]  # geoms carried by the end-effector body (contacts among them are the gripper's)
    gripper_qpos: np.ndarray
    gripper_dofs: np.ndarray
    gripper_actuators: np.ndarray
    gripper_closed: np.ndarray
    gripper_open: np.ndarray

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.config.joints

    @property
    def gripper_joint_names(self) -> tuple[str, ...]:
        return self.config.gripper.joints

    def gripper_positions(self, opening: float) -> np.ndarray:
        return self.gripper_closed + float(opening) * (self.gripper_open - self.gripper_closed)

    def gripper_opening(self, q: np.ndarray) -> float:
        """The opening of configuration `q` (inverse of gripper_positions, mean over the gripper's
        joints; a joint whose open and closed positions coincide counts as closed)."""
        span = self.gripper_open - self.gripper_closed
        return float(np.mean((q[self.gripper_qpos] - self.gripper_closed) / np.where(span == 0, 1.0, span)))


class Robot:
    """A MuJoCo model with named arms; `home` is the full configuration the robot starts in."""

    def __init__(self, config: RobotConfig) -> None:
        self.config = config
        spec = mujoco.MjSpec.from_file(str(resolve_model_path(config.model)))
        for name in config.remove_bodies:
            body = spec.body(name)
            if body is None:
                raise ConfigError("remove_bodies", name, "a body name of the model")
            spec.delete(body)
        for key in list(spec.keys):          # keyframes no longer match once bodies are removed
            spec.delete(key)
        for arm in config.arms:
            if arm.ee_parent:
                parent = spec.body(arm.ee_parent)
                if parent is None:
                    raise ConfigError(f"arms.{arm.name}.ee_parent", arm.ee_parent, "a body name of the model")
                parent.add_site(name=arm.ee_frame, pos=list(arm.ee_offset))
        self.model: mujoco.MjModel = spec.compile()
        self.arms: list[Arm] = [self._arm(arm) for arm in config.arms]
        self.home = self.model.qpos0.copy()
        for arm in self.arms:
            self.home[arm.qpos] = arm.home
            self.home[arm.gripper_qpos] = arm.gripper_open
        self.geom_groups = {group.name: self._group(group.name, group.bodies) for group in config.geom_groups}
        self.collision_pairs = [(sorted(self.geom_groups[a]), sorted(self.geom_groups[b]))
                                for a, b in config.collision_pairs]
        base = _id(self.model, mujoco.mjtObj.mjOBJ_BODY, config.base_frame, "base_frame")
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

    def _joints(self, names: tuple[str, ...], key: str) -> tuple[np.ndarray, ...]:
        joints = [_id(self.model, mujoco.mjtObj.mjOBJ_JOINT, n, key) for n in names]
        for joint, name in zip(joints, names):
            if int(self.model.jnt_type[joint]) not in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)):
                raise ConfigError(key, name, "a hinge or slide joint")
        ids = np.array(joints, dtype=int)
        actuators = np.array([_actuator_of(self.model, j, n) for j, n in zip(joints, names)], dtype=int)
        return self.model.jnt_qposadr[ids].copy(), self.model.jnt_dofadr[ids].copy(), ids, actuators

    def _arm(self, arm: ArmConfig) -> Arm:
        model = self.model
        key = f"arms.{arm.name}"
        qpos, dofs, ids, actuators = self._joints(arm.joints, f"{key}.joints")
        gripper_qpos, gripper_dofs, gripper_ids, gripper_actuators = self._joints(
            arm.gripper.joints, f"{key}.gripper.joints")
        lower, upper = model.jnt_range[ids, 0].copy(), model.jnt_range[ids, 1].copy()
        unlimited = ~model.jnt_limited[ids].astype(bool)
        lower[unlimited], upper[unlimited] = -np.inf, np.inf
        home = np.array(arm.home, dtype=float)
        if np.any(home < lower) or np.any(home > upper):
            raise ConfigError(f"{key}.home", list(arm.home), "joint values inside the model's limits")
        for values, label in ((arm.gripper.closed, "closed"), (arm.gripper.open, "open")):
            ranges = model.jnt_range[gripper_ids]
            if np.any(np.array(values) < ranges[:, 0] - 1e-9) or np.any(np.array(values) > ranges[:, 1] + 1e-9):
                raise ConfigError(f"{key}.gripper.{label}", list(values), "values inside the gripper joints' ranges")
        site = _id(model, mujoco.mjtObj.mjOBJ_SITE, arm.ee_frame, f"{key}.ee_frame")
        first_body = int(model.jnt_bodyid[ids[0]])
        base_body = _id(model, mujoco.mjtObj.mjOBJ_BODY, arm.base_frame, f"{key}.base_frame")
        if model.body_weldid[base_body] != 0:
            raise ConfigError(f"{key}.base_frame", arm.base_frame, "a body fixed to the world")
        return Arm(
            config=arm, qpos=qpos, dofs=dofs, lower=lower, upper=upper, base_body=base_body,
            max_velocity=np.array(arm.max_velocity, dtype=float), home=home, actuators=actuators, site=site,
            shoulder_body=_id(model, mujoco.mjtObj.mjOBJ_BODY, arm.shoulder_frame, f"{key}.shoulder_frame"),
            geoms=_geoms_of(model, _subtree_bodies(model, first_body)),
            gripper_geoms=_geoms_of(model, _subtree_bodies(model, int(model.site_bodyid[site]))),
            gripper_qpos=gripper_qpos, gripper_dofs=gripper_dofs, gripper_actuators=gripper_actuators,
            gripper_closed=np.array(arm.gripper.closed, dtype=float),
            gripper_open=np.array(arm.gripper.open, dtype=float))

    def _group(self, name: str, bodies: tuple[str, ...]) -> list[int]:
        geoms: set[int] = set()
        for body in bodies:
            index = _id(self.model, mujoco.mjtObj.mjOBJ_BODY, body, f"geom_groups.{name}")
            geoms |= {g for g in np.flatnonzero(self.model.geom_bodyid == index)
                      if self.model.geom_contype[g] or self.model.geom_conaffinity[g]}
        if not geoms:
            raise ConfigError(f"geom_groups.{name}", list(bodies), "bodies with at least one colliding geom")
        return sorted(int(g) for g in geoms)
