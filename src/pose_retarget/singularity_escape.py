"""Way out of a singularity hold when the target is back in a well-conditioned region.

Differential IK follows the end-effector error, and from a near-singular configuration that
direction can lead further into the singularity even when the target lies where the arm is well
conditioned, so the check holds the arm at SINGULARITY for good (measured on ALOHA: after a far pose,
21 of 30 arms stayed held 0.08-0.5 m from a target back at home).  When that happens and the target
has a well-conditioned IK solution (solved from the home posture, where the arm is well conditioned),
the arm moves towards that solution in joint space at reduced speed.  Joint-space motion with bounded
joint speed has none of the velocity blow-up a singularity causes for Cartesian tracking, and the
MuJoCo check still enforces joint limits, joint speed and contacts on it.
"""
from __future__ import annotations

import numpy as np

from pose_retarget.ik import ArmIK
from pose_retarget.mapping import ArmTarget
from pose_retarget.robot import Arm, Robot
from pose_retarget.safety_check import MujocoCheck

SOLVE_STEPS = 15        # differential IK steps from home (0.25 s each at the joint speed limits)
WARM_STEPS = 3          # ... from the previous frame's solution, while escaping
SOLVE_DT = 0.25
RETRY_M = 0.02          # a target with no good solution is tried again once it moved this far,
RETRY_CALLS = 10        # ... or after this many calls (the solve from home may just not have converged)


class SingularityEscape:
    def __init__(self, robot: Robot, ik: ArmIK, check: MujocoCheck, tolerance_m: float) -> None:
        self.robot, self.ik, self.check = robot, ik, check
        self.tolerance_m = tolerance_m
        self._solutions: dict[str, np.ndarray] = {}   # per arm, while escaping: warm start
        self._failed: dict[str, tuple[np.ndarray, int]] = {}   # per arm: last target without a good solution, calls since

    def forget(self, arm: str | None = None) -> None:
        """The escape of `arm` (of every arm: None) ended; the next one starts from home."""
        for cache in (self._solutions, self._failed):
            if arm is None:
                cache.clear()
            else:
                cache.pop(arm, None)

    def goal(self, arm: Arm, target: ArmTarget, q: np.ndarray) -> np.ndarray | None:
        """A configuration reaching `target` (other arms as in `q`) below the singularity slow-down
        threshold, or None when the target itself is not in a well-conditioned region (a target held
        against the workspace boundary is not solved again every frame, only once it moved RETRY_M or
        every RETRY_CALLS calls)."""
        failed = self._failed.get(arm.name)
        if failed is not None and np.linalg.norm(target.position - failed[0]) < RETRY_M and failed[1] < RETRY_CALLS:
            self._failed[arm.name] = (failed[0], failed[1] + 1)
            return None
        solution = q.copy()
        warm = self._solutions.get(arm.name)
        solution[arm.qpos] = arm.home if warm is None else warm
        for _ in range(SOLVE_STEPS if warm is None else WARM_STEPS):
            solution = self.ik.solve(solution, {arm.name: (target.position, target.rotation)}, SOLVE_DT)
            if solution is None:
                break
        if solution is not None:
            position, condition = self.check.probe(arm, solution)
            if np.linalg.norm(position - target.position) <= self.tolerance_m and \
                    condition < self.robot.config.singularity_slow:
                self._solutions[arm.name] = solution[arm.qpos].copy()
                self._failed.pop(arm.name, None)
                return solution
        self._failed[arm.name] = (target.position.copy(), 0)
        self._solutions.pop(arm.name, None)
        return None

    @staticmethod
    def step(arm: Arm, q: np.ndarray, goal: np.ndarray, dt: float, scale: float) -> np.ndarray:
        """`q` with `arm` moved straight towards `goal` in joint space, every joint within
        `scale` times its speed limit."""
        delta = goal[arm.qpos] - q[arm.qpos]
        budget = arm.max_velocity * dt * scale
        factor = min(1.0, float(np.min(budget / np.maximum(np.abs(delta), 1e-12))))
        moved = q.copy()
        moved[arm.qpos] += factor * delta
        return moved
