"""The retargeting core the node calls once per pose frame (no ROS).

step(): pick the operator, map each arm to an end-effector target, solve IK for the arms that
may move, check the result in MuJoCo, and return the commanded configuration with a status per
arm.  Anything wrong (stale or bad input, infeasible IK, failed check) holds the last safe
configuration.  Commands move only while engaged; engaging needs the robot near the operator's
mapped pose ('near') or moves it there, from reduced to full speed ('sync').  Arms engage one by one: an arm
whose input is missing at engagement (out of view, low confidence) holds, and when its input comes
back — then or after any loss — it moves to the operator's pose at reduced speed, never in a jump.

Input is used only when it can be trusted: a frame that breaks the message contract (input_check)
is rejected whole, an input arriving sooner than `safety.min_dt_s` after the previous cycle is
dropped (so the velocity limits, which scale with the time step, hold at any message rate), and an
operator unseen for `operator.lost_timeout_s` by this node's clock is forgotten and the robot
disengaged, whether frames keep arriving or none come at all (the node's watchdog calls hold()).

The robot's measured joint state (observe_state) seeds the commanded configuration and can hold
arms (measured_state.StateGate); each arm command is timed for its controller (command_shaper).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from pose_retarget.config import RetargetNodeConfig
from pose_retarget.gripper import GripperFilter
from pose_retarget.command_shaper import Segment
from pose_retarget.ik import ArmIK
from pose_retarget.input_check import frame_problem
from pose_retarget.mapping import ArmTarget, InputInvalid, Mapper
from pose_retarget.measured_state import StateGate
from pose_retarget.operator import OperatorSelector
from pose_retarget.robot import Robot
from pose_retarget.safety_check import MujocoCheck, Verdict
from pose_retarget.singularity_escape import SingularityEscape
from robot_model.config import load_robot_config
from teleop_common.pose import PoseFrame
from teleop_common.timing import StageClock
from teleop_common.status import Reason


CLAMPS = frozenset({Reason.OUT_OF_REACH, Reason.COLLISION, Reason.JOINT_LIMIT})   # not held: clamped
STUCK_S = 0.2     # s an arm must stay stuck (singularity hold, joint limit) before it escapes in joint space


@dataclass
class ArmResult:
    name: str
    joint_names: tuple[str, ...]
    positions: np.ndarray               # commanded arm joint positions
    gripper_joint_names: tuple[str, ...]
    gripper_positions: np.ndarray       # the actuated gripper joints (mimicking fingers follow)
    gripper_opening: float              # [0, 1], 0 closed
    reason: Reason
    held: bool                          # True when the arm did not move this cycle
    tracking_error: float               # m; NaN without a target
    target_position: np.ndarray | None  # robot base frame
    target_quaternion: np.ndarray | None  # w, x, y, z, robot base frame
    detail: str = ""                    # why the input was rejected, if it was
    segment: Segment | None = None      # the arm command (command_shaper); None: send none
    clamped: bool = False               # moving to the nearest pose the checks allow, the target being beyond it


@dataclass
class RetargetResult:
    stamp_ns: int
    engaged: bool
    operator_track_id: int
    arms: list[ArmResult]
    command: np.ndarray                 # full commanded configuration (qpos layout)
    dt: float                           # s since the previous step (clamped), for the simulation
    stage_ms: dict[str, float] = field(default_factory=dict)  # map / ik / check durations of this step
    rejected: str = ""                  # kind of input rejected whole this cycle ('too_fast': dropped)
    disengaged: str = ""                # why this cycle disengaged the robot, if it did


def _quaternion(rotation: np.ndarray) -> np.ndarray:
    quaternion = np.zeros(4)
    mujoco.mju_mat2Quat(quaternion, np.ascontiguousarray(rotation).reshape(9))
    return quaternion


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.arccos(np.clip((np.trace(a.T @ b) - 1.0) / 2.0, -1.0, 1.0)))


class Retargeter:
    def __init__(self, config: RetargetNodeConfig, robot: Robot | None = None) -> None:
        self.config = config
        self.robot = robot or Robot(load_robot_config(config.robot, config.robots_dir))
        self.selector = OperatorSelector(config.operator, config.input.min_confidence)
        self.mapper = Mapper(self.robot, config.mapping, config.input)
        self.ik = ArmIK(self.robot, config.ik)
        self.check = MujocoCheck(self.robot, config.safety, config.ik.collision_min_distance_m)
        self.escape = SingularityEscape(self.robot, self.ik, self.check, config.engage.max_distance_m)
        self.grippers = {arm.name: GripperFilter(config.gripper) for arm in self.robot.arms}
        self.state = StateGate(self.robot, config.state)
        self.q = self.robot.home.copy()        # last safe commanded configuration (measured while disengaged)
        self.engaged = False
        self.syncing: dict[str, float] = {}    # arms moving to their target at reduced speed, and for how long (s)
        self.escaping: dict[str, Reason] = {}  # arms moving out of a singularity / joint-limit trap, and why
        self._stuck_s: dict[str, float] = {}   # per arm: how long it has been stuck
        self._tracked: set[str] = set()        # arms that had a target in the previous cycle
        self._targets: dict[str, ArmTarget] = {}
        # An arm whose keypoints are invalid in a frame (a wrist missed for a frame or two, as the pose node's
        # temporal model would fill) keeps its last target for input.bridge_s: it goes on moving instead of
        # stalling, and is not slowed to re-sync when its input returns.  Longer, it holds.
        self._last_targets: dict[str, tuple[ArmTarget, int]] = {}   # per arm: last mapped target, its frame stamp
        self._bridged: dict[str, str] = {}           # this cycle's bridged arms, and why their input was invalid
        self._targets_stamp_ns = 0
        self._last_now_ns: int | None = None
        self._last_stamp_ns: int | None = None
        self._operator_seen_ns: int | None = None   # this node's clock, when the operator was last seen
        self._disengaged = ""                        # reported once, by the next result

    # -- engagement ------------------------------------------------------------------------------

    def _distances(self) -> dict[str, tuple[float, float]]:
        """Position (m) and orientation (rad) distance of each end effector to its target."""
        distances = {}
        poses = self.robot.ee_poses(self.q)
        for arm in self.robot.arms:
            target = self._targets.get(arm.name)
            if target is not None:
                position, rotation = poses[arm.name]
                distances[arm.name] = (float(np.linalg.norm(position - target.position)),
                                       _angle(rotation, target.rotation))
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
        age = (now_ns - self._targets_stamp_ns) * 1e-9
        fresh = -self.config.input.max_future_s <= age <= self.config.input.stale_timeout_s
        if not fresh or not self._targets or self.selector.track_id is None:
            return False, "no fresh operator pose for any arm"
        missing = [arm.name for arm in self.robot.arms if arm.name not in self._targets]
        waiting = f"; {', '.join(missing)} join(s) slowly once tracked" if missing else ""
        far_arms = set(self._targets) - self._near()
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
        self._last_now_ns = self._last_stamp_ns = self._operator_seen_ns = None
        self._targets, self._targets_stamp_ns, self._last_targets = {}, 0, {}
        self.selector.reset()
        self.mapper.reset()

    # -- one cycle --------------------------------------------------------------------------------

    def _dt(self, now_ns: int) -> float:
        s = self.config.safety
        dt = s.max_dt_s if self._last_now_ns is None else (now_ns - self._last_now_ns) * 1e-9
        self._last_now_ns = now_ns
        return float(np.clip(dt, s.min_dt_s, s.max_dt_s))

    def _disengage(self, why: str) -> None:
        if self.engaged:
            self._disengaged = why
        self.engaged, self.syncing = False, {}
        self.escaping.clear()
        self._stuck_s.clear()
        self.escape.forget()

    def _forget_lost_operator(self, now_ns: int) -> None:
        """Unseen for lost_timeout_s by this node's clock: choose afresh, and never keep driving the robot
        (a restarted pose node reuses track ids for whoever it sees first)."""
        if self.selector.track_id is None or self._operator_seen_ns is None:
            return
        unseen = (now_ns - self._operator_seen_ns) * 1e-9
        if unseen > self.config.operator.lost_timeout_s:
            self._disengage(f"operator (track {self.selector.track_id}) unseen for {unseen:.2f} s")
            self.selector.reset()
            self.mapper.reset()
            self._targets, self._last_targets = {}, {}

    def _everyone(self, reason: Reason, detail: str) -> dict[str, tuple[Reason, str]]:
        return {arm.name: (reason, detail) for arm in self.robot.arms}

    def _read_input(self, frame: PoseFrame, now_ns: int) -> tuple[dict[str, ArmTarget], dict[str, tuple[Reason, str]], str]:
        """Targets of the arms with valid input, the reason of the others, and the kind of a whole-frame rejection."""
        self._bridged = {}
        problem = frame_problem(frame, now_ns, self.config.input.max_future_s)
        if problem is not None:                 # rejected before it can make later frames look stale
            return {}, self._everyone(Reason.INPUT_INVALID, problem[1]), problem[0]
        stale = (now_ns - frame.stamp_ns) * 1e-9 > self.config.input.stale_timeout_s or \
            (self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns)
        if stale:
            return {}, self._everyone(Reason.INPUT_STALE, "input is stale"), ""
        self._last_stamp_ns = frame.stamp_ns
        previous = self.selector.track_id
        person = self.selector.select(frame.poses, frame.stamp_ns)
        if self.selector.track_id != previous and not self.selector.reacquired:   # the operator back: re-syncs
            self.mapper.reset()
            self._targets, self._last_targets = {}, {}   # engage only on the new operator's own pose
            if previous is not None:                # never carry an engagement over to someone else
                self._disengage(f"operator changed from track {previous} to {self.selector.track_id}")
        if person is None:
            return {}, self._everyone(Reason.INPUT_INVALID, self.selector.refused or "no operator in view"), ""
        self._operator_seen_ns = now_ns
        if not self.engaged:
            self.mapper.rebase()                    # hand source: motion counts from engagement on
        targets, problems = {}, {}
        for arm in self.robot.arms:
            try:
                targets[arm.name] = self.mapper.map_arm(person, arm, self.robot.shoulders[arm.name],
                                                        self.check.site_position(arm))
                self._last_targets[arm.name] = (targets[arm.name], frame.stamp_ns)
            except InputInvalid as error:
                last = self._last_targets.get(arm.name)
                if last and (frame.stamp_ns - last[1]) * 1e-9 <= self.config.input.bridge_s:
                    targets[arm.name] = last[0]         # bridged: on to the last target (see _bridged)
                    self._bridged[arm.name] = f"{error}; bridged: moving on to the last target"
                else:
                    problems[arm.name] = (Reason.INPUT_INVALID, str(error))
        return targets, problems, ""

    def step(self, frame: PoseFrame, now_ns: int) -> RetargetResult:
        """One input frame.  An input sooner than safety.min_dt_s after the previous cycle is dropped
        (result.rejected 'too_fast', nothing moves): the velocity limits scale with the real time step."""
        if self._last_now_ns is not None and (now_ns - self._last_now_ns) * 1e-9 < self.config.safety.min_dt_s:
            detail = f"input sooner than safety.min_dt_s ({self.config.safety.min_dt_s} s) after the last: dropped"
            return self._result(frame.stamp_ns, 0.0, {}, self._everyone(Reason.INPUT_STALE, detail), {}, "too_fast")
        clock = StageClock()
        dt = self._dt(now_ns)
        self._forget_lost_operator(now_ns)
        state_problems = self._seed_from_state(now_ns)
        targets, problems, rejected = self._read_input(frame, now_ns)
        clock.lap("map")
        if targets:
            self._targets, self._targets_stamp_ns = targets, frame.stamp_ns
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
            for name in self._near():
                self.syncing.pop(name, None)
        result = self._result(frame.stamp_ns, dt, targets, {**problems, **state_problems}, verdicts, rejected)
        clock.lap("check")
        self._shape(result, self.command_time(now_ns, clock), state_problems)
        result.stage_ms = clock.stages
        return result

    def _speed_scale(self, arms: set[str], dt: float) -> float:
        """Speed factor of this cycle: an arm moving to the operator's pose starts at
        engage.sync_speed_scale and reaches full speed after engage.sync_ramp_s, so an operator who keeps
        moving is caught up with instead of being chased slowly for ever."""
        engage = self.config.engage
        scale = 1.0
        for name in arms & self.syncing.keys():
            self.syncing[name] += dt
            ramp = min(1.0, self.syncing[name] / engage.sync_ramp_s) if engage.sync_ramp_s > 0 else 1.0
            scale = min(scale, engage.sync_speed_scale + (1.0 - engage.sync_speed_scale) * ramp)
        return scale

    def hold(self, now_ns: int, reason: Reason = Reason.INPUT_STALE, detail: str = "no pose input") -> RetargetResult:
        """A cycle without usable input (none arrived, or it could not be read): every arm holds, and
        an operator unseen for too long is forgotten (and the robot disengaged) even without frames."""
        dt = self._dt(now_ns)
        self._forget_lost_operator(now_ns)
        state_problems = self._seed_from_state(now_ns)
        result = self._result(now_ns, dt, {}, {**self._everyone(reason, detail), **state_problems}, {})
        self._shape(result, now_ns, state_problems)
        return result

    def observe_state(self, names: list[str], positions: list[float], now_ns: int, stamp_ns: int = 0,
                      velocities: list[float] | None = None) -> str | None:
        """The robot's measured joint state (controller joint names); returns why it was refused, if it was."""
        return self.state.measured.update(names, positions, now_ns, stamp_ns, velocities)

    def _seed_from_state(self, now_ns: int) -> dict[str, tuple[Reason, str]]:
        """Commands continue from the measured pose where the robot decides (disengaged, diverged);
        arms whose state is stale or diverged hold this cycle, and a re-seeded engaged arm re-syncs slowly."""
        problems, reseeded = self.state.check(self.q, self.engaged, now_ns)
        for arm in self.robot.arms:
            if arm.name in reseeded:
                self.grippers[arm.name].hold_at(arm.gripper_opening(self.q))
                self.escaping.pop(arm.name, None)
                self.escape.forget(arm.name)
        if self.engaged:
            self.syncing.update(dict.fromkeys(reseeded, 0.0))
        return problems

    def command_time(self, now_ns: int, clock: StageClock) -> int:
        """When this cycle's commands leave: after its work, so their segments start then, not at input."""
        return now_ns + int(sum(clock.stages.values()) * 1e6)

    def _shape(self, result: RetargetResult, now_ns: int, state_problems: dict) -> None:
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
        verdicts.update(self._escape(targets, verdicts, dt))
        for arm in self.robot.arms:        # a held arm keeps its gripper too
            if arm.name in verdicts and verdicts[arm.name].held:
                self.grippers[arm.name].hold_at(arm.gripper_opening(self.q))
        return verdicts

    def _escape(self, targets: dict[str, ArmTarget], verdicts: dict[str, Verdict], dt: float) -> dict[str, Verdict]:
        """Arms stuck at a singularity or a joint limit while their target has a well-conditioned
        solution move towards it in joint space at sync speed (checked like any command) until the end
        effector is near the target; then differential IK takes over again.  The others stay held."""
        for name, verdict in verdicts.items():
            stuck = verdict.reason == Reason.JOINT_LIMIT or (verdict.reason == Reason.SINGULARITY and verdict.held)
            self._stuck_s[name] = self._stuck_s.get(name, 0.0) + dt if stuck else 0.0
            trapped = self._stuck_s[name] >= STUCK_S or verdict.reason == Reason.SINGULARITY   # slow, never stop
            if stuck and trapped and name not in self.escaping:   # a moment at a joint limit is no trap
                self.escaping[name] = verdict.reason
        goals, hold = {}, []
        for arm in self.robot.arms:
            if arm.name not in self.escaping or arm.name not in targets:
                continue
            goal = self.escape.goal(arm, targets[arm.name], self.q)
            if goal is None:                     # the target is not in a well-conditioned region: hold
                hold.append(arm.name)
            else:
                goals[arm.name] = (arm, goal)
        out = {name: Verdict(self.escaping.pop(name), True, error)
               for name, error in self._errors(targets, hold).items()}
        if goals:
            scale = self.config.engage.sync_speed_scale
            candidate = self.q.copy()
            for arm, goal in goals.values():
                candidate[arm.qpos] = self.escape.step(arm, self.q, goal, dt, scale)[arm.qpos]
                candidate[arm.gripper_qpos] = arm.gripper_positions(self.grippers[arm.name].opening)
            self.q, escaped = self.check.evaluate(self.q, candidate, {n: targets[n] for n in goals}, dt, scale,
                                                  escaping=frozenset(goals))
            for name, verdict in escaped.items():
                out[name] = Verdict(verdict.reason if verdict.held else self.escaping[name], verdict.held,
                                    verdict.tracking_error)
                if verdict.tracking_error <= self.config.engage.max_distance_m:
                    del self.escaping[name]      # near the target: differential IK again from here
                    self.escape.forget(name)
        return out

    def _result(self, stamp_ns: int, dt: float, targets: dict[str, ArmTarget], problems: dict[str, tuple[Reason, str]],
                verdicts: dict[str, Verdict], rejected: str = "") -> RetargetResult:
        arms = []
        errors = self._errors(targets, [name for name in targets if name not in verdicts])
        for arm in self.robot.arms:
            target = targets.get(arm.name)
            reason, detail = problems.get(arm.name, (Reason.OK, ""))
            held, error = True, float("nan")
            position = quaternion = None
            if target is not None:
                verdict = verdicts.get(arm.name)
                error = verdict.tracking_error if verdict else errors[arm.name]
                if verdict:
                    reason, held = verdict.reason, verdict.held
                elif arm.name in problems:
                    pass                                 # held by the measured state
                elif target.clamped:
                    reason = Reason.OUT_OF_REACH
                if arm.name in self._bridged:        # reported as what it is, unless a check says more
                    detail = self._bridged[arm.name]
                    reason = Reason.INPUT_INVALID if reason == Reason.OK else reason
                base_position, base_rotation = self.robot.to_base(target.position, target.rotation)
                position, quaternion = base_position, _quaternion(base_rotation)
            arms.append(ArmResult(
                name=arm.name, joint_names=arm.command_names, positions=self.q[arm.qpos].copy(),
                gripper_joint_names=arm.gripper_command_names, gripper_positions=self.q[arm.gripper_command_qpos].copy(),
                gripper_opening=arm.gripper_opening(self.q), reason=reason, held=held, tracking_error=error,
                target_position=position, target_quaternion=quaternion, detail=detail,
                clamped=target is not None and not held and reason in CLAMPS))
        disengaged, self._disengaged = self._disengaged, ""
        return RetargetResult(stamp_ns=stamp_ns, engaged=self.engaged, operator_track_id=self.selector.track_id or 0,
                              arms=arms, command=self.q.copy(), dt=dt, rejected=rejected, disengaged=disengaged)
