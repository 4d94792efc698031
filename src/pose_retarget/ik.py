"""Differential IK with mink: one frame task per arm, a posture task, and configuration,
velocity and collision-avoidance limits, solved as one QP for all arms (so arm-arm avoidance
sees both).  Arms without a target and every non-arm joint (grippers, props) are frozen.
"""
from __future__ import annotations

import mink
import mujoco
import numpy as np
from qpsolvers import SolverError

from pose_retarget.config import IKConfig
from pose_retarget.robot import Robot

Target = tuple[np.ndarray, np.ndarray]   # position (3,), rotation (3, 3), world frame


class ArmIK:
    def __init__(self, robot: Robot, config: IKConfig) -> None:
        model = robot.model
        self.robot = robot
        self.config = config
        self.configuration = mink.Configuration(model, robot.home)
        self.tasks = {arm.name: mink.FrameTask(arm.config.ee_frame, "site", position_cost=config.position_cost,
                                               orientation_cost=config.orientation_cost,
                                               lm_damping=config.lm_damping)
                      for arm in robot.arms}
        self.posture = mink.PostureTask(model, cost=config.posture_cost)
        self.posture.set_target(robot.home)
        velocities = {name: v for arm in robot.arms for name, v in zip(arm.joint_names, arm.max_velocity)}
        self.limits: list[mink.Limit] = [mink.ConfigurationLimit(model, gain=config.limit_gain),
                                         mink.VelocityLimit(model, velocities)]
        if robot.collision_pairs:
            self.limits.append(mink.CollisionAvoidanceLimit(
                model, robot.collision_pairs, gain=config.collision_gain,
                minimum_distance_from_collisions=config.collision_min_distance_m,
                collision_detection_distance=config.collision_detection_distance_m))
        arm_dofs = {int(d) for arm in robot.arms for d in arm.dofs}
        self._fixed_dofs = [d for d in range(model.nv) if d not in arm_dofs]
        self._freeze: dict[frozenset[str], list[mink.Task]] = {}

    def _constraints(self, moving: frozenset[str]) -> list[mink.Task]:
        """Freezing constraint for every dof not driven by a moving arm (cached per set of arms)."""
        if moving not in self._freeze:
            dofs = self._fixed_dofs + [int(d) for arm in self.robot.arms if arm.name not in moving for d in arm.dofs]
            self._freeze[moving] = [mink.DofFreezingTask(self.robot.model, sorted(dofs))] if dofs else []
        return self._freeze[moving]

    def solve(self, q: np.ndarray, targets: dict[str, Target], dt: float) -> np.ndarray | None:
        """Configuration after `config.iterations` steps over `dt`, or None when the QP is infeasible."""
        self.configuration.update(q)
        for name, (position, rotation) in targets.items():
            self.tasks[name].set_target(mink.SE3.from_rotation_and_translation(mink.SO3.from_matrix(rotation), position))
        tasks = [self.tasks[name] for name in targets] + [self.posture]
        constraints = self._constraints(frozenset(targets))
        step = dt / self.config.iterations
        for iteration in range(self.config.iterations):
            try:
                velocity = mink.solve_ik(self.configuration, tasks, step, self.config.solver, self.config.damping,
                                         limits=self.limits, constraints=constraints)
            except (mink.MinkError, SolverError, ValueError):
                return None
            if not np.all(np.isfinite(velocity)):
                return None
            if iteration + 1 < self.config.iterations:
                self.configuration.integrate_inplace(velocity, step)
        q = self.configuration.q               # the last step needs no kinematics: the check runs them
        mujoco.mj_integratePos(self.robot.model, q, velocity, step)
        return q
