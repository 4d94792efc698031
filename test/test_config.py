"""Bad configuration fails at start-up with a message naming the key and the accepted values."""
from __future__ import annotations

import subprocess

import pytest
import yaml
from conftest import child_env, node_executable

from teleop_common.config import ConfigError, load
from teleop_session.graph import ALL_NODES, CONFIG_DIR, POSE_RETARGET, WHOLE_BODY_POSE


def _start(executable: str, *ros_args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    command = [node_executable(executable), "--ros-args", *ros_args]
    env = child_env()
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)


@pytest.mark.parametrize("spec,key,value,accepted", [
    (WHOLE_BODY_POSE, "runtime", "cuda", "onnxruntime | tensorrt | torch"),
    (WHOLE_BODY_POSE, "default_fov_deg", "500.0", "[10"),
    (POSE_RETARGET, "operator.selection", "tallest", "largest"),
], ids=["pose-backend", "pose-fov", "retarget-operator"])
def test_node_refuses_bad_parameter(spec, key, value, accepted):
    result = _start(spec.executable, "--params-file", str(CONFIG_DIR / spec.config_file), "-p", f"{key}:={value}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"'{key}'" in result.stderr and value in result.stderr and accepted in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("spec", [WHOLE_BODY_POSE, POSE_RETARGET], ids=lambda s: s.executable)
def test_node_refuses_unknown_key_in_parameter_file(spec, tmp_path):
    document = yaml.safe_load((CONFIG_DIR / spec.config_file).read_text())
    document["/**"]["ros__parameters"]["no_such_setting"] = 1
    params = tmp_path / spec.config_file
    params.write_text(yaml.safe_dump(document))
    result = _start(spec.executable, "--params-file", str(params))
    assert result.returncode == 2 and "'no_such_setting'" in result.stderr and "known keys" in result.stderr


@pytest.mark.parametrize("spec", ALL_NODES, ids=lambda s: s.executable)
def test_loader_names_the_key_of_a_bad_value(spec, tmp_path):
    """Every numeric or choice field of every node rejects a wrong type with its own key in the message."""
    config_cls = spec.load_config_class()
    document = yaml.safe_load((CONFIG_DIR / spec.config_file).read_text())
    params = document["/**"]["ros__parameters"]
    key = next(k for k, v in params.items() if not isinstance(v, dict))
    params[key] = {"not": "a scalar"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError) as error:
        load(config_cls, path)
    assert error.value.key == key and "accepted" in str(error.value)


def test_configuration_validates_itself_however_it_is_built(tmp_path, capsys):
    """Bounds and choices hold for instances built in code and for CLI flags, not only for YAML."""
    import dataclasses

    from pose_retarget.config import RetargetNodeConfig
    from whole_body_pose import cli
    from whole_body_pose.config import PoseNodeConfig

    with pytest.raises(ConfigError) as error:
        PoseNodeConfig(default_fov_deg=500.0)
    assert error.value.key == "default_fov_deg"
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(RetargetNodeConfig().state, stale_timeout_s=0.0)
    assert error.value.key == "stale_timeout_s"
    assert PoseNodeConfig(default_fov_deg=90).default_fov_deg == 90.0 and \
        isinstance(PoseNodeConfig(default_fov_deg=90).default_fov_deg, float)
    assert cli.main([str(tmp_path), "--out", str(tmp_path / "out.jsonl"), "--fov", "500"]) == 2
    assert "default_fov_deg" in capsys.readouterr().err
