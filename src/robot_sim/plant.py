"""The simulated arm hardware, without ROS: MuJoCo physics of the robot's model, whose position
actuators follow the setpoints of JTC-like controllers sampled once per control cycle.

Controllers come from the robot description: per arm `<arm>` (its joints) and `<arm>/gripper` (the
actuated gripper joints; mimicking fingers are driven from their leader, as a mimic joint is).
Joint names are the controllers' (`controller_joints`), as a ros2_control driver would publish them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from robot_model.config import RobotConfig
from robot_model.load import Joints, build_model, joints
from robot_sim.trajectory import TrajectoryFollower


@dataclass
class Controller:
    name: str                       # topics <name>/joint_trajectory and <name>/commands
    follower: TrajectoryFollower
    joints: Joints                  # model addresses, in controller order


@dataclass(frozen=True)
class _Mimic:
    controller: int                 # index into Plant.controllers
    leader: int                     # index of the leader within that controller
    joints: Joints
    multiplier: float
    offset: float


def _add_servo_damping(model: mujoco.MjModel, actuators: np.ndarray, dofs: np.ndarray, dampratio: float) -> None:
    """Position actuators without damping get kv for `dampratio` (of the joint's inertia at qpos0), as
    a real servo's velocity loop; the implicit integrator keeps that stable at the model's time step."""
    for actuator, dof in zip(actuators, dofs):
        if actuator < 0:
            continue
        kp = model.actuator_gainprm[actuator, 0]
        if model.actuator_biasprm[actuator, 2] == 0.0 and kp > 0:
            inertia = model.dof_M0[dof] + model.dof_armature[dof]
            model.actuator_biasprm[actuator, 2] = -2.0 * dampratio * np.sqrt(kp * inertia)
    model.opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST


class Plant:
    def __init__(self, config: RobotConfig, control_period_s: float, dampratio: float = 3.0,
                 allow_partial_joints_goal: bool = False, interpolate_from_desired_state: bool = True,
                 start_s: float = 0.0, gravity_compensation: bool = True) -> None:
        self.model = build_model(config)
        if gravity_compensation:          # as an arm's drives do: its servos only see the motion
            self.model.body_gravcomp[:] = 1.0
        self.data = mujoco.MjData(self.model)
        self.substeps = max(1, round(control_period_s / self.model.opt.timestep))
        self.period_s = self.substeps * self.model.opt.timestep
        self.controllers: list[Controller] = []
        self.mimics: list[_Mimic] = []
        names: list[str] = []
        published: list[Joints] = []        # in the order of names
        for arm in config.arms:
            for name, model_names, command_names, home in (
                    (arm.name, arm.joints, arm.command_names(), arm.home),
                    (f"{arm.name}/gripper", arm.gripper.joints, arm.gripper.command_names(), arm.gripper.open)):
                found = joints(self.model, model_names, f"arms.{name}.joints")
                self.data.qpos[found.qpos] = home
                follower = TrajectoryFollower(command_names, np.asarray(home, float), found.lower, found.upper,
                                              allow_partial_joints_goal, interpolate_from_desired_state)
                self.controllers.append(Controller(name, follower, found))
                names += command_names
                published.append(found)
            for mimic in arm.gripper.mimic:
                found = joints(self.model, (mimic.joint,), f"arms.{arm.name}.gripper.mimic", actuated=False)
                leader = arm.gripper.joints.index(mimic.leader)
                self.mimics.append(_Mimic(len(self.controllers) - 1, leader, found, mimic.multiplier, mimic.offset))
                self.data.qpos[found.qpos] = mimic.multiplier * arm.gripper.open[leader] + mimic.offset
                names.append(mimic.joint)     # state only, as a mimic joint's interfaces are
                published.append(found)
        self.joint_names = tuple(names)
        self._qpos = np.concatenate([j.qpos for j in published])
        self._dofs = np.concatenate([j.dofs for j in published])
        if dampratio > 0:
            _add_servo_damping(self.model, np.concatenate([j.actuators for j in published]), self._dofs, dampratio)
        for controller in self.controllers:       # powered up holding where it is
            controller.follower.command(list(self.measured(controller)[0]), start_s)
        gain = self.model.actuator_gainprm[:, 0]
        self._lead = np.where(gain > 0, -self.model.actuator_biasprm[:, 2] / np.where(gain > 0, gain, 1.0), 0.0)
        self.time_s = start_s           # the controller clock of the last cycle
        self._apply(start_s)
        mujoco.mj_forward(self.model, self.data)

    def controller(self, name: str) -> Controller | None:
        return next((c for c in self.controllers if c.name == name), None)

    def _apply(self, t: float) -> None:
        """Setpoints to the servos, with velocity feed-forward (a damped servo otherwise lags its moving
        setpoint by kv/kp times the speed): kp (q_ref - q) + kv (v_ref - v)."""
        setpoints = []
        for controller in self.controllers:
            position, velocity, _ = controller.follower.sample(t)
            actuators = controller.joints.actuators
            self.data.ctrl[actuators] = position + velocity * self._lead[actuators]
            setpoints.append(position)
        for mimic in self.mimics:
            if mimic.joints.actuators[0] >= 0:
                self.data.ctrl[mimic.joints.actuators] = mimic.multiplier * setpoints[mimic.controller][mimic.leader] + mimic.offset

    def cycle(self, t: float) -> None:
        """One control cycle at controller time `t`: sample every controller, then step the physics
        one control period."""
        self._apply(t)
        mujoco.mj_step(self.model, self.data, self.substeps)
        self.time_s = t

    def advance_to(self, now_s: float, max_cycles: int, after_cycle: Callable[[float], None] | None = None) -> bool:
        """Run the control cycles due by `now_s`, one control period apart (`after_cycle(t)` after each);
        more than `max_cycles` due (a stalled process) skips ahead.  Returns whether it skipped."""
        due = int((now_s - self.time_s) / self.period_s)
        skipped = due > max_cycles
        if skipped:
            self.time_s += (due - max_cycles) * self.period_s
            due = max_cycles
        for _ in range(due):
            self.cycle(self.time_s + self.period_s)
            if after_cycle is not None:
                after_cycle(self.time_s)
        return skipped

    def measured(self, controller: Controller) -> tuple[np.ndarray, np.ndarray]:
        return self.data.qpos[controller.joints.qpos].copy(), self.data.qvel[controller.joints.dofs].copy()

    @property
    def positions(self) -> np.ndarray:
        """Every published joint, in `joint_names` order."""
        return self.data.qpos[self._qpos].copy()

    @property
    def velocities(self) -> np.ndarray:
        return self.data.qvel[self._dofs].copy()
