"""The launch files, the bringup graph, the executables and the parameter files agree.

`ros2 launch` is not installable here, so the launch files are read as Python syntax trees and
cross-checked against teleop_session.graph (what bringup starts), scripts/ (the executables) and
the typed configurations (every YAML key known and valid).  Where launch_ros exists, the launch
descriptions are also really built.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest
from conftest import REPO

from teleop_common.config import flatten, load, ros_parameters
from teleop_session.graph import ALL_NODES, CONFIG_DIR, CONTAINER_EXECUTABLE, TELEOP_GRAPH

LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
SPECS = {spec.executable: spec for spec in ALL_NODES}


def _launched_nodes(path: Path) -> list[dict]:
    """executable, name, remapping sources, yaml files, arguments and condition of every launch_ros Node(...) call."""
    tree = ast.parse(path.read_text())
    yaml_files = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and str(n.value).endswith(".yaml")}
    nodes = []
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Node":
            keywords = {k.arg: k.value for k in call.keywords}
            remaps = keywords.get("remappings")
            arguments = keywords.get("arguments")
            condition = keywords.get("condition")
            nodes.append({
                "package": keywords["package"].value, "executable": keywords["executable"].value,
                "name": keywords["name"].value if "name" in keywords else None, "yaml_files": yaml_files,
                "remap_sources": {e.elts[0].value for e in remaps.elts} if remaps else set(),
                "options": {e.value for e in arguments.elts if isinstance(e, ast.Constant)} if arguments else set(),
                "condition": condition.func.id if condition is not None else None,
            })
    return nodes


def test_every_launch_file_starts_known_nodes():
    assert {p.name for p in LAUNCH_FILES} >= {"teleop.launch.py", "whole_body_pose.launch.py",
                                             "pose_retarget.launch.py", "camera_source.launch.py"}
    for path in LAUNCH_FILES:
        nodes = _launched_nodes(path)
        assert nodes, f"{path.name} starts no node"
        for node in nodes:
            if node["executable"] == CONTAINER_EXECUTABLE:
                continue  # test_teleop_launch_composes_the_same_graph
            spec = SPECS.get(node["executable"])
            assert spec is not None, f"{path.name}: unknown executable {node['executable']}"
            assert node["package"] == "whole_body_teleop"
            assert node["name"] == spec.name, f"{path.name}: node name {node['name']} != {spec.name}"
            assert spec.config_file in node["yaml_files"], f"{path.name}: {spec.executable} not given {spec.config_file}"
            assert node["remap_sources"] == {src for src, _ in spec.remappings}, f"{path.name}: remappings differ"


def test_teleop_launch_matches_bringup_graph():
    launched = [n["executable"] for n in _launched_nodes(REPO / "launch" / "teleop.launch.py")
                if n["executable"] != CONTAINER_EXECUTABLE]
    assert launched == [spec.executable for spec in TELEOP_GRAPH]


def test_teleop_launch_composes_the_same_graph():
    """composed:=true starts teleop_container (bringup's graph in one process: its default node set)
    with the same parameter folder and camera topics, instead of the separate nodes."""
    nodes = _launched_nodes(REPO / "launch" / "teleop.launch.py")
    container = [n for n in nodes if n["executable"] == CONTAINER_EXECUTABLE]
    assert len(container) == 1 and container[0]["condition"] == "IfCondition"
    assert container[0]["options"] == {"--config-dir", "--image-topic", "--camera-info-topic"}
    assert container[0]["name"] is None  # a launch-level name would rename every node inside
    assert all(n["condition"] == "UnlessCondition" for n in nodes if n["executable"] != CONTAINER_EXECUTABLE)
    script = REPO / "scripts" / CONTAINER_EXECUTABLE
    assert callable(getattr(importlib.import_module(ast.parse(script.read_text()).body[1].module), "main"))


@pytest.mark.parametrize("spec", ALL_NODES, ids=lambda s: s.executable)
def test_executable_exists_and_imports(spec):
    script = REPO / "scripts" / spec.executable
    assert script.is_file(), f"scripts/{spec.executable} missing"
    module = ast.parse(script.read_text()).body[1].module  # "from <module> import main"
    assert callable(getattr(importlib.import_module(module), "main"))


@pytest.mark.parametrize("spec", ALL_NODES, ids=lambda s: s.executable)
def test_parameter_file_matches_config(spec):
    config_cls = spec.load_config_class()
    path = CONFIG_DIR / spec.config_file
    config = load(config_cls, path)  # raises ConfigError on an unknown key or a bad value
    known = set(flatten(config_cls()))
    written = set(flatten(config))
    assert written == known
    assert set(_flat_keys(ros_parameters(path))) <= known


def _flat_keys(mapping: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in mapping.items():
        keys += _flat_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [prefix + key]
    return keys


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None,
                    reason="launch_ros is not installable from PyPI; runs on a ROS 2 install (colcon test)")
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_description_builds(path):
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert description.entities
