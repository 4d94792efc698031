"""Robot descriptions and retargeting parameters: loaded from YAML, bad values named."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from pose_retarget.config import RetargetNodeConfig
from robot_model.config import ROBOTS_DIR, load_robot_config
from pose_retarget.robot import Robot
from teleop_common.config import ConfigError, flatten, from_mapping, load

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, arms, dofs", [("aloha", 2, 6), ("arm7", 1, 7)])
def test_robot_from_yaml(name: str, arms: int, dofs: int) -> None:
    robot = Robot(load_robot_config(name))
    assert len(robot.arms) == arms
    for arm in robot.arms:
        assert len(arm.qpos) == dofs and len(arm.actuators) == dofs
        assert np.all(arm.home >= arm.lower) and np.all(arm.home <= arm.upper)
        np.testing.assert_allclose(robot.home[arm.qpos], arm.home)
        assert robot.model.site(arm.config.ee_frame).id == arm.site
        assert arm.gripper_geoms <= arm.geoms
    assert robot.collision_pairs and all(a and b for a, b in robot.collision_pairs)


def test_aloha_comes_from_the_gym_aloha_wheel_without_importing_it() -> None:
    import sys

    robot = Robot(load_robot_config("aloha"))
    assert "gym_aloha" not in sys.modules          # its __init__ would import gymnasium
    assert robot.model.nq == 16                    # 2 x (6 arm + 2 finger joints); the cube was removed


def test_parameter_file_mirrors_the_defaults() -> None:
    from_file = flatten(load(RetargetNodeConfig, REPO / "config" / "pose_retarget.yaml"))
    defaults = flatten(RetargetNodeConfig())
    assert from_file.keys() == defaults.keys()
    for key, value in defaults.items():
        assert from_file[key] == pytest.approx(value, abs=1e-6) if not isinstance(value, str) else from_file[key] == value


@pytest.mark.parametrize("values, key", [
    ({"operator": {"selection": "tallest"}}, "operator.selection"),
    ({"ik": {"iterations": 0}}, "ik.iterations"),
    ({"gripper": {"closed_ratio": 1.0, "open_ratio": 0.5}}, "gripper.open_ratio"),
    ({"mapping": {"mounting_rpy": [0.0, 1.0]}}, "mapping.mounting_rpy"),
    ({"engage": {"mode": "always"}}, "engage.mode"),
])
def test_bad_parameters_name_their_key(values: dict, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        from_mapping(RetargetNodeConfig, values)
    assert error.value.key == key


def _robot_yaml(tmp_path: Path, edit) -> str:
    values = yaml.safe_load((ROBOTS_DIR / "arm7.yaml").read_text())
    values["model"] = str(ROBOTS_DIR / "arm7.xml")
    edit(values)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


@pytest.mark.parametrize("edit, key", [
    (lambda v: v["arms"][0]["joints"].__setitem__(6, "nope"), "arms.arm.joints"),
    (lambda v: v["arms"][0].update(home=[0.0] * 6), "arms.arm.home"),
    (lambda v: v["arms"][0]["gripper"].update(open=[0.9, 0.9]), "arms.arm.gripper.open"),
    (lambda v: v["arms"][0].update(ee_parent="no_such_body"), "arms.arm.ee_parent"),
    (lambda v: v.update(collision_pairs=[["distal", "ceiling"]]), "collision_pairs"),
    (lambda v: v.update(singularity_stop=10.0), "singularity_stop"),
    (lambda v: v.update(model="package://no_such_package/robot.xml"), "model"),
])
def test_bad_robot_descriptions_name_their_key(tmp_path: Path, edit, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        Robot(load_robot_config(_robot_yaml(tmp_path, edit)))
    assert error.value.key == key


def test_unknown_robot_name() -> None:
    with pytest.raises(ConfigError) as error:
        load_robot_config("no_such_robot")
    assert error.value.key == "robot"


def test_targets_are_reported_in_the_robot_base_frame(tmp_path: Path) -> None:
    values = yaml.safe_load((ROBOTS_DIR / "aloha.yaml").read_text())
    values["base_frame"] = "vx300s_right"            # at (0.469, 0.5, 0), turned by pi about z
    path = tmp_path / "aloha_right_base.yaml"
    path.write_text(yaml.safe_dump(values))
    robot = Robot(load_robot_config(str(path)))
    position, rotation = robot.to_base(np.array([0.469, 0.6, 0.1]), np.eye(3))
    np.testing.assert_allclose(position, [0.0, -0.1, 0.1], atol=1e-4)
    np.testing.assert_allclose(rotation, np.diag([-1.0, -1.0, 1.0]), atol=1e-4)
