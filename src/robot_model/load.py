"""A robot description's MuJoCo model: the MJCF or URDF loaded (meshes resolved), other models
attached, props removed, servos added where the model has none, end-effector sites added, and joints
looked up with the position actuator that drives each."""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from robot_model.config import Attachment, RobotConfig
from robot_model.sources import load_spec
from teleop_common.config import ConfigError

SERVO_STIFFNESS_ERROR = {int(mujoco.mjtJoint.mjJNT_HINGE): 0.05, int(mujoco.mjtJoint.mjJNT_SLIDE): 0.005}  # rad, m
DEFAULT_FORCE = {int(mujoco.mjtJoint.mjJNT_HINGE): 100.0, int(mujoco.mjtJoint.mjJNT_SLIDE): 40.0}         # N·m, N


def rpy_quat(rpy: tuple[float, ...]) -> list[float]:
    quat = np.zeros(4)
    mujoco.mju_euler2Quat(quat, np.asarray(rpy, dtype=float), "XYZ")
    return quat.tolist()


def compose(model: str, attach: tuple[Attachment, ...] = (), remove_bodies: tuple[str, ...] = ()) -> mujoco.MjSpec:
    """The robot's model before servos and sites: `model` with every `attach` part placed into it, props
    removed and keyframes dropped (they no longer match)."""
    spec = load_spec(model, "model") if model else mujoco.MjSpec()
    spec.compiler.balanceinertia = True        # CAD inertias off by rounding (xArm link2) still load
    for k, part in enumerate(attach):
        child = load_spec(part.model, f"attach[{k}].model")
        if part.angle != "model":
            child.compiler.degree = part.angle == "degree"
        if part.parent:
            parent = spec.body(part.parent)
            if parent is None:
                raise ConfigError(f"attach[{k}].parent", part.parent, "a body name of the model so far")
        else:
            parent = spec.worldbody
        frame = parent.add_frame(pos=list(part.pos), quat=rpy_quat(part.rpy))
        spec.attach(child, frame=frame, prefix=part.prefix)
    for name in remove_bodies:
        body = spec.body(name)
        if body is None:
            raise ConfigError("remove_bodies", name, "a body name of the model")
        spec.delete(body)
    for key in list(spec.keys):
        spec.delete(key)
    return spec


def _is_position_servo(actuator: mujoco.MjsActuator) -> bool:
    return actuator.biastype == mujoco.mjtBias.mjBIAS_AFFINE and actuator.gaintype == mujoco.mjtGain.mjGAIN_FIXED \
        and actuator.biasprm[1] < 0


def add_servos(spec: mujoco.MjSpec, names: list[str]) -> int:
    """Position servos on the named joints that have none (a URDF has no actuators; robosuite's arms have
    torque motors driven from Python).  The servo's force range is the joint's (URDF effort) or the
    replaced motor's; its stiffness reaches that force `SERVO_STIFFNESS_ERROR` off target.  Bodies get
    gravity compensation, as an arm's own controller provides.  Returns how many servos were added."""
    by_joint: dict[str, list[mujoco.MjsActuator]] = {}
    for actuator in spec.actuators:
        if actuator.trntype == mujoco.mjtTrn.mjTRN_JOINT:
            by_joint.setdefault(actuator.target, []).append(actuator)
    added = 0
    for name in names:
        joint = spec.joint(name)
        if joint is None or any(_is_position_servo(a) for a in by_joint.get(name, [])):
            continue
        kind = int(joint.type)
        force = DEFAULT_FORCE.get(kind, 100.0)
        if joint.actfrclimited == mujoco.mjtLimited.mjLIMITED_TRUE and joint.actfrcrange[1] > 0:
            force = float(joint.actfrcrange[1])
        for motor in by_joint.get(name, []):
            if motor.ctrllimited == mujoco.mjtLimited.mjLIMITED_TRUE and motor.ctrlrange[1] > 0:
                force = float(motor.ctrlrange[1] * max(motor.gear[0], 1.0))
            spec.delete(motor)
        servo = spec.add_actuator(name=f"{name}_servo", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        servo.set_to_position(kp=force / SERVO_STIFFNESS_ERROR.get(kind, 0.05))
        servo.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        servo.forcerange = [-force, force]
        if joint.limited == mujoco.mjtLimited.mjLIMITED_TRUE or joint.range[1] > joint.range[0]:
            servo.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
            servo.ctrlrange = list(joint.range)
        added += 1
    if added:
        for body in spec.bodies:
            body.gravcomp = 1.0
    return added


def build_model(config: RobotConfig) -> mujoco.MjModel:
    """The compiled model of `config`: parts attached, scene props removed, keyframes dropped, servos added
    to commanded joints without one, contacts excluded, end-effector sites added."""
    spec = compose(config.model, config.attach, config.remove_bodies)
    add_servos(spec, [n for arm in config.arms for n in (*arm.joints, *arm.gripper.joints)])
    for k, (first, second) in enumerate(config.exclude_contacts):
        for name in (first, second):
            if spec.body(name) is None:
                raise ConfigError(f"exclude_contacts[{k}]", name, "a body name of the model")
        spec.add_exclude(bodyname1=first, bodyname2=second)
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
