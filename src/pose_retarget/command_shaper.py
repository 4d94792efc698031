"""Arm commands a JointTrajectoryController follows within the arm's velocity and acceleration limits,
at any input rate and despite transport delay (no rclpy).

The controller's setpoint is modelled as a chain of cubic segments, each from a state (position and
velocity) to its goal at rest.  A command is the next segment as a JTC takes it (ros2_controllers,
robot_model.spline): stamped with its absolute start, `max_delay_s` after it is sent, a first point at
time 0 (the running segment's state then) and the goal `duration_s` later, both with velocities (so
cubic).  A controller that receives it before its start blends from its current state into the first
point, and since both lie on the running cubic the blend is that cubic itself: the setpoint is exactly
this model, whatever the delay up to `max_delay_s` (the price: commands take effect that much later;
and while a segment sent has not started yet, no other is sent: at most one command per `max_delay_s`).
The velocity stays continuous and a cubic's acceleration is largest at its ends, so `duration_s`, the
shortest (never below the input period) that keeps |velocity| and |acceleration| within `margin` of the
limits on every joint, keeps the whole motion within them.  The measured state is compared with this
model too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_model import spline

_LONGEST_S = 30.0                                   # candidate durations: geometric from the input period
_CANDIDATES = 120
_FRACTIONS = np.linspace(0.0, 1.0, 17)[None, :, None]   # where each candidate is checked


@dataclass(frozen=True)
class Segment:
    start_ns: int               # absolute start (the command's header stamp)
    p0: np.ndarray
    v0: np.ndarray
    a0: np.ndarray
    goal: np.ndarray            # reached at rest
    duration_s: float

    def at(self, t_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity, acceleration at `t_ns` (at the start before it, at the goal after the end)."""
        if self.duration_s <= 0.0:
            return self.goal.copy(), np.zeros_like(self.goal), np.zeros_like(self.goal)
        s = float(np.clip((t_ns - self.start_ns) * 1e-9, 0.0, self.duration_s))
        return spline.evaluate(spline.coefficients(self.p0, self.goal, self.duration_s, self.v0, np.zeros_like(self.v0)), s)


class CommandShaper:
    """One arm's model of its controller's setpoint, and the next command."""

    def __init__(self, max_velocity: np.ndarray, max_acceleration: np.ndarray, margin: float,
                 max_delay_s: float = 0.0) -> None:
        self.v_max = max_velocity * margin
        self.a_max = max_acceleration * margin
        self.delay_ns = int(max_delay_s * 1e9)
        self.segment: Segment | None = None
        self._previous: Segment | None = None     # followed until the latest segment starts

    @property
    def seeded(self) -> bool:
        return self.segment is not None

    def reset(self, positions: np.ndarray, now_ns: int, velocities: np.ndarray | None = None) -> None:
        """The controller is at `positions` (measured there), moving at `velocities` (default: at rest):
        modelled as stopping within the acceleration limit."""
        v = np.zeros_like(positions) if velocities is None else velocities.copy()
        stop_s = float(np.max(np.abs(v) / self.a_max)) * 2.0
        self.segment = Segment(now_ns, positions.copy(), v, np.zeros_like(v), positions + v * stop_s / 2.0, stop_s)
        self._previous = None

    def expected(self, t_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The controller's setpoint position, velocity and acceleration at `t_ns`."""
        if self._previous is not None and t_ns < self.segment.start_ns:
            return self._previous.at(t_ns)
        return self.segment.at(t_ns)

    def command(self, goal: np.ndarray, now_ns: int, min_s: float) -> Segment | None:
        """The segment to `goal` sent at `now_ns`, starting `max_delay_s` later (the shortest within the limits);
        None while the last one sent has not started (the controller may not have it yet)."""
        if self.segment.start_ns > now_ns:
            return None
        start_ns = now_ns + self.delay_ns
        p0, v0, a0 = self.expected(start_ns)
        t = np.geomspace(min_s, max(_LONGEST_S, min_s), _CANDIDATES)[:, None, None]
        _, velocity, acceleration = spline.evaluate(spline.coefficients(p0, goal, t, v0, np.zeros_like(goal)),
                                                    _FRACTIONS * t)
        ok = np.all((np.abs(velocity) <= self.v_max) & (np.abs(acceleration) <= self.a_max), axis=(1, 2))
        duration = float(t[np.argmax(ok), 0, 0]) if ok.any() else float(t[-1, 0, 0])
        self._previous = self.segment
        self.segment = Segment(start_ns, p0, v0, a0, goal.copy(), duration)
        return self.segment
