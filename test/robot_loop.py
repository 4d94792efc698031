"""The retargeting core with the robot process's core in the loop, in the tests' own time (no DDS).

Before each cycle the robot (robot_sim's Plant: MuJoCo physics, JTC-like followers) runs up to the
cycle's time and its measured joints go to the core, as the node's /joint_states subscription does;
after it, each command the node would publish goes to the robot's controllers, as the messages would.
"""
from __future__ import annotations

from pose_retarget.retargeter import Retargeter, RetargetResult
from robot_sim.plant import Plant
from robot_sim.trajectory import TrajectoryPoint
from teleop_common.pose import PoseFrame
from teleop_common.status import Reason

CONTROL_PERIOD_S = 0.005


class RobotInTheLoop(Retargeter):
    plant: Plant | None = None

    def _observe(self, now_ns: int) -> None:
        now_s = now_ns * 1e-9
        if self.plant is None:
            self.plant = Plant(self.robot.config, CONTROL_PERIOD_S, start_s=now_s - 0.1)
        self.plant.advance_to(now_s, max_cycles=10_000)
        assert self.observe_state(list(self.plant.joint_names), list(self.plant.positions), now_ns) is None

    def _command(self, result: RetargetResult, now_ns: int) -> None:
        if not result.engaged or result.rejected == "too_fast":
            return
        for arm in result.arms:
            if arm.duration_s <= 0.0:
                continue
            for name, names, point in (
                    (arm.name, arm.joint_names, TrajectoryPoint(arm.duration_s, tuple(arm.positions),
                                                                (0.0,) * len(arm.positions))),
                    (f"{arm.name}/gripper", arm.gripper_joint_names,
                     TrajectoryPoint(result.dt, tuple(arm.gripper_positions)))):
                controller = self.plant.controller(name)
                controller.follower.set_trajectory(list(names), [point], 0.0, now_ns * 1e-9)

    def step(self, frame: PoseFrame, now_ns: int) -> RetargetResult:
        self._observe(now_ns)
        result = super().step(frame, now_ns)
        self._command(result, now_ns)
        return result

    def hold(self, now_ns: int, reason: Reason = Reason.INPUT_STALE, detail: str = "no pose input") -> RetargetResult:
        self._observe(now_ns)
        result = super().hold(now_ns, reason, detail)
        self._command(result, now_ns)
        return result
