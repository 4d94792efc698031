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

import functools
from dataclasses import dataclass

import numpy as np

from robot_model import spline

_LONGEST_S = 30.0                                   # candidate durations: geometric from the input period
_CANDIDATES = 120
_STEPS = np.linspace(0.0, 1.0, _CANDIDATES)[:, None]   # exponents of the geometric grid (np.geomspace costs 45 us a call)


def _within_limits(p0: np.ndarray, v0: np.ndarray, goal: np.ndarray, t: np.ndarray, v_max: np.ndarray,
                   a_max: np.ndarray) -> np.ndarray:
    """For each candidate duration (rows of t): does the cubic to `goal` at rest keep every joint within
    the limits?  Its acceleration is linear (extremes at the ends); its speed peaks at an end or where
    the acceleration crosses zero."""
    _, _, c2, c3, _, _ = spline.coefficients(p0, goal, t, v0, np.zeros_like(goal))
    acceleration = np.maximum(np.abs(2 * c2), np.abs(2 * c2 + 6 * c3 * t))
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(c3 != 0, -c2 / (3 * c3), -1.0)
    inside = (vertex > 0) & (vertex < t)
    peak = np.where(inside, np.abs(v0 + 2 * c2 * vertex + 3 * c3 * vertex**2), 0.0)
    return np.all((np.maximum(np.abs(v0), peak) <= v_max) & (acceleration <= a_max), axis=1)


@dataclass(frozen=True)
class Segment:
    start_ns: int               # absolute start (the command's header stamp)
    p0: np.ndarray
    v0: np.ndarray
    a0: np.ndarray
    goal: np.ndarray            # reached at rest
    duration_s: float

    @functools.cached_property
    def _coefficients(self) -> tuple:
        return spline.coefficients(self.p0, self.goal, max(self.duration_s, 1e-9), self.v0, np.zeros_like(self.v0))

    def at(self, t_ns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity, acceleration at `t_ns` (at the start before it, at the goal after the end);
        an array of times gives one row per time."""
        s = np.clip((np.asarray(t_ns, dtype=np.int64) - self.start_ns) * 1e-9, 0.0, max(self.duration_s, 0.0))
        s = s[..., None] if s.ndim else float(s)
        c0, c1, c2, c3 = self._coefficients[:4]               # a cubic: the quintic terms of spline.evaluate are 0
        return c0 + s * (c1 + s * (c2 + s * c3)), c1 + s * (2 * c2 + s * 3 * c3), 2 * c2 + s * 6 * c3


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

    def positions(self, times_ns: np.ndarray) -> np.ndarray:
        """Setpoint positions at several times (one row each)."""
        rows = self.segment.at(times_ns)[0]
        if self._previous is not None:
            before = times_ns < self.segment.start_ns
            rows[before] = self._previous.at(times_ns[before])[0]
        return rows

    def command(self, goal: np.ndarray, now_ns: int, min_s: float) -> Segment | None:
        """The segment to `goal` sent at `now_ns`, starting `max_delay_s` later (the shortest within the limits);
        None while the last one sent has not started (the controller may not have it yet)."""
        if self.segment.start_ns > now_ns:
            return None
        start_ns = now_ns + self.delay_ns
        p0, v0, a0 = self.expected(start_ns)
        t = min_s * (max(_LONGEST_S, min_s) / min_s) ** _STEPS      # min_s first, exactly
        ok = _within_limits(p0, v0, goal, t, self.v_max, self.a_max)
        duration = float(t[np.argmax(ok), 0]) if ok.any() else float(t[-1, 0])
        self._previous = self.segment
        self.segment = Segment(start_ns, p0, v0, a0, goal.copy(), duration)
        return self.segment
