"""Robots from a model and three names (robot_model.derive): each listed robot loads, derives, passes
robot_check, follows synthetic operator trajectories with the robot process in the loop, and holds every
arm whose target lies inside the robot itself, the table or the other arm."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest

from pose_retarget.config import RetargetNodeConfig
from pose_retarget.synthetic import SyntheticOperator, reachable_trajectory
from teleop_session.robot_loop import RobotInTheLoop
from robot_model.config import load_robot_config
from teleop_common.pose import PoseFrame

ROOT = Path(__file__).resolve().parents[1]
ROBOTS = ["panda_urdf", "xarm6_urdf", "panda_robosuite", "ur5e_robosuite", "kinova3_robosuite", "xarm7_robosuite",
          "ur5e_pair", "baxter_robosuite"]
FPS = 30.0
START_NS = 5_000_000_000
LATENCY_NS = 15_000_000


def stamp(k: int) -> int:
    return START_NS + int(k / FPS * 1e9)


@pytest.fixture(scope="module", params=ROBOTS)
def checked(request, tmp_path_factory) -> tuple[str, dict]:
    """robot_check on the robot's description: its JSON line."""
    png = tmp_path_factory.mktemp(request.param) / "home.png"
    done = subprocess.run([sys.executable, "-m", "pose_retarget.robot_check",
                           str(ROOT / "config" / "robots" / f"{request.param}.yaml"), "--png", str(png)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), timeout=300)
    assert done.returncode == 0, done.stderr
    return request.param, json.loads(done.stdout.strip().splitlines()[-1])


def test_robot_check_passes(checked) -> None:
    name, report = checked
    config = load_robot_config(name)
    assert report["home_collision_free"] is True
    assert report["reachable_fraction"] >= 0.5        # of the worst arm; the rig's table takes the lowest targets
    assert report["singularity_margin"] > 2.0
    assert report["joints"] == sum(len(arm.joints) for arm in config.arms) >= 6
    assert [arm["name"] for arm in report["arms"]] == [arm.name for arm in config.arms]
    if report["png"]:        # rendering needs OSMesa or EGL
        assert Path(report["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _setup(name: str) -> tuple[RobotInTheLoop, SyntheticOperator]:
    config = RetargetNodeConfig(robot=name)
    retargeter = RobotInTheLoop(config)
    return retargeter, SyntheticOperator(retargeter.robot, config.mapping, config.gripper)


def test_reachable_trajectory_is_tracked(checked) -> None:
    name, _ = checked
    retargeter, operator = _setup(name)
    robot = retargeter.robot
    trajectory = reachable_trajectory(robot, operator, frames=150, fps=FPS, seed=0)
    retargeter.step(operator.frame(trajectory[0], stamp(0)), stamp(0) + LATENCY_NS)
    assert retargeter.engage(True, stamp(0) + LATENCY_NS) == (True, "engaged")
    data = mujoco.MjData(robot.model)
    errors = []
    for k, q in enumerate(trajectory[1:], start=1):
        result = retargeter.step(operator.frame(q, stamp(k)), stamp(k) + LATENCY_NS)
        reached = robot.ee_poses(result.command, data)
        errors += [np.linalg.norm(reached[n][0] - p) for n, (p, _) in robot.ee_poses(q, data).items()]
    assert np.median(errors) <= 0.005, (name, np.median(errors))


def _penetration(robot, data: mujoco.MjData, q: np.ndarray) -> float:
    data.qpos[:] = q
    mujoco.mj_forward(robot.model, data)
    depth = 0.0
    for (g1, g2), dist in zip(data.contact.geom[:data.ncon], data.contact.dist[:data.ncon]):
        if not any(g1 in arm.gripper_geoms and g2 in arm.gripper_geoms for arm in robot.arms):
            depth = max(depth, -float(dist))
    return depth


def _unsafe_targets(robot) -> list[tuple[str, np.ndarray]]:
    """Per arm: centres of the colliding geoms its watched pairs guard (its base, the table, the other arm)."""
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.home
    mujoco.mj_kinematics(robot.model, data)
    targets = []
    for arm in robot.arms:
        ee = robot.ee_poses(robot.home)[arm.name][0]
        guarded = set()
        for a, b in robot.collision_pairs:          # the side facing this arm's moving part
            if set(a) & arm.geoms:
                guarded |= set(b)
            elif set(b) & arm.geoms:
                guarded |= set(a)
        guarded -= set(arm.gripper_geoms)
        near = sorted(guarded, key=lambda g: np.linalg.norm(data.geom_xpos[g] - ee))
        for geom in near[:3]:
            targets.append((arm.name, data.geom_xpos[geom].copy()))
    return targets


def test_unsafe_targets_are_blocked(checked) -> None:
    name, _ = checked
    retargeter, operator = _setup(name)
    robot = retargeter.robot
    data = mujoco.MjData(robot.model)
    home = robot.ee_poses(robot.home)
    threshold = retargeter.config.safety.penetration_m
    tried = 0
    for arm, point in _unsafe_targets(robot):
        try:
            frame = operator.person_pose(dict(home, **{arm: (point, home[arm][1])}))
        except ValueError:
            continue            # beyond the operator's arm: not a target anyone can give
        retargeter, _ = _setup(name)
        retargeter.step(operator.frame(robot.home, stamp(0)), stamp(0) + LATENCY_NS)
        assert retargeter.engage(True, stamp(0) + LATENCY_NS)[0]
        deepest = 0.0
        for k in range(1, 61):
            result = retargeter.step(PoseFrame(stamp(k), "camera", [frame]), stamp(k) + LATENCY_NS)
            deepest = max(deepest, _penetration(robot, data, result.command))
        tried += 1
        assert deepest <= threshold, (name, arm, point, deepest)
    assert tried >= 1


def test_urdf_velocity_limits_are_read() -> None:
    """The Panda URDF's <limit velocity> per joint (MuJoCo's import drops it); an MJCF keeps the default."""
    from xml.etree import ElementTree

    from robot_model.derive import ACCELERATION_PER_VELOCITY, DEFAULT_VELOCITY
    from robot_model.sources import resolve_uri

    urdf = ElementTree.parse(resolve_uri("package://pybullet_data/franka_panda/panda.urdf", None, "test")).getroot()
    in_file = {j.get("name"): float(j.find("limit").get("velocity")) for j in urdf.findall("joint") if j.find("limit") is not None}
    arm = load_robot_config("panda_urdf").arms[0]
    assert list(arm.max_velocity) == [in_file[name] for name in arm.joints]
    assert set(arm.max_velocity) == {2.175, 2.61}
    assert np.allclose(arm.max_acceleration, ACCELERATION_PER_VELOCITY * np.array(arm.max_velocity))
    hinge = DEFAULT_VELOCITY[int(mujoco.mjtJoint.mjJNT_HINGE)]
    assert set(load_robot_config("panda_robosuite").arms[0].max_velocity) == {hinge}


def test_misspelt_link_exits_2_naming_it() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-m", "pose_retarget.robot_check", "package://pybullet_data/franka_panda/panda.urdf",
                           "--arm", "arm=panda_link0:panda_grasptarjet", "--png", ""],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "panda_grasptarjet" in lines[0] and "panda_grasptarget" in lines[0]


def test_robot_description_topic_is_read(tmp_path) -> None:
    """A URDF string latched on /robot_description (as robot_state_publisher does), over real DDS."""
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String

    from robot_model.sources import resolve_uri

    urdf = resolve_uri("package://pybullet_data/xarm/xarm6_robot.urdf", None, "test").read_text()
    urdf = urdf.replace("package://xarm_description/", str(resolve_uri("package://pybullet_data/xarm/xarm6_robot.urdf",
                                                                          None, "test").parent / "xarm_description") + "/")
    rclpy.init()
    try:
        node = rclpy.create_node("robot_state_publisher_stand_in")
        publisher = node.create_publisher(String, "/robot_description",
                                          QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        publisher.publish(String(data=urdf))
        done = subprocess.Popen([sys.executable, "-m", "pose_retarget.robot_check", "topic:/robot_description",
                                 "--arm", "arm=link_base:link6", "--png", ""], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", "") + os.pathsep + str(ROOT / "src")))
        while done.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.1)
        out, err = done.communicate()
        node.destroy_node()
    finally:
        rclpy.shutdown()
    assert done.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["joints"] == 6 and report["home_collision_free"] and report["reachable_fraction"] >= 0.5
