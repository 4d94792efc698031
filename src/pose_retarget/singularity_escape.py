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

from pose_retarget.config import EngageConfig
from pose_retarget.ik import ArmIK
from pose_retarget.mapping import ArmTarget
from pose_retarget.robot import Arm, Robot
from pose_retarget.safety_check import MujocoCheck, Verdict
from teleop_common.status import Reason

STUCK_S = 0.2           # s an arm must stay at a joint limit before it escapes (a singularity hold: at once)
SOLVE_STEPS = 15        # differential IK steps from home (0.25 s each at the joint speed limits)
WARM_STEPS = 3          # ... from the previous frame's solution, while escaping
SOLVE_DT = 0.25
RETRY_M = 0.02          # a target with no good solution is tried again once it moved this far,
RETRY_CALLS = 10        # ... or after this many calls (the solve from home may just not have converged)


class SingularityEscape:
    def __init__(self, robot: Robot, ik: ArmIK, check: MujocoCheck, engage: EngageConfig) -> None:
        self.robot, self.ik, self.check = robot, ik, check
        self.tolerance_m = engage.max_distance_m       # near the target: differential IK again
        self.speed_scale = engage.sync_speed_scale
        self.escaping: dict[str, Reason] = {}          # arms moving out of a trap, and why they were held
        self._stuck_s: dict[str, float] = {}           # per arm: how long it has been at a joint limit
        self._solutions: dict[str, np.ndarray] = {}   # per arm, while escaping: warm start
        self._failed: dict[str, tuple[np.ndarray, int]] = {}   # per arm: last target without a good solution, calls since

    def forget(self, arm: str | None = None) -> None:
        """The escape of `arm` (of every arm: None) ended; the next one starts from home."""
        for cache in (self._solutions, self._failed, self.escaping, self._stuck_s):
            if arm is None:
                cache.clear()
            else:
                cache.pop(arm, None)

    def run(self, targets: dict[str, ArmTarget], verdicts: dict[str, Verdict], q: np.ndarray, dt: float,
            openings: dict[str, float]) -> tuple[np.ndarray, dict[str, Verdict]]:
        """Arms held at a singularity (at once: slow, never stop) or stuck at a joint limit for STUCK_S, while
        their target has a well-conditioned solution, move towards it in joint space at the engage sync
        speed (checked like any command) until the end effector is near the target; then differential IK
        takes over again.  The others stay held.  Returns the configuration and the escaping arms' verdicts."""
        for name, verdict in verdicts.items():
            at_limit = verdict.reason == Reason.JOINT_LIMIT
            self._stuck_s[name] = self._stuck_s.get(name, 0.0) + dt if at_limit else 0.0
            held_singular = verdict.reason == Reason.SINGULARITY and verdict.held
            if (held_singular or self._stuck_s[name] >= STUCK_S) and name not in self.escaping:
                self.escaping[name] = verdict.reason
        goals, hold = {}, []
        for arm in self.robot.arms:
            if arm.name not in self.escaping or arm.name not in targets:
                continue
            goal = self.goal(arm, targets[arm.name], q)
            if goal is None:                     # the target is not in a well-conditioned region: hold
                hold.append(arm)
            else:
                goals[arm.name] = (arm, goal)
        poses = self.robot.ee_poses(q) if hold else {}
        out = {arm.name: Verdict(self.escaping.pop(arm.name), True,
                                 float(np.linalg.norm(poses[arm.name][0] - targets[arm.name].position)))
               for arm in hold}
        if not goals:
            return q, out
        candidate = q.copy()
        for arm, goal in goals.values():
            candidate[arm.qpos] = self.step(arm, q, goal, dt, self.speed_scale)[arm.qpos]
            candidate[arm.gripper_qpos] = arm.gripper_positions(openings[arm.name])
        q, escaped = self.check.evaluate(q, candidate, {n: targets[n] for n in goals}, dt, self.speed_scale,
                                         escaping=frozenset(goals))
        for name, verdict in escaped.items():
            out[name] = Verdict(verdict.reason if verdict.held else self.escaping[name], verdict.held,
                                verdict.tracking_error)
            if verdict.tracking_error <= self.tolerance_m:
                self.forget(name)                # near the target: differential IK again from here
        return q, out

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
