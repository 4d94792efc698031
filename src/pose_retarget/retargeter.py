"""The retargeting core the node calls once per pose frame (no ROS).

step(): read the operator's targets (operator_input), solve IK for the arms that may move, check the
result in MuJoCo, and return the commanded configuration with a status per arm (results).  Anything
wrong (stale or bad input, infeasible IK, failed check) holds the last safe configuration; an arm
whose target lies beyond what it may reach is clamped (it moves to the nearest pose the checks
allow) and one held at a singularity takes the joint-space way out (singularity_escape).  Commands
move only while engaged; engaging needs the robot near the operator's mapped pose ('near') or moves
it there, from reduced to full speed ('sync').  Arms engage one by one: an arm whose input is missing
at engagement holds, and when its input comes back (then or after any loss) it moves to the
operator's pose the same way, never in a jump.

An input arriving sooner than `safety.min_dt_s` after the previous cycle is dropped, so the velocity
limits, which scale with the time step, hold at any message rate.  The robot's measured joint state
(observe_state) seeds the commanded configuration and can hold arms (measured_state.StateGate); each
arm command is timed for its controller (command_shaper).
"""
from __future__ import annotations

import numpy as np

from pose_retarget.config import RetargetNodeConfig
from pose_retarget.gripper import GripperFilter
from pose_retarget.ik import ArmIK
from pose_retarget.mapping import ArmTarget
from pose_retarget.measured_state import StateGate
from pose_retarget.operator_input import OperatorInput, Problems, Reading
from pose_retarget.results import CLAMPS, ArmResult, RetargetResult, quaternion
from pose_retarget.robot import Robot
from pose_retarget.safety_check import MujocoCheck, Verdict
from pose_retarget.singularity_escape import SingularityEscape
from robot_model.config import load_robot_config
from teleop_common.pose import PoseFrame
from teleop_common.status import Reason
from teleop_common.timing import StageClock


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.arccos(np.clip((np.trace(a.T @ b) - 1.0) / 2.0, -1.0, 1.0)))


class Retargeter:
    def __init__(self, config: RetargetNodeConfig, robot: Robot | None = None) -> None:
        self.config = config
        self.robot = robot or Robot(load_robot_config(config.robot, config.robots_dir))
        self.input = OperatorInput(config, self.robot)
        self.ik = ArmIK(self.robot, config.ik)
        self.check = MujocoCheck(self.robot, config.safety, config.ik.collision_min_distance_m)
        self.escape = SingularityEscape(self.robot, self.ik, self.check, config.engage)
        self.grippers = {arm.name: GripperFilter(config.gripper) for arm in self.robot.arms}
        self.state = StateGate(self.robot, config.state)
        self.q = self.robot.home.copy()        # last safe commanded configuration (measured while disengaged)
        self.engaged = False
        self.syncing: dict[str, float] = {}    # arms moving to their target at reduced speed, and for how long (s)
        self._restarting: set[str] = set()     # re-seeded from a diverged robot: at sync speed until near, no ramp
        self._tracked: set[str] = set()        # arms that had a target in the previous cycle
        self._last_now_ns: int | None = None
        self._disengaged = ""                  # reported once, by the next result

    @property
    def escaping(self) -> dict[str, Reason]:
        """Arms on the joint-space way out of a trap, and why they were held."""
        return self.escape.escaping

    # -- engagement ------------------------------------------------------------------------------

    def _distances(self) -> dict[str, tuple[float, float]]:
        """Position (m) and orientation (rad) distance of each end effector to its target."""
        distances = {}
        poses = self.robot.ee_poses(self.q)
        for name, target in self.input.targets.items():
            position, rotation = poses[name]
            distances[name] = (float(np.linalg.norm(position - target.position)), _angle(rotation, target.rotation))
        return distances

    def _errors(self, targets: dict[str, ArmTarget], names: list[str]) -> dict[str, float]:
        """Distance (m) from each named arm's end effector at the commanded configuration to its
        target; one kinematics pass serves all of them."""
        if not names:
            return {}
        poses = self.robot.ee_poses(self.q)
        return {name: float(np.linalg.norm(poses[name][0] - targets[name].position)) for name in names}

    def _near(self) -> set[str]:
        """Arms whose end effector is within the engage tolerances of their target."""
        e = self.config.engage
        return {name for name, (d, a) in self._distances().items() if d <= e.max_distance_m and a <= e.max_angle_rad}

    def engage(self, enable: bool, now_ns: int) -> tuple[bool, str]:
        """Engage (start commanding) or disengage; refuses when the operator's pose is unknown or far."""
        if not enable:
            self._disengage("")
            return True, "disengaged"
        if self.engaged:
            return True, "already engaged"
        if not self.state.measured.fresh(now_ns):
            return False, "no fresh joint state from the robot"
        self._seed_from_state(now_ns)        # engaging starts from where the robot is now
        if not self.input.fresh(now_ns):
            return False, "no fresh operator pose for any arm"
        missing = [arm.name for arm in self.robot.arms if arm.name not in self.input.targets]
        waiting = f"; {', '.join(missing)} join(s) slowly once tracked" if missing else ""
        far_arms = set(self.input.targets) - self._near()
        if not far_arms:
            self.engaged, self.syncing = True, {}
            return True, "engaged" + waiting
        far = "; ".join(f"{name} {d:.3f} m {np.degrees(a):.0f} deg"
                        for name, (d, a) in self._distances().items() if name in far_arms)
        if self.config.engage.mode == "sync":
            self.engaged, self.syncing = True, dict.fromkeys(far_arms, 0.0)
            return True, f"engaged; moving slowly to the operator's pose ({far}){waiting}"
        return False, f"robot is far from the operator's pose ({far}); match it and retry"

    def clock_jumped(self, why: str) -> None:
        """The node's clock jumped: times taken before mean nothing now.  Disengage and forget them
        (frames, the operator's last sighting), so that frames on the new time base are read afresh."""
        self._disengage(why)
        self._last_now_ns = None
        self.input.forget(times=True)

    def _disengage(self, why: str) -> None:
        if self.engaged:
            self._disengaged = why
        self.engaged, self.syncing, self._restarting = False, {}, set()
        self.escape.forget()

    def _speed_scale(self, arms: set[str], dt: float) -> float:
        """Speed factor of this cycle: an arm moving to the operator's pose starts at
        engage.sync_speed_scale and reaches full speed after engage.sync_ramp_s, so an operator who keeps
        moving is caught up with instead of being chased slowly for ever."""
        engage = self.config.engage
        scale = 1.0
        for name in arms & self.syncing.keys():
            self.syncing[name] += dt
            ramp = min(1.0, self.syncing[name] / engage.sync_ramp_s) if engage.sync_ramp_s > 0 else 1.0
            if name in self._restarting:         # a robot restarted or pushed: slowly all the way
                ramp = 0.0
            scale = min(scale, engage.sync_speed_scale + (1.0 - engage.sync_speed_scale) * ramp)
        return scale

    # -- one cycle --------------------------------------------------------------------------------

    def _dt(self, now_ns: int) -> float:
        s = self.config.safety
        dt = s.max_dt_s if self._last_now_ns is None else (now_ns - self._last_now_ns) * 1e-9
        self._last_now_ns = now_ns
        return float(np.clip(dt, s.min_dt_s, s.max_dt_s))

    def _forget_lost_operator(self, now_ns: int) -> None:
        why = self.input.lost(now_ns)
        if why:
            self._disengage(why)

    def step(self, frame: PoseFrame, now_ns: int) -> RetargetResult:
        """One input frame.  An input sooner than safety.min_dt_s after the previous cycle is dropped
        (result.rejected 'too_fast', nothing moves): the velocity limits scale with the real time step."""
        if self._last_now_ns is not None and (now_ns - self._last_now_ns) * 1e-9 < self.config.safety.min_dt_s:
            detail = f"input sooner than safety.min_dt_s ({self.config.safety.min_dt_s} s) after the last: dropped"
            reading = Reading(problems=self.input.everyone(Reason.INPUT_STALE, detail), rejected="too_fast")
            return self._result(frame.stamp_ns, 0.0, reading, {})
        clock = StageClock()
        dt = self._dt(now_ns)
        self._forget_lost_operator(now_ns)
        state_problems = self._seed_from_state(now_ns)
        reading = self.input.read(frame, now_ns, self.engaged,
                                  {arm.name: self.check.site_position(arm) for arm in self.robot.arms})
        if reading.operator_changed:
            self._disengage(reading.operator_changed)
        clock.lap("map")
        targets = reading.targets
        if self.engaged:                      # an arm whose input returns re-syncs slowly
            self.syncing.update(dict.fromkeys(set(targets) - self._tracked, 0.0))
        self._tracked = set(targets)
        movable = {name: target for name, target in targets.items() if name not in state_problems}
        verdicts: dict[str, Verdict] = {}
        if self.engaged and movable:
            scale = self._speed_scale(set(movable), dt)
            for name, target in movable.items():
                self.grippers[name].update(target.pinch_ratio, dt)
            verdicts = self._move(movable, dt, scale, clock)
            for name in self._near() if self.syncing else ():    # kinematics only while an arm syncs
                self.syncing.pop(name, None)
                self._restarting.discard(name)
        reading.problems.update(state_problems)
        result = self._result(frame.stamp_ns, dt, reading, verdicts)
        clock.lap("check")
        self._shape(result, self.command_time(now_ns, clock), state_problems)
        result.stage_ms = clock.stages
        return result

    def hold(self, now_ns: int, reason: Reason = Reason.INPUT_STALE, detail: str = "no pose input") -> RetargetResult:
        """A cycle without usable input (none arrived, or it could not be read): every arm holds, and
        an operator unseen for too long is forgotten (and the robot disengaged) even without frames."""
        dt = self._dt(now_ns)
        self._forget_lost_operator(now_ns)
        state_problems = self._seed_from_state(now_ns)
        result = self._result(now_ns, dt, Reading(problems={**self.input.everyone(reason, detail), **state_problems}), {})
        self._shape(result, now_ns, state_problems)
        return result

    def observe_state(self, names: list[str], positions: list[float], now_ns: int, stamp_ns: int = 0,
                      velocities: list[float] | None = None) -> str | None:
        """The robot's measured joint state (controller joint names); returns why it was refused, if it was."""
        return self.state.measured.update(names, positions, now_ns, stamp_ns, velocities)

    def _seed_from_state(self, now_ns: int) -> Problems:
        """Commands continue from the measured pose where the robot decides (disengaged, diverged);
        arms whose state is stale or diverged hold this cycle, and a re-seeded engaged arm re-syncs slowly."""
        problems, reseeded = self.state.check(self.q, self.engaged, now_ns)
        for arm in self.robot.arms:
            if arm.name in reseeded:
                self.grippers[arm.name].hold_at(arm.gripper_opening(self.q))
                self.escape.forget(arm.name)
        if self.engaged:
            self.syncing.update(dict.fromkeys(reseeded, 0.0))
            self._restarting |= reseeded
        return problems

    def command_time(self, now_ns: int, clock: StageClock) -> int:
        """When this cycle's commands leave: after its work, so their segments start then, not at input."""
        return now_ns + int(sum(clock.stages.values()) * 1e6)

    def _shape(self, result: RetargetResult, now_ns: int, state_problems: Problems) -> None:
        """Each arm command sent this cycle: the segment its controller follows within the limits."""
        if not result.engaged:
            return
        for arm in result.arms:
            if arm.name not in state_problems:
                arm.segment = self.state.command(arm.name, arm.positions, now_ns, result.dt)

    def _move(self, targets: dict[str, ArmTarget], dt: float, scale: float, clock: StageClock) -> dict[str, Verdict]:
        arms = [arm for arm in self.robot.arms if arm.name in targets]
        start = self.q.copy()      # IK sees the new gripper opening, so avoidance accounts for the fingers
        for arm in arms:
            start[arm.gripper_qpos] = arm.gripper_positions(self.grippers[arm.name].opening)
        tracked = {name: target for name, target in targets.items() if name not in self.escaping}
        verdicts: dict[str, Verdict] = {}
        candidate = self.ik.solve(start, {n: (t.position, t.rotation) for n, t in tracked.items()}, dt * scale) \
            if tracked else None
        clock.lap("ik")
        if tracked and candidate is None:     # infeasible QP: hold, and say what blocks each arm
            errors = self._errors(targets, list(tracked))
            verdicts = {arm.name: Verdict(self.check.blocked_reason(arm, self.q), True, errors[arm.name])
                        for arm in arms if arm.name in tracked}
        elif tracked:
            self.q, verdicts = self.check.evaluate(self.q, candidate, tracked, dt, scale)
        self.q, escaped = self.escape.run(targets, verdicts, self.q, dt,
                                          {name: gripper.opening for name, gripper in self.grippers.items()})
        verdicts.update(escaped)
        for arm in self.robot.arms:        # a held arm keeps its gripper too
            if arm.name in verdicts and verdicts[arm.name].held:
                self.grippers[arm.name].hold_at(arm.gripper_opening(self.q))
        return verdicts

    def _result(self, stamp_ns: int, dt: float, reading: Reading, verdicts: dict[str, Verdict]) -> RetargetResult:
        targets, problems = reading.targets, reading.problems
        arms = []
        errors = self._errors(targets, [name for name in targets if name not in verdicts])
        for arm in self.robot.arms:
            target = targets.get(arm.name)
            reason, detail = problems.get(arm.name, (Reason.OK, ""))
            held, error = True, float("nan")
            position = rotation = None
            if target is not None:
                verdict = verdicts.get(arm.name)
                error = verdict.tracking_error if verdict else errors[arm.name]
                if verdict:
                    reason, held = verdict.reason, verdict.held
                elif arm.name in problems:
                    pass                                 # held by the measured state
                elif target.clamped:
                    reason = Reason.OUT_OF_REACH
                if arm.name in reading.bridged:          # reported as what it is, unless a check says more
                    detail = reading.bridged[arm.name]
                    reason = Reason.INPUT_INVALID if reason == Reason.OK else reason
                position, base_rotation = self.robot.to_base(target.position, target.rotation)
                rotation = quaternion(base_rotation)
            arms.append(ArmResult(
                name=arm.name, joint_names=arm.command_names, positions=self.q[arm.qpos].copy(),
                gripper_joint_names=arm.gripper_command_names, gripper_positions=self.q[arm.gripper_command_qpos].copy(),
                gripper_opening=arm.gripper_opening(self.q), reason=reason, held=held, tracking_error=error,
                target_position=position, target_quaternion=rotation, detail=detail,
                clamped=target is not None and not held and reason in CLAMPS, bridged=arm.name in reading.bridged))
        disengaged, self._disengaged = self._disengaged, ""
        return RetargetResult(stamp_ns=stamp_ns, engaged=self.engaged, operator_track_id=self.input.selector.track_id or 0,
                              arms=arms, command=self.q.copy(), dt=dt, rejected=reading.rejected, disengaged=disengaged)
