"""MuJoCo check of every candidate configuration before it is commanded.

The candidate (all arms and grippers) is set on a scratch MjData and MuJoCo's kinematics and
collision detection run.  Per arm: the per-cycle step is limited; joint limits, joint speed and
new penetrating contacts (self or environment, gripper-internal ones excepted) make the arm hold
its last safe configuration; approaching a singularity (Jacobian condition number, rotation rows
scaled by a length so it is unit-free) first scales the step down, then holds; a target that is
not tracked is still commanded (the IK result is the clamped, feasible pose) with the reason.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import mujoco
import numpy as np

from pose_retarget.config import SafetyConfig
from pose_retarget.mapping import ArmTarget
from pose_retarget.robot import Arm, Robot
from teleop_common.status import Reason

_LIMIT_TOL = 1e-6
_DEEPER_TOL = 1e-4      # m; an existing contact may get this much deeper (numerical noise)
_AT_LIMIT = 0.02        # rad or m from a joint limit counts as "at the limit"
_NEAR_COLLISION = 0.003  # m beyond the IK's minimum distance counts as "blocked by avoidance"


@dataclass
class Verdict:
    reason: Reason
    held: bool              # True: the arm keeps its last safe configuration
    tracking_error: float   # m, end effector to target at the commanded configuration


@dataclass
class _State:
    """What one evaluation decided so far."""

    held: dict[str, Reason] = field(default_factory=dict)
    slowed: set[str] = field(default_factory=set)
    conditions: dict[str, float] = field(default_factory=dict)
    penetrations: dict[tuple[int, int], float] = field(default_factory=dict)


class MujocoCheck:
    def __init__(self, robot: Robot, safety: SafetyConfig, min_distance: float) -> None:
        self.robot = robot
        self.safety = safety
        self.model = robot.model
        self.data = mujoco.MjData(self.model)
        self._probe = mujoco.MjData(self.model)         # for configurations that are not evaluated
        self._min_distance = min_distance
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))
        self._watched = {arm.name: self._watched_pairs(arm) for arm in robot.arms}
        self._gripper_pairs = {(a, b) for arm in robot.arms for a in arm.gripper_geoms for b in arm.gripper_geoms if a < b}
        self._baseline: dict[tuple[int, int], float] = {}
        self._condition: dict[str, float] = {}          # at the accepted configuration, per arm
        self._site: dict[str, np.ndarray] = {}          # end-effector position, idem
        self.reset(robot.home)

    def _watched_pairs(self, arm: Arm) -> list[tuple[int, int]]:
        pairs = set()
        for group_a, group_b in self.robot.collision_pairs:
            for a, b in itertools.product(group_a, group_b):
                if (a in arm.geoms or b in arm.geoms) and self.model.geom_bodyid[a] != self.model.geom_bodyid[b]:
                    pairs.add((min(a, b), max(a, b)))
        return sorted(pairs)

    def reset(self, q: np.ndarray) -> None:
        """Take `q` as the accepted configuration (its contacts become the baseline)."""
        self._forward(q)
        self._baseline = self._penetrations()
        for arm in self.robot.arms:
            self._condition[arm.name] = self.condition(arm)
            self._site[arm.name] = self.data.site_xpos[arm.site].copy()

    def _forward(self, q: np.ndarray) -> None:
        self.data.qpos[:] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        mujoco.mj_collision(self.model, self.data)

    def _penetrations(self) -> dict[tuple[int, int], float]:
        """Deepest penetration per geom pair, gripper-internal contacts left out."""
        depth: dict[tuple[int, int], float] = {}
        count = self.data.ncon
        if count == 0:
            return depth
        contacts = self.data.contact
        for dist, (g1, g2) in zip(contacts.dist[:count].tolist(), contacts.geom[:count].tolist()):
            key = (min(g1, g2), max(g1, g2))
            if dist < 0 and key not in self._gripper_pairs:
                depth[key] = max(depth.get(key, 0.0), -dist)
        return depth

    def condition(self, arm: Arm, data: mujoco.MjData | None = None) -> float:
        mujoco.mj_jacSite(self.model, self.data if data is None else data, self._jacp, self._jacr, arm.site)
        jacobian = np.vstack([self._jacp[:, arm.dofs], self.robot.config.jacobian_length * self._jacr[:, arm.dofs]])
        singular = np.linalg.svd(jacobian, compute_uv=False)
        return float(singular[0] / singular[-1]) if singular[-1] > 1e-12 else float("inf")

    def probe(self, arm: Arm, q: np.ndarray) -> tuple[np.ndarray, float]:
        """End-effector position and Jacobian condition of `arm` at `q` (the accepted state is untouched)."""
        self._probe.qpos[:] = q
        mujoco.mj_kinematics(self.model, self._probe)
        mujoco.mj_comPos(self.model, self._probe)
        return self._probe.site_xpos[arm.site].copy(), self.condition(arm, self._probe)

    def site_position(self, arm: Arm) -> np.ndarray:
        """End-effector position at the last accepted configuration."""
        return self._site[arm.name].copy()

    def tracking_error(self, arm: Arm, position: np.ndarray) -> float:
        """Distance (m) from the end effector, at the configuration last evaluated, to `position`."""
        return float(np.linalg.norm(self.data.site_xpos[arm.site] - position))

    def _new_penetration(self, arm: Arm, penetrations: dict[tuple[int, int], float]) -> bool:
        for (g1, g2), depth in penetrations.items():
            if (g1 in arm.geoms or g2 in arm.geoms) and \
                    depth > max(self.safety.penetration_m, self._baseline.get((g1, g2), 0.0) + _DEEPER_TOL):
                return True
        return False

    def _violation(self, arm: Arm, q: np.ndarray, current: np.ndarray, dt: float,
                   penetrations: dict[tuple[int, int], float]) -> Reason | None:
        joints = q[arm.qpos]
        if np.any(joints < arm.lower - _LIMIT_TOL) or np.any(joints > arm.upper + _LIMIT_TOL):
            return Reason.JOINT_LIMIT
        if np.any(np.abs(joints - current[arm.qpos]) > arm.max_velocity * dt + _LIMIT_TOL):
            return Reason.JOINT_LIMIT      # joint speed
        if self._new_penetration(arm, penetrations):
            return Reason.COLLISION
        return None

    def blocked_reason(self, arm: Arm, q: np.ndarray) -> Reason:
        """Why a reachable-looking target is not tracked: avoidance, a joint limit, or reach."""
        fromto = np.zeros(6)
        limit = self._min_distance + _NEAR_COLLISION
        for g1, g2 in self._watched[arm.name]:
            if mujoco.mj_geomDistance(self.model, self.data, g1, g2, limit + 0.01, fromto) < limit:
                return Reason.COLLISION
        joints = q[arm.qpos]
        if np.any(joints < arm.lower + _AT_LIMIT) or np.any(joints > arm.upper - _AT_LIMIT):
            return Reason.JOINT_LIMIT
        return Reason.OUT_OF_REACH

    def _hold(self, arm: Arm, q: np.ndarray, current: np.ndarray) -> None:
        q[arm.qpos] = current[arm.qpos]
        q[arm.gripper_qpos] = current[arm.gripper_qpos]

    def evaluate(self, current: np.ndarray, candidate: np.ndarray, targets: dict[str, ArmTarget], dt: float,
                 step_scale: float = 1.0, escaping: frozenset[str] = frozenset()) -> tuple[np.ndarray, dict[str, Verdict]]:
        """Commanded configuration and a verdict per arm with a target; arms without one keep `current`.
        `escaping` arms move in joint space out of a singularity (singularity_escape): the singularity
        rule does not apply to them, everything else does, and their reason stays SINGULARITY."""
        arms = [arm for arm in self.robot.arms if arm.name in targets]
        q = candidate.copy()
        for arm in self.robot.arms:
            if arm.name not in targets:
                self._hold(arm, q, current)
        max_step = self.safety.max_joint_step_rad * step_scale
        for arm in arms:
            delta = q[arm.qpos] - current[arm.qpos]
            largest = float(np.max(np.abs(delta)))
            if largest > max_step:
                q[arm.qpos] = current[arm.qpos] + delta * (max_step / largest)
        state = self._settle(q, current, arms, dt, escaping)
        verdicts = {arm.name: self._verdict(arm, q, targets[arm.name], state, dt, arm.name in escaping) for arm in arms}
        moved = [arm for arm in arms if arm.name not in state.held]
        self._baseline = state.penetrations
        for arm in moved:
            self._condition[arm.name] = state.conditions[arm.name]
            self._site[arm.name] = self.data.site_xpos[arm.site].copy()
        return q, verdicts

    def _settle(self, q: np.ndarray, current: np.ndarray, arms: list[Arm], dt: float, escaping: frozenset[str]) -> _State:
        """Hold or slow arms (in place in `q`) until a pass finds nothing more to change."""
        stop, slow = self.robot.config.singularity_stop, self.robot.config.singularity_slow
        state = _State()
        for _ in range(2 * len(arms) + 1):       # each change holds or slows one arm, once
            self._forward(q)
            state.penetrations = self._penetrations()
            settled = True
            for arm in arms:
                if arm.name in state.held:
                    continue
                reason = self._violation(arm, q, current, dt, state.penetrations)
                if reason is None:
                    condition = state.conditions[arm.name] = self.condition(arm)
                    approaching = condition > self._condition[arm.name] and arm.name not in escaping
                    if approaching and condition >= stop:
                        reason = Reason.SINGULARITY
                    elif approaching and condition > slow and arm.name not in state.slowed:
                        q[arm.qpos] = current[arm.qpos] + (stop - condition) / (stop - slow) * (q[arm.qpos] - current[arm.qpos])
                        state.slowed.add(arm.name)
                        settled = False
                if reason is not None:
                    state.held[arm.name] = reason
                    self._hold(arm, q, current)
                    settled = False
            if settled:
                return state
        raise AssertionError("safety check did not settle")   # bounded: at most 2 changes per arm

    def _verdict(self, arm: Arm, q: np.ndarray, target: ArmTarget, state: _State, dt: float,
                 escaping: bool = False) -> Verdict:
        error = self.tracking_error(arm, target.position)
        if arm.name in state.held:
            return Verdict(state.held[arm.name], True, error)
        if escaping:
            return Verdict(Reason.SINGULARITY, False, error)
        previous = float(np.linalg.norm(self._site[arm.name] - target.position))
        if target.clamped:                 # the root cause first: slowing down may follow from it
            reason = Reason.OUT_OF_REACH
        elif arm.name in state.slowed:
            reason = Reason.SINGULARITY
        elif error <= self.safety.tracking_tolerance_m or error <= previous - self.safety.min_approach_speed_mps * dt:
            reason = Reason.OK
        else:
            reason = self.blocked_reason(arm, q)
        return Verdict(reason, False, error)
