"""The retargeting core with the robot process's core in the loop, in a caller's own time (no DDS):
what the core tests and bench/retarget.py drive.

Before each cycle the robot (robot_sim's Plant: MuJoCo physics, JTC-like followers) runs up to the
cycle's time and its measured joints go to the core, as the node's /joint_states subscription does;
after it, each command the node would publish goes to the robot's controllers, as the messages would.
"""
from __future__ import annotations

from pose_retarget.results import RetargetResult
from pose_retarget.retargeter import Retargeter
from robot_sim.plant import Plant
from robot_sim.trajectory import TrajectoryPoint
from teleop_common.pose import PoseFrame
from teleop_common.status import Reason
from teleop_common.timing import StageClock

CONTROL_PERIOD_S = 0.005


class RobotInTheLoop(Retargeter):
    plant: Plant | None = None

    def observe(self, now_ns: int) -> None:
        now_s = now_ns * 1e-9
        if self.plant is None:
            self.plant = Plant(self.robot.config, CONTROL_PERIOD_S, start_s=now_s - 0.1)
        self._advance(now_s)
        assert self.observe_state(list(self.plant.joint_names), list(self.plant.positions), now_ns) is None

    def command_time(self, now_ns: int, clock: StageClock) -> int:
        return now_ns          # in the tests' time, a cycle takes no time

    def _advance(self, t_s: float) -> None:
        self.plant.advance_to(t_s, max_cycles=100_000)

    def send(self, result: RetargetResult, now_ns: int) -> None:
        if not result.engaged or result.rejected == "too_fast":
            return
        for arm in result.arms:
            segment = arm.segment
            if segment is None:
                continue
            zero = (0.0,) * len(segment.goal)
            self.plant.controller(arm.name).follower.set_trajectory(
                list(arm.joint_names), [TrajectoryPoint(0.0, tuple(segment.p0), tuple(segment.v0)),
                                        TrajectoryPoint(segment.duration_s, tuple(segment.goal), zero)],
                segment.start_ns * 1e-9, self.plant.time_s)
            self.plant.controller(f"{arm.name}/gripper").follower.set_trajectory(
                list(arm.gripper_joint_names), [TrajectoryPoint(max(result.dt, self.config.state.max_delay_s),
                                                                tuple(arm.gripper_positions))], 0.0,
                self.plant.time_s)

    def step(self, frame: PoseFrame, now_ns: int) -> RetargetResult:
        self.observe(now_ns)
        result = super().step(frame, now_ns)
        self.send(result, now_ns)
        return result

    def hold(self, now_ns: int, reason: Reason = Reason.INPUT_STALE, detail: str = "no pose input") -> RetargetResult:
        self.observe(now_ns)
        result = super().hold(now_ns, reason, detail)
        self.send(result, now_ns)
        return result
