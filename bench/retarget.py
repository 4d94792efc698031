"""Retargeting benchmark: cost per input frame, tracking of known-answer targets, unsafe targets.

  PYTHONPATH=src .venv/bin/python bench/retarget.py [--robot aloha] [--seconds 10] [--seeds 6]
  PYTHONPATH=src .venv/bin/python bench/retarget.py --robot-model MODEL --arm NAME=BASE_LINK:EE_LINK ...

step_ms: Retargeter.step() per pose frame (operator choice, mapping, IK for all arms, MuJoCo
check), wall clock; step_cpu_ms: the same in thread CPU time (this machine is shared).
Reference, measured in the same run: a plain mink solve (frame tasks + posture + configuration
limit, no velocity/collision limits, no mapping, no check) on the same targets.
Tracking: operator frames built from the robot's own reachable trajectories; error = forward
kinematics of the command vs. of the generating configuration.  Unsafe: targets inside the table
or the other arm, held for 2 s each; blocked = no command ever penetrates (fresh MjData check);
the same targets through the plain mink solve show they are unsafe.  Last line: JSON.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path

import mink
import mujoco
import numpy as np
import yaml

from pose_retarget.config import RetargetNodeConfig
from pose_retarget.retargeter import Retargeter
from pose_retarget.robot import Robot
from pose_retarget.robot_check import description, parse_arm, plain
from robot_model.derive import derive_values
from pose_retarget.synthetic import SyntheticOperator, reachable_trajectory
from robot_model.config import load_robot_config
from teleop_common.pose import PoseFrame
from teleop_common.status import Reason
from teleop_session.robot_loop import RobotInTheLoop

FPS = 30.0
LATENCY_NS = 15_000_000
HOLD_FRAMES = 60


class PlainMink:
    """The reference: one mink solve per frame with frame tasks, posture and configuration limit."""

    def __init__(self, robot: Robot, config: RetargetNodeConfig) -> None:
        self.configuration = mink.Configuration(robot.model, robot.home)
        self.tasks = {arm.name: mink.FrameTask(arm.config.ee_frame, "site", position_cost=config.ik.position_cost,
                                               orientation_cost=config.ik.orientation_cost,
                                               lm_damping=config.ik.lm_damping) for arm in robot.arms}
        self.posture = mink.PostureTask(robot.model, cost=config.ik.posture_cost)
        self.posture.set_target(robot.home)
        self.limits = [mink.ConfigurationLimit(robot.model)]
        self.solver, self.damping = config.ik.solver, config.ik.damping

    def solve(self, q: np.ndarray, targets: dict, dt: float) -> np.ndarray:
        self.configuration.update(q)
        for name, (position, rotation) in targets.items():
            self.tasks[name].set_target(mink.SE3.from_rotation_and_translation(mink.SO3.from_matrix(rotation), position))
        velocity = mink.solve_ik(self.configuration, [*self.tasks.values(), self.posture], dt, self.solver,
                                 self.damping, limits=self.limits)
        self.configuration.integrate_inplace(velocity, dt)
        return self.configuration.q


def penetration(robot: Robot, data: mujoco.MjData, q: np.ndarray) -> float:
    data.qpos[:] = q
    mujoco.mj_forward(robot.model, data)
    depth = 0.0
    for g1, g2, dist in zip(data.contact.geom[:data.ncon, 0], data.contact.geom[:data.ncon, 1], data.contact.dist[:data.ncon]):
        if not any(g1 in arm.gripper_geoms and g2 in arm.gripper_geoms for arm in robot.arms):
            depth = max(depth, -float(dist))
    return depth


def stamp(k: int) -> int:
    return 1_000_000_000 + int(k / FPS * 1e9)


def tracking(robot: Robot, config: RetargetNodeConfig, operator: SyntheticOperator, seeds: int, frames: int) -> dict:
    step_wall, step_cpu, plain_wall, errors, sim_wall, reasons = [], [], [], [], [], []
    data = mujoco.MjData(robot.model)
    plain = PlainMink(robot, config)
    for seed in range(seeds):
        trajectory = reachable_trajectory(robot, operator, frames, FPS, seed)
        openings = [{arm.name: 0.5 + 0.5 * np.sin(k / 20.0 + seed) for arm in robot.arms} for k in range(frames)]
        inputs = [operator.frame(q, stamp(k), openings[k]) for k, q in enumerate(trajectory)]
        answers = [robot.ee_poses(q, data) for q in trajectory]
        retargeter = RobotInTheLoop(config, robot)      # the robot process's core follows the commands
        retargeter.step(inputs[0], stamp(0) + LATENCY_NS)
        assert retargeter.engage(True, stamp(0) + LATENCY_NS)[0]
        gc.collect()
        for k in range(1, frames):
            before = retargeter.q.copy()
            retargeter.observe(stamp(k) + LATENCY_NS)      # the robot's joint state arrives
            wall, cpu = time.perf_counter(), time.thread_time()
            result = Retargeter.step(retargeter, inputs[k], stamp(k) + LATENCY_NS)
            step_cpu.append(time.thread_time() - cpu)
            step_wall.append(time.perf_counter() - wall)
            wall = time.perf_counter()
            retargeter.send(result, stamp(k) + LATENCY_NS)   # the commands go to the robot's controllers
            sim_wall.append(time.perf_counter() - wall)
            reasons.extend(int(arm.reason) for arm in result.arms)
            reached = robot.ee_poses(result.command, data)
            errors.extend(np.linalg.norm(reached[n][0] - answers[k][n][0]) for n in reached)
            # Reference: the same targets from the same configuration, timed alone.
            wall = time.perf_counter()
            plain.solve(before, answers[k], 1.0 / FPS)
            plain_wall.append(time.perf_counter() - wall)
    ms = lambda values, q: round(float(np.percentile(values, q)) * 1e3, 4)
    return {
        "frames": len(step_wall),
        "step_ms_p50": ms(step_wall, 50), "step_ms_p99": ms(step_wall, 99), "step_ms_max": ms(step_wall, 100),
        "step_cpu_ms_p50": ms(step_cpu, 50), "step_cpu_ms_p99": ms(step_cpu, 99),
        "reference_plain_mink_ms_p50": ms(plain_wall, 50), "reference_plain_mink_ms_p99": ms(plain_wall, 99),
        "step_vs_plain_mink_p50_ratio": round(float(np.median(step_wall) / np.median(plain_wall)), 3),
        "step_rate_hz_at_p99": round(1.0 / float(np.percentile(step_wall, 99)), 1),
        "tracking_error_mm_median": round(float(np.median(errors)) * 1e3, 4),
        "tracking_error_mm_p95": round(float(np.percentile(errors, 95)) * 1e3, 4),
        "tracking_reason_ok_fraction": round(float(np.mean(np.array(reasons) == Reason.OK)), 4),
        "robot_send_ms_p50": ms(sim_wall, 50),
    }


def engaged_at_home(robot: Robot, config: RetargetNodeConfig, operator: SyntheticOperator) -> Retargeter:
    retargeter = RobotInTheLoop(config, robot)
    retargeter.step(operator.frame(robot.home, stamp(0)), stamp(0) + LATENCY_NS)
    assert retargeter.engage(True, stamp(0) + LATENCY_NS)[0]
    return retargeter


def unsafe_targets(robot: Robot, operator: SyntheticOperator, rng: np.random.Generator) -> list[tuple[str, str, np.ndarray]]:
    """(arm, kind, position): points inside environment geoms (table) and inside other arms' links."""
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.home
    mujoco.mj_kinematics(robot.model, data)
    arm_geoms = set().union(*(arm.geoms for arm in robot.arms))
    environment = sorted({g for pair in robot.collision_pairs for group in pair for g in group} - arm_geoms)
    home = robot.ee_poses(robot.home, data)
    targets = []
    for arm in robot.arms:
        for geom in environment:                 # inside the (box-shaped) environment geom
            centre, half = robot.model.geom_aabb[geom, :3], robot.model.geom_aabb[geom, 3:]
            rotation, origin = data.geom_xmat[geom].reshape(3, 3), data.geom_xpos[geom]
            for _ in range(400):
                local = centre + rng.uniform(-1.0, 1.0, 3) * half
                point = origin + rotation @ local
                near = np.linalg.norm(point - home[arm.name][0]) < 0.5
                if near and _representable(operator, home, arm.name, point):
                    targets.append((arm.name, "environment", point))
                if sum(1 for t in targets if t[0] == arm.name and t[1] == "environment") >= 12:
                    break
        for other in robot.arms:                 # the centres of the other arm's link meshes
            if other is arm:
                continue
            for geom in sorted(g for g in other.geoms if robot.model.geom_contype[g]):
                point = data.geom_xpos[geom].copy()
                if _representable(operator, home, arm.name, point):
                    targets.append((arm.name, "other_arm", point))
    return targets


def _representable(operator: SyntheticOperator, home: dict, arm: str, point: np.ndarray) -> bool:
    try:
        operator.person_pose(dict(home, **{arm: (point, home[arm][1])}))
    except ValueError:
        return False
    return True


def unsafe(robot: Robot, config: RetargetNodeConfig, operator: SyntheticOperator, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    data = mujoco.MjData(robot.model)
    home = robot.ee_poses(robot.home, data)
    threshold = config.safety.penetration_m
    counts = {"unsafe_total": 0, "unsafe_blocked": 0, "unsafe_penetrating_plain_mink": 0}
    kinds: dict[str, int] = {}
    plain = PlainMink(robot, config)
    for arm, kind, point in unsafe_targets(robot, operator, rng):
        poses = dict(home, **{arm: (point, home[arm][1])})
        frame = operator.person_pose(poses)
        retargeter = engaged_at_home(robot, config, operator)
        q_plain = robot.home.copy()
        deepest = deepest_plain = 0.0
        for k in range(1, HOLD_FRAMES + 1):
            result = retargeter.step(PoseFrame(stamp(k), "camera", [frame]), stamp(k) + LATENCY_NS)
            deepest = max(deepest, penetration(robot, data, result.command))
            q_plain = plain.solve(q_plain, poses, 1.0 / FPS)
            deepest_plain = max(deepest_plain, penetration(robot, data, q_plain))
        counts["unsafe_total"] += 1
        counts["unsafe_blocked"] += int(deepest <= threshold)
        counts["unsafe_penetrating_plain_mink"] += int(deepest_plain > threshold)
        kinds[kind] = kinds.get(kind, 0) + 1
    counts["unsafe_by_kind"] = kinds
    return counts


def unreachable(robot: Robot, config: RetargetNodeConfig, operator: SyntheticOperator) -> dict:
    """Targets the operator can point at but the arm cannot reach: commanded as clamped."""
    home = robot.ee_poses(robot.home)
    total = clamped = 0
    for arm in robot.arms:
        anchor = robot.anchors[arm.name]
        away = anchor - robot.shoulders[arm.name]
        for angle in np.linspace(-0.6, 0.6, 5):
            direction = mink.SO3.from_rpy_radians(0.0, 0.0, angle).as_matrix() @ (away / np.linalg.norm(away))
            point = anchor + 0.98 * arm.config.reach * direction
            if np.linalg.norm(point - robot.shoulders[arm.name]) <= arm.config.max_reach:
                continue
            frame = operator.person_pose(dict(home, **{arm.name: (point, home[arm.name][1])}))
            retargeter = engaged_at_home(robot, config, operator)
            result = retargeter.step(PoseFrame(stamp(1), "camera", [frame]), stamp(1) + LATENCY_NS)
            status = next(a for a in result.arms if a.name == arm.name)
            total += 1
            clamped += int(status.reason == Reason.OUT_OF_REACH and not status.held)
    return {"unreachable_total": total, "unreachable_clamped": clamped}


def derived_robot_yaml(model: str, arms: list[dict]) -> str:
    """The description derived from a model and arm names, saved as a YAML the configs can name."""
    values = derive_values(description(model, arms, Path(model).stem)).values
    path = Path(tempfile.mkdtemp(prefix="bench_robot_")) / f"{Path(model).stem}.yaml"
    path.write_text(yaml.safe_dump(plain(values), sort_keys=False))
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robot", default="aloha", help="a robot of config/robots or a robot YAML")
    parser.add_argument("--robot-model", default="", help="a URDF/MJCF (path or package://): the robot is derived "
                        "from it and the --arm names, as robot_check does")
    parser.add_argument("--arm", action="append", type=parse_arm, default=[], help="NAME=BASE_LINK:EE_LINK[:GRIPPER_JOINT,...]")
    parser.add_argument("--seconds", type=float, default=10.0, help="per reachable trajectory")
    parser.add_argument("--seeds", type=int, default=6, help="reachable trajectories")
    args = parser.parse_args()
    if args.robot_model:
        args.robot = derived_robot_yaml(args.robot_model, args.arm)
    config = RetargetNodeConfig(robot=args.robot)
    robot = Robot(load_robot_config(args.robot))
    operator = SyntheticOperator(robot, config.mapping, config.gripper)
    gc.collect()
    gc.freeze()          # as the node does once built (node_support.run_nodes): no 40 ms full passes over the models
    load_before = os.getloadavg()[0]
    report = {"robot": args.robot, "input_fps": FPS, "ik_iterations": config.ik.iterations}
    report.update(tracking(robot, config, operator, args.seeds, int(args.seconds * FPS)))
    report.update(unsafe(robot, config, operator, seed=0))
    report.update(unreachable(robot, config, operator))
    report["load_avg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    report["cpu_count"] = os.cpu_count()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
