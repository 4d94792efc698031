"""The robot's measured joint state as the retargeting core uses it (no rclpy).

Commands start from what the robot measures, not from what this node believes: while disengaged (and
so after this node's restart) the commanded configuration is the measured one, so the first command
continues from where the arm is.  While engaged, an arm holds with its own reason when the state is
older than `state.stale_timeout_s` (STATE_STALE: nothing is sent, so a robot that comes back is not
sent stale targets), or when the arm is farther than `state.max_divergence_rad` from where its
controller should be by now (STATE_DIVERGED: a robot restarted, pushed or blocked); the arm then
restarts from the measured pose, slowly.  The setpoint is known exactly (command_shaper); the measured
joints may lag it by up to `state.max_lag_s` (servo and transport) before that counts as divergence.  Joint names are the controllers' (robot description's
`controller_joints`), as a joint_state_broadcaster publishes them.
"""
from __future__ import annotations

import numpy as np

from pose_retarget.command_shaper import CommandShaper, Segment
from pose_retarget.config import StateConfig
from pose_retarget.robot import Robot
from teleop_common.status import Reason


_STILL_RAD_S = 0.05     # measured joint speeds below this: the arm has stopped


class MeasuredState:
    """The last joint state in the model's configuration layout, and when it arrived."""

    def __init__(self, robot: Robot, config: StateConfig) -> None:
        self.robot, self.config = robot, config
        self.q = robot.home.copy()
        self.velocity = np.zeros(robot.model.nv)
        self.received_ns: int | None = None      # this node's clock: freshness
        self.stamp_ns = 0                        # when it was measured (the state's stamp, else its receipt)
        self._qpos: dict[str, int] = {}
        for arm in robot.arms:
            self._qpos.update(zip(arm.command_names, (int(i) for i in arm.qpos)))
            self._qpos.update(zip(arm.gripper_command_names, (int(i) for i in arm.gripper_command_qpos)))
        self._required = set(self._qpos)
        # Measured joints a hair past a limit (a servo pressing on its stop) would make the IK infeasible.
        model = robot.model
        self._lower, self._upper = np.full(model.nq, -np.inf), np.full(model.nq, np.inf)
        for joint in np.flatnonzero(model.jnt_limited):
            self._lower[model.jnt_qposadr[joint]], self._upper[model.jnt_qposadr[joint]] = model.jnt_range[joint]
        self._mimic = {m.joint: int(i) for arm in robot.arms
                       for m, i in zip(arm.config.gripper.mimic, arm.gripper_qpos[arm.gripper_commanded:])}

    def update(self, names: list[str], positions: list[float], now_ns: int, stamp_ns: int = 0,
               velocities: list[float] | None = None) -> str | None:
        """Take a JointState's names, positions (and velocities) and stamp; returns why it was refused, if it was.
        A stamp that is 0 or ahead of this node's clock (another machine's clock) counts as measured on receipt."""
        if len(names) != len(positions):
            return f"{len(names)} names for {len(positions)} positions"
        values = dict(zip(names, positions))
        missing = self._required - set(values)
        if missing:
            return f"joint state lacks {sorted(missing)}"
        used = [(self._qpos[n], values[n]) for n in self._required]
        if not all(np.isfinite(v) for _, v in used):
            return "joint state holds NaN or infinite positions"
        for index, value in used:
            self.q[index] = min(max(value, self._lower[index]), self._upper[index])
        speeds = dict(zip(names, velocities or ()))
        for arm in self.robot.arms:
            self.velocity[arm.dofs] = [float(speeds.get(n, 0.0)) if np.isfinite(speeds.get(n, 0.0)) else 0.0
                                       for n in arm.command_names]
        for arm in self.robot.arms:      # fingers mimicking a leader: measured if published, else derived
            mimic = arm.gripper_qpos[arm.gripper_commanded:]
            self.q[mimic] = arm.gripper_positions(arm.gripper_opening(self.q))[arm.gripper_commanded:]
        for name, index in self._mimic.items():
            if name in values and np.isfinite(values[name]):
                self.q[index] = min(max(values[name], self._lower[index]), self._upper[index])
        self.received_ns = now_ns
        self.stamp_ns = stamp_ns if 0 < stamp_ns <= now_ns else now_ns
        return None

    def age_s(self, now_ns: int) -> float:
        return float("inf") if self.received_ns is None else (now_ns - self.received_ns) * 1e-9

    def fresh(self, now_ns: int) -> bool:
        return self.age_s(now_ns) <= self.config.stale_timeout_s


class StateGate:
    """Seeds the commanded configuration from the measured one and holds arms the state disowns;
    shapes each arm command's duration for its controller (command_shaper)."""

    def __init__(self, robot: Robot, config: StateConfig) -> None:
        self.robot, self.config = robot, config
        self.measured = MeasuredState(robot, config)
        self._settling: dict[str, str] = {}    # diverged arms waiting to be still, and why they diverged
        self.shapers = {arm.name: CommandShaper(arm.max_velocity, arm.max_acceleration, config.speed_margin,
                                                config.max_delay_s)
                        for arm in robot.arms}

    def check(self, q: np.ndarray, engaged: bool, now_ns: int) -> tuple[dict[str, tuple[Reason, str]], set[str]]:
        """Per arm, a reason to hold (if any); `q` (the commanded configuration) is re-seeded in place
        from the measured one where the robot, not this node, decides.  Also returns the re-seeded arms."""
        state = self.measured
        if not state.fresh(now_ns):
            age = state.age_s(now_ns)
            detail = "no joint state received yet" if state.received_ns is None else \
                f"joint state {age:.2f} s old (state.stale_timeout_s {self.config.stale_timeout_s} s)"
            return {arm.name: (Reason.STATE_STALE, detail) for arm in self.robot.arms}, set()
        if not engaged:
            self._settling.clear()
            q[:] = state.q
            for arm in self.robot.arms:
                self.shapers[arm.name].reset(state.q[arm.qpos], now_ns)
            return {}, {arm.name for arm in self.robot.arms}
        problems, reseeded = {}, set()
        for arm in self.robot.arms:
            if not self.shapers[arm.name].seeded:            # engaged without a fresh state before: start here
                self.shapers[arm.name].reset(state.q[arm.qpos], now_ns)
            if arm.name not in self._settling:
                divergence = self._divergence(arm.name, state.q[arm.qpos], state.stamp_ns)
                if divergence <= self.config.max_divergence_rad:
                    continue
                self._settling[arm.name] = f"measured {divergence:.3f} rad from the commanded setpoint " \
                                           f"(state.max_divergence_rad {self.config.max_divergence_rad})"
            # Nothing is sent until the arm is still (its controller ends what it has); then it restarts from there.
            q[arm.qpos] = state.q[arm.qpos]
            q[arm.gripper_qpos] = state.q[arm.gripper_qpos]
            reseeded.add(arm.name)
            if np.max(np.abs(state.velocity[arm.dofs])) <= _STILL_RAD_S:
                self.shapers[arm.name].reset(state.q[arm.qpos], now_ns)
                problems[arm.name] = (Reason.STATE_DIVERGED, self._settling.pop(arm.name))
            else:
                problems[arm.name] = (Reason.STATE_DIVERGED, self._settling[arm.name] + "; waiting for the arm to stop")
        return problems, reseeded

    def _divergence(self, arm_name: str, measured: np.ndarray, stamp_ns: int) -> float:
        """rad from the measured joints to where the setpoint was over the last `state.max_lag_s` before the
        measurement (a servo and its transport lag behind the setpoint; that is not a divergence)."""
        lag_ns = int(self.config.max_lag_s * 1e9)
        path = self.shapers[arm_name].positions(stamp_ns - np.arange(9, dtype=np.int64) * (lag_ns // 8))
        outside = np.maximum(path.min(axis=0) - measured, measured - path.max(axis=0))
        return float(np.max(np.maximum(outside, 0.0)))

    def command(self, arm_name: str, positions: np.ndarray, now_ns: int, min_s: float) -> Segment | None:
        """The command segment to `positions` sent now (command_shaper; None: send none this cycle)."""
        return self.shapers[arm_name].command(positions, now_ns, min_s)
