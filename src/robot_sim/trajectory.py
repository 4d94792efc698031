"""A JointTrajectoryController's interpolation, without ROS: what a ros2_control arm does with a
`JointTrajectory` (ros2_controllers' joint_trajectory_controller, Kilted).

- A valid trajectory **replaces** the running one; it blends, from now, from the controller's current
  desired state (position and velocity: `interpolate_from_desired_state`, meant for streaming) or from
  the measured state into its points.  Stamp 0 starts now; a non-zero stamp is an absolute start on
  the controller's clock (points already past are skipped), and a trajectory that has already ended is
  refused.
- Per segment, from what both ends carry: positions only -> linear; with velocities -> cubic; with
  accelerations too -> quintic (robot_model.spline).  A first point that is not ahead (time 0, or a
  start in the past) gets no blend: the setpoint follows the points from where they are now.  After
  the last point the setpoint stays there.
- Refused, with the reason, and the running trajectory kept: unknown or repeated joints, a partial
  goal (unless allowed), no points, sizes that do not match, times not strictly increasing, non-finite
  values, a non-zero velocity at the last point.
- `command()` is forward_command_controller's: positions written raw, no interpolation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_model import spline


@dataclass(frozen=True)
class TrajectoryPoint:
    time_s: float                         # time_from_start
    positions: tuple[float, ...]
    velocities: tuple[float, ...] = ()    # empty: positions only
    accelerations: tuple[float, ...] = ()


@dataclass(frozen=True)
class _Knot:
    time_s: float                         # on the controller's clock
    positions: np.ndarray
    velocities: np.ndarray | None
    accelerations: np.ndarray | None = None


class Rejected(ValueError):
    """A trajectory or command the controller refuses; `kind` names the reason for the counters."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def _coefficients(a: _Knot, b: _Knot) -> tuple:
    """The polynomial from knot a to knot b (a zero-length segment: b held)."""
    span = b.time_s - a.time_s
    if span <= 0.0:
        return spline.coefficients(b.positions, b.positions, 1.0)
    return spline.coefficients(a.positions, b.positions, span, a.velocities, b.velocities, a.accelerations,
                               b.accelerations)


class TrajectoryFollower:
    """One controller's joints: the setpoint over time for the trajectories and commands it accepts."""

    def __init__(self, joint_names: tuple[str, ...], positions: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 allow_partial_joints_goal: bool = False, interpolate_from_desired_state: bool = True) -> None:
        self.joint_names = tuple(joint_names)
        self._index = {name: i for i, name in enumerate(self.joint_names)}
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)
        self.allow_partial = allow_partial_joints_goal
        self.from_desired = interpolate_from_desired_state
        self._set([_Knot(0.0, np.clip(np.asarray(positions, float), self.lower, self.upper), None)])

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Desired position (inside the joint limits), velocity and acceleration at controller time `t`."""
        knots, zero = self._knots, np.zeros(len(self.joint_names))
        if t <= knots[0].time_s or len(knots) == 1:
            position, velocity, acceleration = knots[0].positions.copy(), zero, zero
        elif t >= knots[-1].time_s:     # the last point's velocity is zero (checked): it stays there
            position, velocity, acceleration = knots[-1].positions.copy(), zero, zero
        else:
            k = next(i for i in range(1, len(knots)) if knots[i].time_s >= t)
            position, velocity, acceleration = spline.evaluate(self._polynomials[k - 1], t - knots[k - 1].time_s)
        return np.clip(position, self.lower, self.upper), velocity, acceleration

    def set_trajectory(self, joint_names: list[str], points: list[TrajectoryPoint], start_s: float, now_s: float,
                       measured: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Replace the running trajectory (`start_s` 0: now).  Raises Rejected, keeping the old one."""
        order = self._order(joint_names)
        if not points:
            raise Rejected("empty", "a trajectory without points")
        start = now_s if start_s == 0.0 else start_s
        previous = -1.0
        for i, point in enumerate(points):
            if len(point.positions) != len(joint_names) or len(point.velocities) not in (0, len(joint_names)) \
                    or len(point.accelerations) not in (0, len(joint_names)):
                raise Rejected("size_mismatch", f"point {i}: {len(point.positions)} positions, {len(point.velocities)} "
                               f"velocities, {len(point.accelerations)} accelerations for {len(joint_names)} joints")
            values = (*point.positions, *point.velocities, *point.accelerations, point.time_s)
            if not np.all(np.isfinite(values)):
                raise Rejected("not_finite", f"point {i} holds a NaN or an infinite value")
            if point.time_s < 0.0 or point.time_s <= previous:
                raise Rejected("time_order", f"point {i}: time_from_start {point.time_s} s is not after the previous")
            previous = point.time_s
        if points[-1].velocities and np.any(np.asarray(points[-1].velocities) != 0.0):
            raise Rejected("nonzero_end_velocity", "the last point's velocities are not zero")
        if start + points[-1].time_s < now_s:
            raise Rejected("ended", f"the trajectory ended {now_s - start - points[-1].time_s:.3f} s ago")
        current_p, current_v, current_a = self.sample(now_s)
        if not self.from_desired and measured is not None:
            current_p, current_v = measured
        knots = []
        for point in points:
            positions = current_p.copy()
            positions[order] = point.positions
            knots.append(_Knot(start + point.time_s, positions, self._full(order, point.velocities),
                               self._full(order, point.accelerations)))
        past = [k for k in knots if k.time_s <= now_s]
        if past:      # no blend: follow the points from where they are now (the last one passed onwards)
            knots = [past[-1], *(k for k in knots if k.time_s > now_s)]
        else:         # blend from the current state, now, into the first point
            knots.insert(0, _Knot(now_s, current_p, current_v, current_a))
        self._set(knots)

    def _set(self, knots: list[_Knot]) -> None:
        self._knots = knots
        self._polynomials = [_coefficients(a, b) for a, b in zip(knots, knots[1:])]

    def _full(self, order: np.ndarray, values: tuple[float, ...]) -> np.ndarray | None:
        if not values:
            return None
        full = np.zeros(len(self.joint_names))
        full[order] = values
        return full

    def command(self, positions: list[float], now_s: float) -> None:
        """forward_command_controller: every joint, in controller order, applied at once."""
        values = np.asarray(positions, float)
        if len(values) != len(self.joint_names):
            raise Rejected("wrong_length", f"{len(values)} values for {len(self.joint_names)} joints")
        if not np.all(np.isfinite(values)):
            raise Rejected("not_finite", "a command holding a NaN or an infinite value")
        self._set([_Knot(now_s, values, None)])

    def _order(self, joint_names: list[str]) -> np.ndarray:
        unknown = [n for n in joint_names if n not in self._index]
        if unknown:
            raise Rejected("unknown_joint", f"unknown joint(s) {unknown}; this controller has {list(self.joint_names)}")
        if len(set(joint_names)) != len(joint_names):
            raise Rejected("repeated_joint", f"joint names repeated in {joint_names}")
        if len(joint_names) != len(self.joint_names) and not self.allow_partial:
            raise Rejected("partial_goal", f"{len(joint_names)} of {len(self.joint_names)} joints (partial goals refused)")
        return np.array([self._index[n] for n in joint_names], dtype=int)
