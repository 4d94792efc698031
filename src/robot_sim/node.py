"""ROS 2 node: the simulated robot as its own process, with a ros2_control arm's interface.

Per controller (`<arm>` and `<arm>/gripper` of the robot description) it subscribes
`<controller>/joint_trajectory` (trajectory_msgs/JointTrajectory, JTC semantics: robot_sim.trajectory)
and `<controller>/commands` (std_msgs/Float64MultiArray, forward_command_controller: every joint in
controller order).  It runs the control loop on its clock at `control_rate_hz` and publishes the
measured `/joint_states` once per cycle, stamped with the cycle's time.  A message the controller
refuses (a wrong length, NaN, unknown joints, ...) is counted under `error.<kind>` and logged at most
once per 5 s; unlike ros2_control, which deactivates a forward controller on a wrong length, the
controller stays active and keeps its last setpoint.  It knows nothing of the retargeting node: only
messages cross.
"""
from __future__ import annotations

from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory

from robot_model.config import robots_dir
from robot_model.description_topic import load_robot
from robot_sim.config import RobotSimConfig
from robot_sim.plant import Controller, Plant
from robot_sim.trajectory import Rejected, TrajectoryPoint
from teleop_common.node_support import STATE_QOS, Diagnostics, ErrorReporter, declare_config, run_node
from teleop_common.stamps import ns_to_stamp, stamp_to_ns
from teleop_common.stats import EventCounter


class RobotSimNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("robot_sim", **kwargs)
        self.config = declare_config(self, RobotSimConfig)
        robot = load_robot(self, self.config.robot, robots_dir(self.config.robots_dir))
        c = self.config
        self.plant = Plant(robot, 1.0 / c.control_rate_hz, c.servo_dampratio, c.allow_partial_joints_goal,
                           c.interpolate_from_desired_state, start_s=self._now_s(),
                           gravity_compensation=c.gravity_compensation)
        self.counters = EventCounter()
        self.report = ErrorReporter(self, self.counters)
        for controller in self.plant.controllers:
            self.create_subscription(JointTrajectory, f"{controller.name}/joint_trajectory",
                                     lambda msg, c=controller: self._on_trajectory(c, msg), STATE_QOS)
            self.create_subscription(Float64MultiArray, f"{controller.name}/commands",
                                     lambda msg, c=controller: self._on_commands(c, msg), STATE_QOS)
        self.state_pub = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self.create_timer(self.plant.period_s, self._tick)
        self.diagnostics = Diagnostics(self, "robot", self._figures, self.counters)
        self.get_logger().info(f"robot '{robot.name}': controllers {[c.name for c in self.plant.controllers]}, "
                               f"control at {1.0 / self.plant.period_s:.0f} Hz")

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _figures(self) -> dict[str, Any]:
        return {"robot": self.config.robot, "control_rate_hz": 1.0 / self.plant.period_s}

    def _on_trajectory(self, controller: Controller, msg: JointTrajectory) -> None:
        points = [TrajectoryPoint(stamp_to_ns(p.time_from_start) * 1e-9, tuple(p.positions), tuple(p.velocities),
                                  tuple(p.accelerations)) for p in msg.points]
        # It takes effect from the controller's last cycle on (the next one samples it), as a JTC's update does.
        now = self.plant.time_s
        try:
            controller.follower.set_trajectory(list(msg.joint_names), points, stamp_to_ns(msg.header.stamp) * 1e-9, now,
                                               self.plant.measured(controller))
            self.counters["trajectories"] += 1
        except Rejected as error:
            self.report(f"trajectory.{error.kind}", f"{controller.name}: {error}")

    def _on_commands(self, controller: Controller, msg: Float64MultiArray) -> None:
        try:
            controller.follower.command(list(msg.data), self.plant.time_s)
            self.counters["commands"] += 1
        except Rejected as error:
            self.report(f"commands.{error.kind}", f"{controller.name}: {error}")

    def _tick(self) -> None:
        """Run the control cycles due by now (a late timer catches up, a very late one skips ahead)."""
        if self.plant.advance_to(self._now_s(), self.config.max_catch_up_cycles, self._publish):
            self.counters["overruns"] += 1

    def _publish(self, t: float) -> None:
        self.state_pub.publish(JointState(header=Header(stamp=ns_to_stamp(round(t * 1e9))),
                                          name=list(self.plant.joint_names),
                                          position=self.plant.positions.tolist(),
                                          velocity=self.plant.velocities.tolist()))


def main(args: list[str] | None = None) -> None:
    run_node(RobotSimNode, args)
