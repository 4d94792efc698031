"""The retargeting node and the robot process (robot_sim_node) as separate processes over real DDS, as
with a real arm: only messages cross.  Measured at the robot's /joint_states: the joint limits hold at
any input rate, a restarted retargeting node continues from where the arm is, and a dead robot makes
the retargeting node hold without sending anything."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from seam import Seam, window_rates
from whole_body_teleop.msg import ArmStatus

from pose_retarget.synthetic import reachable_trajectory

CONTROL_RATE_HZ = "100.0"     # 10 ms control period: a 10 ms window is one joint state to the next
MAX_DELAY_S = "0.2"           # commands start this long after they are sent: enough for a loaded 2-core machine


@pytest.fixture
def seam(ros_node, tmp_path):
    seam = Seam(ros_node("operator"), tmp_path / "logs")
    seam.start_robot(control_rate_hz=CONTROL_RATE_HZ)
    seam.start_retarget(**{"state.max_delay_s": MAX_DELAY_S})
    yield seam
    seam.close()


def _far_pose(seam: Seam) -> np.ndarray:
    """A reachable configuration far from home (the largest excursion of a reachable trajectory)."""
    trajectory = reachable_trajectory(seam.robot, seam.operator, frames=90, fps=30.0, seed=11, amplitude=0.6)
    return trajectory[int(np.argmax(np.abs(trajectory - seam.robot.home).max(axis=1)))]


def _limits(seam: Seam, arm) -> tuple[np.ndarray, np.ndarray]:
    return arm.max_velocity, arm.max_acceleration


@pytest.mark.parametrize("rate_hz", [10.0, 30.0, 100.0, 1000.0])
def test_joint_limits_hold_at_the_robot_at_any_input_rate(seam, rate_hz):
    """The operator jumps between two far poses; at the robot, over 10 ms windows, every joint stays
    within its velocity limit and the configured acceleration limit."""
    home, far = seam.robot.home, _far_pose(seam)
    seam.engage(home)
    since = seam.recorded.states[-1][0]
    seam.drive(lambda t: far if int(t / 0.6) % 2 == 0 else home, seconds=2.4, rate_hz=rate_hz)
    seam.drive(home, seconds=0.5, rate_hz=rate_hz)
    status = seam.status()
    assert status.engaged
    reasons = Counter(ArmStatus.__dict__ and a.reason for _, m in seam.recorded.statuses for a in m.arms)
    print(f"{rate_hz:.0f} Hz reasons {dict(reasons)}, {len(seam.recorded.statuses)} statuses")
    delays = [(t - (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)) * 1e-6 for t, m in seam.recorded.commands["left"]]
    print(f"command delay ms p50 {np.percentile(delays, 50):.1f} p90 {np.percentile(delays, 90):.1f} max {max(delays):.1f}")
    for arm in seam.robot.arms:
        times, positions = seam.arm_states(arm, since)
        velocity, acceleration = window_rates(times, positions)
        v_max, a_max = _limits(seam, arm)
        speed = float((np.abs(velocity) / v_max).max())
        accel = float((np.abs(acceleration) / a_max).max())
        travel = float(np.abs(np.diff(positions, axis=0)).sum(axis=0).max())
        print(f"{rate_hz:.0f} Hz {arm.name}: speed {speed:.3f}x, acceleration {accel:.3f}x of the limits, "
              f"travel {travel:.2f} rad over {len(times)} states")
        assert len(velocity) > 100 and travel > 1.0            # measured, and the arm really moved
        assert speed <= 1.0
        assert accel <= 1.0
