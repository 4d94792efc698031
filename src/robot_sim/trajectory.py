"""A JointTrajectoryController's interpolation, without ROS: what a ros2_control arm does with a
`JointTrajectory` (ros2_controllers' joint_trajectory_controller, Kilted).

- A valid trajectory **replaces** the running one; it blends, from now, from the controller's current
  desired state (position and velocity: `interpolate_from_desired_state`, meant for streaming) or from
  the measured state into its points.  Stamp 0 starts now; a non-zero stamp is an absolute start on
  the controller's clock (points already past are skipped), and a trajectory that has already ended is
  refused.
- Per segment, from what both ends carry: positions only -> linear; with velocities -> cubic.  A
  first point at time 0 gets no blend (the setpoint jumps to it).  After the last point the setpoint
  stays there.
- Refused, with the reason, and the running trajectory kept: unknown or repeated joints, a partial
  goal (unless allowed), no points, sizes that do not match, times not strictly increasing, non-finite
  values, a non-zero velocity at the last point.
- `command()` is forward_command_controller's: positions written raw, no interpolation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrajectoryPoint:
    time_s: float                         # time_from_start
    positions: tuple[float, ...]
    velocities: tuple[float, ...] = ()    # empty: positions only


@dataclass(frozen=True)
class _Knot:
    time_s: float                         # on the controller's clock
    positions: np.ndarray
    velocities: np.ndarray | None


class Rejected(ValueError):
    """A trajectory or command the controller refuses; `kind` names the reason for the counters."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def _segment(a: _Knot, b: _Knot, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity at `t` between knots a and b: cubic Hermite when b carries velocities."""
    span = b.time_s - a.time_s
    if span <= 0.0:
        return b.positions.copy(), np.zeros_like(b.positions)
    s = float(np.clip((t - a.time_s) / span, 0.0, 1.0))
    delta = b.positions - a.positions
    if b.velocities is None or a.velocities is None:
        return a.positions + s * delta, delta / span
    va, vb = a.velocities * span, b.velocities * span          # tangents in segment units
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    d00, d10, d01, d11 = 6 * s**2 - 6 * s, 3 * s**2 - 4 * s + 1, -6 * s**2 + 6 * s, 3 * s**2 - 2 * s
    position = h00 * a.positions + h10 * va + h01 * b.positions + h11 * vb
    velocity = (d00 * a.positions + d10 * va + d01 * b.positions + d11 * vb) / span
    return position, velocity


class TrajectoryFollower:
    """One controller's joints: the setpoint over time for the trajectories and commands it accepts."""

    def __init__(self, joint_names: tuple[str, ...], positions: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 allow_partial_joints_goal: bool = False, interpolate_from_desired_state: bool = True) -> None:
        self.joint_names = tuple(joint_names)
        self._index = {name: i for i, name in enumerate(self.joint_names)}
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)
        self.allow_partial = allow_partial_joints_goal
        self.from_desired = interpolate_from_desired_state
        self._knots = [_Knot(0.0, np.clip(np.asarray(positions, float), self.lower, self.upper), None)]

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Desired position (inside the joint limits) and velocity at controller time `t`."""
        knots = self._knots
        if t <= knots[0].time_s or len(knots) == 1:
            position, velocity = knots[0].positions.copy(), np.zeros(len(self.joint_names))
        elif t >= knots[-1].time_s:
            position = knots[-1].positions.copy()
            velocity = np.zeros(len(self.joint_names)) if knots[-1].velocities is None else knots[-1].velocities.copy()
        else:
            k = next(i for i in range(1, len(knots)) if knots[i].time_s >= t)
            position, velocity = _segment(knots[k - 1], knots[k], t)
        return np.clip(position, self.lower, self.upper), velocity

    def set_trajectory(self, joint_names: list[str], points: list[TrajectoryPoint], start_s: float, now_s: float,
                       measured: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Replace the running trajectory (`start_s` 0: now).  Raises Rejected, keeping the old one."""
        order = self._order(joint_names)
        if not points:
            raise Rejected("empty", "a trajectory without points")
        start = now_s if start_s == 0.0 else start_s
        previous = -1.0
        for i, point in enumerate(points):
            if len(point.positions) != len(joint_names) or len(point.velocities) not in (0, len(joint_names)):
                raise Rejected("size_mismatch", f"point {i}: {len(point.positions)} positions, "
                               f"{len(point.velocities)} velocities for {len(joint_names)} joints")
            if not np.all(np.isfinite(point.positions)) or not np.all(np.isfinite(point.velocities)) \
                    or not np.isfinite(point.time_s):
                raise Rejected("not_finite", f"point {i} holds a NaN or an infinite value")
            if point.time_s < 0.0 or point.time_s <= previous:
                raise Rejected("time_order", f"point {i}: time_from_start {point.time_s} s is not after the previous")
            previous = point.time_s
        if points[-1].velocities and np.any(np.asarray(points[-1].velocities) != 0.0):
            raise Rejected("nonzero_end_velocity", "the last point's velocities are not zero")
        if start + points[-1].time_s < now_s:
            raise Rejected("ended", f"the trajectory ended {now_s - start - points[-1].time_s:.3f} s ago")
        current_p, current_v = self.sample(now_s) if self.from_desired or measured is None else measured
        # Blend from the current state, now, into the points still ahead (a first point at 0 started now: a jump).
        knots = [] if start == now_s and points[0].time_s == 0.0 else [_Knot(now_s, current_p, current_v)]
        for point in points:
            if start + point.time_s < now_s:
                continue
            positions, velocities = current_p.copy(), None
            positions[order] = point.positions
            if point.velocities:
                velocities = np.zeros(len(self.joint_names))
                velocities[order] = point.velocities
            knots.append(_Knot(start + point.time_s, positions, velocities))
        self._knots = knots

    def command(self, positions: list[float], now_s: float) -> None:
        """forward_command_controller: every joint, in controller order, applied at once."""
        values = np.asarray(positions, float)
        if len(values) != len(self.joint_names):
            raise Rejected("wrong_length", f"{len(values)} values for {len(self.joint_names)} joints")
        if not np.all(np.isfinite(values)):
            raise Rejected("not_finite", "a command holding a NaN or an infinite value")
        self._knots = [_Knot(now_s, values, None)]

    def _order(self, joint_names: list[str]) -> np.ndarray:
        unknown = [n for n in joint_names if n not in self._index]
        if unknown:
            raise Rejected("unknown_joint", f"unknown joint(s) {unknown}; this controller has {list(self.joint_names)}")
        if len(set(joint_names)) != len(joint_names):
            raise Rejected("repeated_joint", f"joint names repeated in {joint_names}")
        if len(joint_names) != len(self.joint_names) and not self.allow_partial:
            raise Rejected("partial_goal", f"{len(joint_names)} of {len(self.joint_names)} joints (partial goals refused)")
        return np.array([self._index[n] for n in joint_names], dtype=int)
