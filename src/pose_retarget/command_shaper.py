"""How long each command must take so that a JointTrajectoryController following it stays within the
arm's velocity and acceleration limits (no rclpy).

Each command is one point with positions and zero velocities, so a JTC interpolates it as a cubic from
its current desired state (position and velocity, `interpolate_from_desired_state`) and a new command
replaces the running one.  This module keeps the same model of the controller's setpoint (the segment
it was last sent), and picks the shortest `time_from_start` (never below the input period) for which
that cubic keeps |velocity| and |acceleration| within `margin` of the limits on every joint.  Because
the velocity is continuous across commands and the acceleration bounded, the limits hold at the robot
at any input rate; `expected()` is also what the measured state is compared with.

The controller starts each command when it receives it, a transport delay later.  A constant delay
only shifts the controller's timeline; its variation (`jitter_s`) makes the controller start from a
slightly different state than modelled, so the duration must satisfy the limits from the states
`jitter_s` before and after the modelled start too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_LONGEST_S = 30.0            # candidate durations: geometric from the input period up to this
_CANDIDATES = 200


@dataclass
class _Segment:
    start_ns: int
    p0: np.ndarray
    v0: np.ndarray
    goal: np.ndarray
    duration_s: float


def _coefficients(p0: np.ndarray, v0: np.ndarray, goal: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """c2, c3 of p(s) = p0 + v0 s + c2 s^2 + c3 s^3 reaching `goal` at rest after t (broadcast over t)."""
    delta = goal - p0
    return (3 * delta - 2 * v0 * t) / t**2, (-2 * delta + v0 * t) / t**3


def _within(p0: np.ndarray, v0: np.ndarray, goal: np.ndarray, t: np.ndarray, v_max: np.ndarray,
            a_max: np.ndarray) -> np.ndarray:
    """For each candidate duration (rows of t, shape (n, 1)): does every joint stay within the limits?"""
    c2, c3 = _coefficients(p0, v0, goal, t)
    accel = np.maximum(np.abs(2 * c2), np.abs(2 * c2 + 6 * c3 * t))       # acceleration is linear in s
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(c3 != 0, -c2 / (3 * c3), -1.0)
    inside = (vertex > 0) & (vertex < t)
    peak = np.where(inside, np.abs(v0 + 2 * c2 * vertex + 3 * c3 * vertex**2), 0.0)
    speed = np.maximum(np.abs(v0), peak)
    return np.all((speed <= v_max) & (accel <= a_max), axis=1)


class CommandShaper:
    """One arm's model of its controller's setpoint, and the duration of the next command."""

    def __init__(self, max_velocity: np.ndarray, max_acceleration: np.ndarray, margin: float) -> None:
        self.v_max = max_velocity * margin
        self.a_max = max_acceleration * margin
        self._segment: _Segment | None = None

    @property
    def seeded(self) -> bool:
        return self._segment is not None

    def reset(self, positions: np.ndarray, now_ns: int, velocities: np.ndarray | None = None) -> None:
        """The controller is at `positions` (it was measured there), moving at `velocities` (default: at rest)."""
        v = np.zeros_like(positions) if velocities is None else velocities.copy()
        if not np.any(v):
            self._segment = _Segment(now_ns, positions.copy(), v, positions.copy(), 0.0)
        else:       # it keeps moving: model the stop it would make within the acceleration limit
            stop_s = float(np.max(np.abs(v) / self.a_max)) * 2.5
            goal = positions + v * stop_s / 3.0
            self._segment = _Segment(now_ns, positions.copy(), v, goal, stop_s)

    def expected(self, now_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """The controller's setpoint position and velocity at `now_ns`."""
        seg = self._segment
        s = max(0.0, (now_ns - seg.start_ns) * 1e-9)
        if s >= seg.duration_s:
            return seg.goal.copy(), np.zeros_like(seg.goal)
        c2, c3 = _coefficients(seg.p0, seg.v0, seg.goal, np.float64(seg.duration_s))
        return seg.p0 + seg.v0 * s + c2 * s**2 + c3 * s**3, seg.v0 + 2 * c2 * s + 3 * c3 * s**2

    def command(self, goal: np.ndarray, now_ns: int, min_s: float, jitter_s: float = 0.0) -> float:
        """The time_from_start of a command to `goal` sent now (the shortest within the limits)."""
        p0, v0 = self.expected(now_ns)
        if np.allclose(goal, p0, atol=1e-9) and not np.any(v0):
            duration = min_s
        else:
            t = np.geomspace(min_s, max(_LONGEST_S, min_s), _CANDIDATES)[:, None]
            ok = np.ones(len(t), dtype=bool)
            for offset in {-jitter_s, 0.0, jitter_s}:
                p, v = self.expected(now_ns + int(offset * 1e9))
                ok &= _within(p, v, goal, t, self.v_max, self.a_max)
            duration = float(t[np.argmax(ok), 0]) if ok.any() else float(t[-1, 0])
        self._segment = _Segment(now_ns, p0, v0, goal.copy(), duration)
        return duration
