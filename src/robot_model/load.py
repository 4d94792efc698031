"""A robot description's MuJoCo model: the MJCF loaded, props removed, end-effector sites added,
and joints looked up with the position actuator that drives each."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from robot_model.config import RobotConfig
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


def build_model(config: RobotConfig) -> mujoco.MjModel:
    """The compiled model of `config`: scene props removed, keyframes dropped, end-effector sites added."""
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
    return spec.compile()


def model_id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str, key: str) -> int:
    index = mujoco.mj_name2id(model, kind, name)
    if index < 0:
        raise ConfigError(key, name, f"a {kind.name[6:].lower()} name of the model")
    return index


def position_actuator(model: mujoco.MjModel, joint: int) -> int:
    """The actuator driving `joint` directly, or -1."""
    for actuator in range(model.nu):
        if int(model.actuator_trntype[actuator]) == int(mujoco.mjtTrn.mjTRN_JOINT) and model.actuator_trnid[actuator, 0] == joint:
            return actuator
    return -1


@dataclass(frozen=True)
class Joints:
    """Model addresses and limits of named hinge/slide joints."""

    ids: np.ndarray
    qpos: np.ndarray
    dofs: np.ndarray
    actuators: np.ndarray     # -1 where no actuator drives the joint
    lower: np.ndarray         # -inf / inf where unlimited
    upper: np.ndarray


def joints(model: mujoco.MjModel, names: tuple[str, ...], key: str, actuated: bool = True) -> Joints:
    """Look up hinge/slide joints; `actuated`: each must be driven by an actuator of its own."""
    ids = np.array([model_id(model, mujoco.mjtObj.mjOBJ_JOINT, n, key) for n in names], dtype=int).reshape(-1)
    for joint, name in zip(ids, names):
        if int(model.jnt_type[joint]) not in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)):
            raise ConfigError(key, name, "a hinge or slide joint")
    actuators = np.array([position_actuator(model, j) for j in ids], dtype=int).reshape(-1)
    if actuated and np.any(actuators < 0):
        raise ConfigError(key, names[int(np.flatnonzero(actuators < 0)[0])], "a joint driven by a position actuator in the model")
    limits = model.jnt_range[ids].copy().reshape(-1, 2)
    unlimited = ~model.jnt_limited[ids].astype(bool)
    limits[unlimited] = (-np.inf, np.inf)
    return Joints(ids=ids, qpos=model.jnt_qposadr[ids].copy(), dofs=model.jnt_dofadr[ids].copy(), actuators=actuators,
                  lower=limits[:, 0].copy(), upper=limits[:, 1].copy())
