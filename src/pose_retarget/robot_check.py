"""robot_check: derive a robot description from a model and three names per arm, and check it.

  python -m pose_retarget.robot_check MODEL --arm NAME=BASE_LINK:EE_LINK[:GRIPPER_JOINT[=CLOSED/OPEN],...] ...
  python -m pose_retarget.robot_check config/robots/my_robot.yaml      # a description (overrides kept)

MODEL: an MJCF or URDF path, a package:// path, '-' for a URDF string on stdin, or topic:/robot_description
(robot_state_publisher's latched URDF string, read once over DDS; also as a robot YAML's `model`).  Prints the derived description as YAML (save it to config/robots/<name>.yaml and
edit), then the checks; writes a PNG of the robot at home with the operator motion set (green: reached);
the last line is JSON.  A missing or misspelt link or joint exits 2 with one line naming it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

if not os.environ.get("DISPLAY"):           # before MuJoCo is imported: render offscreen on the CPU
    os.environ.setdefault("MUJOCO_GL", "osmesa")

import yaml  # noqa: E402

from pose_retarget.config import MappingConfig  # noqa: E402
from pose_retarget.robot import Robot  # noqa: E402
from robot_model.check import RobotCheck  # noqa: E402
from robot_model.config import RobotConfig, load_robot_config, needs_derivation  # noqa: E402
from robot_model.derive import NameNotFound, derive_values  # noqa: E402
from teleop_common.config import ConfigError, from_mapping  # noqa: E402


def parse_arm(text: str) -> dict:
    """NAME=BASE:EE[:JOINT[=CLOSED/OPEN],...] -> a description's arm entry."""
    name, equals, links = text.partition("=")
    parts = links.split(":")
    if not equals or len(parts) not in (2, 3) or not all(parts[:2]):
        raise argparse.ArgumentTypeError(f"--arm {text!r}: expected NAME=BASE_LINK:EE_LINK[:GRIPPER_JOINT,...]")
    arm = {"name": name, "base_frame": parts[0], "ee_parent": parts[1]}
    if len(parts) == 3 and parts[2]:
        gripper: dict = {"joints": []}
        values = []
        for item in parts[2].split(","):
            joint, _, span = item.partition("=")
            gripper["joints"].append(joint)
            if span:
                closed, _, opened = span.partition("/")
                values.append((float(closed), float(opened)))
        if values and len(values) != len(gripper["joints"]):
            raise argparse.ArgumentTypeError(f"--arm {text!r}: give CLOSED/OPEN for every gripper joint or none")
        if values:
            gripper["closed"], gripper["open"] = [v[0] for v in values], [v[1] for v in values]
        arm["gripper"] = gripper
    return arm


def read_topic(topic: str, timeout_s: float = 10.0) -> str:
    """The URDF string latched on `topic`, read once by a node of its own (as the nodes read it)."""
    import rclpy

    from robot_model.description_topic import read_description

    rclpy.init()
    try:
        node = rclpy.create_node("robot_check")
        try:
            return read_description(node, topic, timeout_s)
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown()


def description(model: str, arms: list[dict], name: str) -> dict:
    if model == "-":
        model = sys.stdin.read()
    elif model.startswith("topic:"):
        model = read_topic(model[len("topic:"):])
    elif not model.startswith("package://") and not model.lstrip().startswith("<"):
        model = str(Path(model).resolve())
    return {"name": name, "model": model, "arms": arms}


def plain(values):
    """YAML-ready: tuples as lists, numpy scalars as floats."""
    if isinstance(values, dict):
        return {k: plain(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [plain(v) for v in values]
    if hasattr(values, "item"):
        return values.item()
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="URDF/MJCF path, package:// path, '-' (URDF on stdin) or a robot YAML")
    parser.add_argument("--arm", action="append", type=parse_arm, default=[], help="NAME=BASE_LINK:EE_LINK[:GRIPPER_JOINT,...]")
    parser.add_argument("--name", default="my_robot")
    parser.add_argument("--png", default="robot_check.png", help="picture of home and the reachable workspace ('' = none)")
    args = parser.parse_args(argv)
    mounting = MappingConfig().mounting_rpy
    try:
        if args.model.endswith((".yaml", ".yml")):
            raw = yaml.safe_load(Path(args.model).read_text()) or {}
            config = load_robot_config(args.model, read_topic=read_topic)
            values = plain(raw) if not needs_derivation(raw) else None
            derived, clearance = [], {}
        else:
            if not args.arm:
                parser.error("give at least one --arm NAME=BASE_LINK:EE_LINK")
            derivation = derive_values(description(args.model, args.arm, args.name), mounting)
            values, derived, clearance = derivation.values, derivation.derived, derivation.home_clearance_m
            config = from_mapping(RobotConfig, values)
        Robot(config)                    # what the retargeting node checks at start-up (gripper values in range, ...)
        report = RobotCheck(config, mounting).run()
    except NameNotFound as error:
        print(f"robot_check: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"robot_check: {error}", file=sys.stderr)
        return 1
    if values is None:
        values = plain(dataclasses.asdict(config))
    if str(values.get("model", "")).lstrip().startswith("<"):     # a description string: save it, name the file
        values = dict(values, model=f"(the {len(values['model'])}-character URDF read: save it and give its path)")
    print(yaml.safe_dump(plain(values), sort_keys=False, default_flow_style=None, width=110), end="")
    for arm, fraction in report.reachable_fraction.items():
        print(f"# {arm}: reachable {fraction:.0%} of the operator motion set; condition at home "
              f"{report.home_condition[arm]:.1f} (singularity margin x{report.singularity_margin[arm]:.1f} "
              f"below singularity_slow {config.singularity_slow})")
    print(f"# home collision-free: {report.home_collision_free}" + (f" (contacts: {', '.join(report.home_contacts)})"
                                                                  if report.home_contacts else ""))
    png = ""
    if args.png:
        try:
            RobotCheck(config, mounting).render(report, Path(args.png))
            png = str(Path(args.png).resolve())
            print(f"# picture: {png}")
        except Exception as error:          # noqa: BLE001  (no offscreen GL here: the checks still stand)
            print(f"# no picture ({type(error).__name__}: {error}); set MUJOCO_GL=osmesa", file=sys.stderr)
    arms = [{"name": a.name, "joints": list(a.joints), "gripper_joints": list(a.gripper.joints)} for a in config.arms]
    print(json.dumps({
        "robot": config.name, "arms": arms, "joints": sum(len(a.joints) for a in config.arms),
        "reachable_fraction": round(min(report.reachable_fraction.values()), 4),
        "reachable_fraction_by_arm": report.reachable_fraction, "home_collision_free": report.home_collision_free,
        "home_condition": report.home_condition, "singularity_margin": min(report.singularity_margin.values()),
        "derived_keys": len(derived), "home_clearance_m": clearance, "png": png}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
