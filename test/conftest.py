"""Test environment: DDS on loopback in a domain of this run's own, and rclpy helpers."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Before anything touches DDS: discovery stays on 127.0.0.0/8, in a domain no other run shares.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO / ".cache" / "media"
DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(REPO / "src"))


def node_executable(name: str) -> str:
    """A node's executable: the colcon install's lib/whole_body_teleop/<name> when one is on AMENT_PREFIX_PATH
    (colcon test), else the project venv's console script (as bringup starts them)."""
    from teleop_session.bringup import executable_path

    return executable_path(name)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a process a test starts: this checkout's src/ first on PYTHONPATH, whatever was
    there kept after it (a colcon install's packages, its generated messages)."""
    path = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **extra)


@pytest.fixture
def ros_node() -> Iterator[Callable[[str], object]]:
    """Create rclpy nodes in a fresh context; all are destroyed and the context shut down after."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    nodes = []

    def make(name: str):
        node = rclpy.create_node(name, context=context)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown(context=context)


def spin_until(nodes: list, condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Spin `nodes` until `condition()` holds or the timeout passes; returns condition()."""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=nodes[0].context)
    for node in nodes:
        executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    try:
        while not condition() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        for node in nodes:
            executor.remove_node(node)
        executor.shutdown()
    return condition()


def graph_parameters(spec, **overrides) -> list:
    """The parameters bringup gives the graph node of `spec` (its YAML in config/), with `overrides`."""
    import rclpy.parameter

    from teleop_common.config import flatten, load
    from teleop_session.graph import CONFIG_DIR

    values = flatten(load(spec.load_config_class(), CONFIG_DIR / spec.config_file))
    values.update(overrides)
    return [rclpy.parameter.Parameter(k, value=v) for k, v in values.items()]


@pytest.fixture
def robot_node(ros_node):
    """The robot process's node (robot_sim, its own YAML) in the test's context."""
    from robot_sim.node import RobotSimNode
    from teleop_session.graph import ROBOT_SIM

    node = RobotSimNode(context=ros_node("robot_anchor").context, parameter_overrides=graph_parameters(ROBOT_SIM))
    yield node
    node.destroy_node()
