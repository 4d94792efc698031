"""A JointTrajectoryController's segment interpolation (ros2_controllers `interpolation_method: splines`):
from what both ends carry, positions only -> linear, + velocities -> cubic, + accelerations -> quintic.

Shared by the robot process (which interpolates like a JTC) and the retargeting node (which times its
commands so that interpolation stays within the limits).  Arrays broadcast: one segment per joint, or
many candidate durations at once.
"""
from __future__ import annotations

import numpy as np


def coefficients(p0, p1, duration, v0=None, v1=None, a0=None, a1=None) -> tuple:
    """c0..c5 of p(s) = sum c_k s^k on [0, duration] (unused ones are zero)."""
    t = np.asarray(duration, float)
    delta = np.asarray(p1, float) - p0
    zero = np.zeros(np.broadcast(delta, t).shape)
    if v0 is None or v1 is None:
        return p0 + zero, delta / t + zero, zero, zero, zero, zero
    if a0 is None or a1 is None:
        return (p0 + zero, v0 + zero, (3 * delta - (2 * v0 + v1) * t) / t**2,
                (-2 * delta + (v0 + v1) * t) / t**3, zero, zero)
    return (p0 + zero, v0 + zero, a0 / 2 + zero,
            (20 * delta - (8 * v1 + 12 * v0) * t - (3 * a0 - a1) * t**2) / (2 * t**3),
            (-30 * delta + (14 * v1 + 16 * v0) * t + (3 * a0 - 2 * a1) * t**2) / (2 * t**4),
            (12 * delta - 6 * (v1 + v0) * t + (a1 - a0) * t**2) / (2 * t**5))


def evaluate(c: tuple, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position, velocity and acceleration at `s` of the polynomial with coefficients `c`."""
    c0, c1, c2, c3, c4, c5 = c
    position = c0 + s * (c1 + s * (c2 + s * (c3 + s * (c4 + s * c5))))
    velocity = c1 + s * (2 * c2 + s * (3 * c3 + s * (4 * c4 + s * 5 * c5)))
    acceleration = 2 * c2 + s * (6 * c3 + s * (12 * c4 + s * 20 * c5))
    return position, velocity, acceleration
