"""robot_sim_node configuration (config/robot_sim.yaml), validated at start-up.

No `from __future__ import annotations` here: node_support reads the field types at run time.
"""

from dataclasses import dataclass

from teleop_common.config import Validated, bounded


@dataclass
class RobotSimConfig(Validated):
    robot: str = "aloha"                       # config/robots/<name>.yaml, or a path to a robot YAML
    robots_dir: str = ""                       # '' = the package's config/robots
    control_rate_hz: float = bounded(100.0, 100.0, 2000.0)   # controller updates and /joint_states per second
    gravity_compensation: bool = True          # the drives cancel gravity (no sag under the position servos)
    servo_dampratio: float = bounded(3.0, 0.0, 10.0)          # damping added to undamped position servos (0: none)
    allow_partial_joints_goal: bool = False    # as the JTC parameter: trajectories naming only some joints
    interpolate_from_desired_state: bool = True   # as the JTC parameter: blend from the last setpoint (streaming)
    max_catch_up_cycles: int = bounded(20, 1, 1000)  # a late timer runs at most this many missed cycles at once
