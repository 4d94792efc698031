"""Robot descriptions (config/robots/<name>.yaml), shared by the retargeting node and the robot process.

Besides the model and its arms, a description says how the robot's controllers name the joints
(`controller_joints`, in the order of `joints`; empty = the model's names) and which gripper fingers
mimic an actuated one, so commands and joint states use the hardware's names without a relay.

No `from __future__ import annotations` here: the config loader reads the field types at run time.
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from teleop_common.config import ConfigError, Validated, bounded, choice, from_mapping
from teleop_common.paths import CONFIG_DIR

ROBOTS_DIR = CONFIG_DIR / "robots"
TOPIC = "topic:"        # model: topic:/robot_description = the URDF string latched on that topic


def check_length(key: str, values: tuple, length: int, what: str = "numbers") -> None:
    if len(values) != length:
        raise ConfigError(key, list(values), f"a list of {length} {what}")


@dataclass
class MimicJoint(Validated):
    """A finger that follows an actuated gripper joint: q = multiplier * q_leader + offset (URDF <mimic>)."""

    joint: str = ""
    leader: str = ""
    multiplier: float = bounded(1.0, -100.0, 100.0)
    offset: float = 0.0


@dataclass
class GripperJoints(Validated):
    """Actuated gripper joints (commanded) and the fingers mimicking them; opening 0 maps to `closed`,
    1 to `open` (joint units, actuated joints only)."""

    joints: tuple[str, ...] = ()
    closed: tuple[float, ...] = ()
    open: tuple[float, ...] = ()
    controller_joints: tuple[str, ...] = ()   # the controller's names of `joints` ('' list = the model's)
    mimic: tuple[MimicJoint, ...] = ()

    def check(self) -> None:
        check_length("gripper.closed", self.closed, len(self.joints))
        check_length("gripper.open", self.open, len(self.joints))
        if self.controller_joints:
            check_length("gripper.controller_joints", self.controller_joints, len(self.joints), "names")
        for mimic in self.mimic:
            if mimic.leader not in self.joints:
                raise ConfigError("gripper.mimic.leader", mimic.leader, f"one of the actuated joints {list(self.joints)}")

    def command_names(self) -> tuple[str, ...]:
        return self.controller_joints or self.joints


@dataclass
class ArmConfig(Validated):
    """One arm: its joints, frames, how the operator's arm lands on it, its gripper."""

    name: str = "arm"
    operator_side: str = choice("right", "left")   # which operator arm drives it (mirror swaps)
    joints: tuple[str, ...] = ()
    controller_joints: tuple[str, ...] = ()        # the controller's names of `joints` (empty = the model's)
    home: tuple[float, ...] = ()                   # rad; posture task target and start pose
    max_velocity: tuple[float, ...] = ()           # rad/s per joint
    max_acceleration: tuple[float, ...] = ()       # rad/s^2 per joint; commands are shaped to stay within it
    base_frame: str = ""                           # body the arm is mounted on (fixed); frame of `anchor`
    shoulder_frame: str = ""                       # body whose origin is the workspace centre
    ee_frame: str = ""                             # site tracked by IK
    ee_parent: str = ""                            # if set, the site is created on this body
    ee_offset: tuple[float, ...] = (0.0, 0.0, 0.0)
    anchor: tuple[float, ...] = (0.0, 0.0, 0.0)     # where the operator's shoulder lands (arm base frame)
    reach: float = bounded(0.6, 0.05, 3.0)         # m; scale = reach / operator arm length
    max_reach: float = bounded(0.8, 0.05, 3.0)     # m from the shoulder frame; targets are clamped
    hand_to_ee_rpy: tuple[float, ...] = (0.0, 0.0, 0.0)
    gripper: GripperJoints = field(default_factory=GripperJoints)

    def check(self) -> None:
        if not self.joints:
            raise ConfigError(f"arms.{self.name}.joints", [], "a non-empty list of joint names")
        check_length(f"arms.{self.name}.home", self.home, len(self.joints))
        check_length(f"arms.{self.name}.max_velocity", self.max_velocity, len(self.joints))
        check_length(f"arms.{self.name}.max_acceleration", self.max_acceleration, len(self.joints))
        if any(v <= 0 for v in (*self.max_velocity, *self.max_acceleration)):
            raise ConfigError(f"arms.{self.name}.max_acceleration", list(self.max_acceleration),
                              "positive limits (max_velocity too)")
        if self.controller_joints:
            check_length(f"arms.{self.name}.controller_joints", self.controller_joints, len(self.joints), "names")
        for key in ("ee_offset", "anchor", "hand_to_ee_rpy"):
            check_length(f"arms.{self.name}.{key}", getattr(self, key), 3)
        if not self.ee_frame:
            raise ConfigError(f"arms.{self.name}.ee_frame", "", "a site name")

    def command_names(self) -> tuple[str, ...]:
        return self.controller_joints or self.joints


@dataclass
class GeomGroup(Validated):
    """Named set of bodies whose geoms form one side of a watched collision pair."""

    name: str = ""
    bodies: tuple[str, ...] = ()


@dataclass
class Attachment(Validated):
    """Another model placed into the robot: an arm on the table, a gripper on a flange."""

    model: str = ""                                # as RobotConfig.model
    prefix: str = ""                               # put before every name of the attached model
    parent: str = ""                               # body it is fixed to ('' = the world)
    pos: tuple[float, ...] = (0.0, 0.0, 0.0)       # m, in the parent body
    rpy: tuple[float, ...] = (0.0, 0.0, 0.0)       # rad, in the parent body
    angle: str = choice("model", "radian", "degree")   # the file's angle unit; 'radian' for fragments that omit
                                                   # <compiler angle> but mean radians (robosuite's grippers)

    def check(self) -> None:
        if not self.model:
            raise ConfigError("attach.model", "", "a model path (MJCF or URDF)")
        check_length("attach.pos", self.pos, 3)
        check_length("attach.rpy", self.rpy, 3)


@dataclass
class RobotConfig(Validated):
    name: str = ""
    model: str = ""                       # MJCF or URDF: 'package://<package>/<path>', a path next to the YAML,
                                          # or the description itself (a /robot_description string); '' = empty world.
                                          # In a YAML, 'topic:/robot_description' (read by the nodes at start-up)
    attach: tuple[Attachment, ...] = ()   # models added in order (arms on a rig, grippers on flanges)
    remove_bodies: tuple[str, ...] = ()    # scene props that are not part of the robot
    exclude_contacts: tuple[tuple[str, ...], ...] = ()   # body pairs whose contacts are ignored (always touching)
    base_frame: str = "world"             # frame of targets and of TeleopStatus
    arms: tuple[ArmConfig, ...] = ()
    geom_groups: tuple[GeomGroup, ...] = ()
    collision_pairs: tuple[tuple[str, ...], ...] = ()   # pairs of geom group names (IK avoidance)
    min_target_z: float = -math.inf       # m, model world frame (z up): lower targets are raised to it (table top + clearance)
    jacobian_length: float = bounded(0.2, 0.01, 5.0)   # m; makes the Jacobian condition unit-free
    singularity_slow: float = bounded(150.0, 1.0)
    singularity_stop: float = bounded(300.0, 1.0)

    def check(self) -> None:
        if not self.arms:
            raise ConfigError("arms", [], "at least one arm")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ConfigError("arms", names, "unique arm names")
        commanded = [n for a in self.arms for n in (*a.command_names(), *a.gripper.command_names())]
        if len(set(commanded)) != len(commanded):
            raise ConfigError("arms.controller_joints", commanded, "controller joint names used once")
        groups = {g.name for g in self.geom_groups}
        for pair in self.collision_pairs:
            if len(pair) != 2 or not set(pair) <= groups:
                raise ConfigError("collision_pairs", list(pair), f"two names among {sorted(groups)}")
        for pair in self.exclude_contacts:
            if len(pair) != 2:
                raise ConfigError("exclude_contacts", list(pair), "pairs of body names")
        if self.singularity_stop <= self.singularity_slow:
            raise ConfigError("singularity_stop", self.singularity_stop, "a number above singularity_slow")


def model_topic(model: str) -> str:
    """The topic of a `topic:/robot_description` model; '' for a file, a package:// path or a string."""
    return model[len(TOPIC):] if model.startswith(TOPIC) else ""


def _absolute(model: str, folder: Path) -> str:
    if not model or model.startswith("package://") or model.lstrip().startswith("<"):
        return model
    return str((folder / model).resolve())


def needs_derivation(values: dict) -> bool:
    """A description whose arms name only their links (no `joints`): the rest is derived."""
    return any(not arm.get("joints") for arm in values.get("arms") or [] if isinstance(arm, dict))


def load_robot_config(robot: str, robots_dir: str = "", read_topic: Callable[[str], str] | None = None) -> RobotConfig:
    """Robot by name (<robots_dir>/<name>.yaml) or by YAML path; relative model paths are made absolute.
    Arms given by base link, end-effector link and gripper joints only are derived (robot_model.derive),
    keys present in the YAML overriding what derivation would choose.  A `topic:` model is replaced by
    `read_topic(topic)` (the caller's way to get a latched string: robot_model.description_topic)."""
    path = Path(robot) if robot.endswith((".yaml", ".yml")) else Path(robots_dir or ROBOTS_DIR) / f"{robot}.yaml"
    if not path.is_file():
        raise ConfigError("robot", robot, f"a robot name with a YAML in {robots_dir or ROBOTS_DIR}, or a YAML path")
    values = yaml.safe_load(path.read_text()) or {}
    topic = model_topic(str(values.get("model", "")))
    if topic:
        if read_topic is None:
            raise ConfigError("model", values["model"], "a model file or string here (a topic: model is read by the "
                                                        "retargeting and robot_sim nodes and robot_check)")
        values["model"] = read_topic(topic)
    values["model"] = _absolute(str(values.get("model", "")), path.parent)
    for part in values.get("attach") or []:
        if isinstance(part, dict):
            part["model"] = _absolute(str(part.get("model", "")), path.parent)
    if needs_derivation(values):
        values = _derived(yaml.safe_dump(values, sort_keys=True))
    return from_mapping(RobotConfig, values)


@functools.lru_cache(maxsize=16)
def _derived_text(text: str) -> str:
    from robot_model.derive import derive_values    # MuJoCo work, only for descriptions that need it

    return yaml.safe_dump(derive_values(yaml.safe_load(text)).values)


def _derived(text: str) -> dict:
    """Derivation is deterministic (seeded): the same description is derived once per process."""
    return yaml.safe_load(_derived_text(text))


def robots_dir(configured: str) -> str:
    """'' = the repository's config/robots, or else the installed package's share/ copy."""
    if configured or ROBOTS_DIR.is_dir():
        return configured
    from ament_index_python.packages import get_package_share_directory

    return str(Path(get_package_share_directory("whole_body_teleop")) / "config" / "robots")

