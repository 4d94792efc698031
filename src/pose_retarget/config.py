"""Retargeting node configuration (config/pose_retarget.yaml); robot descriptions live in robot_model.config.
Every key is validated at start-up by teleop_common.config.

No `from __future__ import annotations` here: node_support reads the field types at run time.
"""

import math
from dataclasses import dataclass, field

from robot_model.config import check_length
from teleop_common.config import ConfigError, Validated, bounded, choice

# ----------------------------------------------------------------------------------------------
# Node thresholds (config/pose_retarget.yaml).


@dataclass
class OperatorConfig(Validated):
    selection: str = choice("largest", "nearest", "track_id")
    track_id: int = bounded(0, 0)                 # used when selection is track_id
    lost_timeout_s: float = bounded(1.0, 0.0, 60.0)   # the operator may come back this long; then disengage
    max_shoulder_width_change: float = bounded(0.3, 0.0, 1.0)   # relative to the operator's median
    max_body_size_change: float = bounded(0.2, 0.0, 1.0)        # mid-shoulder to mid-hip, relative
    max_speed_mps: float = bounded(3.0, 0.1, 20.0)       # mid-shoulder speed while seen
    reacquire_distance_m: float = bounded(0.5, 0.0, 5.0)  # back after a gap: this near to where last seen
    reacquire_timeout_s: float = bounded(0.3, 0.0, 60.0)  # ... and first seen again within this
    identity_window: int = bounded(30, 1, 10000)    # observations in the running median of the sizes

    def check(self) -> None:
        if self.reacquire_timeout_s > self.lost_timeout_s:
            raise ConfigError("operator.reacquire_timeout_s", self.reacquire_timeout_s,
                              f"a number of seconds up to operator.lost_timeout_s ({self.lost_timeout_s})")


@dataclass
class AccessConfig(Validated):
    """Who may command the robot (see pose_retarget.source_guard)."""

    pose_source: str = ""      # node whose poses are followed ('/whole_body_pose'); '' = the first publisher
    engage_callers: str = ""   # comma-separated nodes allowed a client of ~/engage; '' = anyone
    max_clock_jump_s: float = bounded(1.0, 0.01, 3600.0)   # the clock running this far ahead of a steady one

    def check(self) -> None:
        for key, names in (("access.pose_source", [self.pose_source] if self.pose_source else []),
                           ("access.engage_callers", self.callers())):
            for name in names:
                if not name.startswith("/") or any(c.isspace() or not c.isprintable() for c in name):
                    raise ConfigError(key, name, "fully qualified node names ('/ns/node'), comma-separated")

    def callers(self) -> list[str]:
        return [name.strip() for name in self.engage_callers.split(",") if name.strip()]


@dataclass
class InputConfig(Validated):
    stale_timeout_s: float = bounded(0.2, 0.001, 10.0)
    max_people: int = bounded(16, 1, 1000)          # people read per message; the rest are ignored (counted)
    max_future_s: float = bounded(0.05, 0.0, 10.0)   # stamps further ahead of the node's clock: rejected
    min_confidence: float = bounded(0.5, 0.0, 1.0)
    min_depth_m: float = bounded(0.1, 0.0)
    max_depth_m: float = bounded(10.0, 0.0)
    min_arm_length_m: float = bounded(0.3, 0.0)
    max_arm_length_m: float = bounded(1.2, 0.0)
    arm_length_window: int = bounded(30, 1, 10000)   # frames in the running median
    min_hand_size_m: float = bounded(0.03, 0.0)      # wrist to middle_mcp
    max_hand_size_m: float = bounded(0.25, 0.0)
    bridge_s: float = bounded(0.1, 0.0, 1.0)        # an arm's input invalid for up to this long: it keeps its last target


@dataclass
class MappingConfig(Validated):
    source: str = choice("arm", "hand")   # arm: shoulder-to-wrist; hand: wrist motion since engagement
    hand_scale: float = bounded(1.0, 0.05, 10.0)   # hand source: robot metres per metre of wrist motion
    mounting_rpy: tuple[float, ...] = (-math.pi / 2, 0.0, math.pi)   # camera orientation in base frame
    mirror: bool = False   # operator faces the robot: their right arm drives its left, reflected

    def check(self) -> None:
        check_length("mapping.mounting_rpy", self.mounting_rpy, 3)


@dataclass
class IKConfig(Validated):
    solver: str = choice("daqp")
    iterations: int = bounded(1, 1, 20)          # differential IK steps per input frame
    position_cost: float = bounded(1.0, 0.0)
    orientation_cost: float = bounded(0.5, 0.0)
    posture_cost: float = bounded(1e-3, 0.0)
    lm_damping: float = bounded(1e-3, 0.0)
    damping: float = bounded(1e-4, 0.0)
    limit_gain: float = bounded(0.95, 0.01, 1.0)
    collision_min_distance_m: float = bounded(0.01, -0.1, 0.5)
    collision_detection_distance_m: float = bounded(0.05, 0.0, 1.0)
    collision_gain: float = bounded(0.85, 0.01, 1.0)


@dataclass
class SafetyConfig(Validated):
    max_joint_step_rad: float = bounded(0.1, 0.0)    # per cycle, any joint
    penetration_m: float = bounded(0.002, 0.0)       # allowed depth of a new contact
    tracking_tolerance_m: float = bounded(0.01, 0.0)
    min_approach_speed_mps: float = bounded(0.015, 0.0)   # getting closer this fast counts as tracking
    min_dt_s: float = bounded(0.002, 1e-4)
    max_dt_s: float = bounded(0.1, 1e-4)


@dataclass
class EngageConfig(Validated):
    mode: str = choice("near", "sync")   # near: refuse when far; sync: accept, then move there slowly
    max_distance_m: float = bounded(0.08, 0.0)
    max_angle_rad: float = bounded(0.6, 0.0, math.pi)
    sync_speed_scale: float = bounded(0.25, 0.01, 1.0)
    sync_ramp_s: float = bounded(1.0, 0.0, 10.0)        # ... rising to full speed over this long (0: at once)


@dataclass
class GripperConfig(Validated):
    closed_ratio: float = bounded(0.3, 0.0)    # pinch / hand size at which the gripper is closed
    open_ratio: float = bounded(1.2, 0.0)      # ... and fully open
    hysteresis: float = bounded(0.05, 0.0, 0.5)   # opening dead band
    max_rate: float = bounded(3.0, 0.0)        # opening per second

    def check(self) -> None:
        if self.open_ratio <= self.closed_ratio:
            raise ConfigError("gripper.open_ratio", self.open_ratio, "a number above gripper.closed_ratio")


@dataclass
class StateConfig(Validated):
    """The robot's measured joint states (a joint_state_broadcaster's /joint_states, or robot_sim_node's)."""

    topic: str = "/joint_states"                           # sensor_msgs/JointState with the controllers' joint names
    stale_timeout_s: float = bounded(0.25, 0.005, 10.0)    # older: every arm holds (STATE_STALE)
    max_divergence_rad: float = bounded(0.2, 0.001, 3.2)   # measured vs where the commands put the controller
    speed_margin: float = bounded(0.9, 0.1, 1.0)           # commands are shaped to this fraction of the limits
    max_lag_s: float = bounded(0.3, 0.0, 2.0)              # the measured joints may lag the setpoint this long
    max_delay_s: float = bounded(0.05, 0.0, 1.0)           # commands start this long after they are sent


@dataclass
class RetargetNodeConfig(Validated):
    robot: str = "aloha"            # name in robots_dir, or a YAML path
    robots_dir: str = ""            # '' = the repository's config/robots
    operator: OperatorConfig = field(default_factory=OperatorConfig)
    access: AccessConfig = field(default_factory=AccessConfig)
    input: InputConfig = field(default_factory=InputConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    ik: IKConfig = field(default_factory=IKConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    engage: EngageConfig = field(default_factory=EngageConfig)
    gripper: GripperConfig = field(default_factory=GripperConfig)
    state: StateConfig = field(default_factory=StateConfig)
