"""`colcon build` and `colcon test` of this package in a temporary workspace, on the ROS 2 Kilted wheels of
the project venv (no ROS install): the interfaces compile, the Python packages, executables, config and
every model file the nodes load (.onnx and .tflite) are installed; `colcon test` runs the pytest suite
(narrowed to one file by WBT_PYTEST_PATH, to keep this test short) and the tests ran and passed; the
installed pose node, away from the repository (config/ and models through the ament index), starts
and estimates the pose of a real image."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import MEDIA, REPO, spin_until
from sensor_msgs.msg import Image
from whole_body_teleop.msg import WholeBodyPoseArray

from teleop_common.node_support import SENSOR_QOS, STATE_QOS
from teleop_common.paths import PACKAGE
from whole_body_pose.models import MANIFEST, MODELS, tflite_file

COLCON = Path(sys.executable).parent / "colcon"
PREPARED = REPO / ".cache" / "models"
SUITE = "test/test_config.py"       # starts the installed executables with bad configurations
PROBE = ("import whole_body_pose.node as n, teleop_common.paths as p, whole_body_pose.models as m; "
         "print(n.__file__, p.CONFIG_DIR, m.ModelStore().directory)")
SKIP = shutil.ignore_patterns(".venv*", ".cache", "build", "install", "log", "out", "node_modules", ".git",
                              "__pycache__", ".pytest_cache")


def _environment() -> dict[str, str]:
    """The project venv as the underlay (its wheels are the ROS install); nothing of this checkout on PYTHONPATH."""
    venv = sys.prefix
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", AMENT_PREFIX_PATH=venv,
               CMAKE_PREFIX_PATH=venv, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    return env


def _run(command: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    if not COLCON.is_file():
        pytest.fail("colcon is not installed in the venv: run `make setup`")
    if not (PREPARED / MANIFEST).is_file():
        pytest.skip("models not prepared: run `make setup`")
    root = tmp_path_factory.mktemp("colcon_ws")
    shutil.copytree(REPO, root / "src" / PACKAGE, ignore=SKIP, symlinks=True)
    build = _run([str(COLCON), "build", "--event-handlers", "console_direct-", "--cmake-args",
                  f"-DPython3_EXECUTABLE={sys.executable}", f"-DWBT_MODEL_DIR={PREPARED}",
                  f"-DWBT_PYTEST_PATH={SUITE}", "-Wno-dev"], root, timeout=1800)
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    log = (root / "log" / "latest_build" / PACKAGE / "stdout_stderr.log").read_text()
    assert "launch_testing_ament_cmake not found" in log          # said, not failed
    return root


def test_install_holds_every_model_file_the_nodes_load(workspace):
    share = workspace / "install" / PACKAGE / "share" / PACKAGE
    installed = {p.name for p in (share / "models").iterdir()}
    assert {MANIFEST, *MODELS.values(), *map(tflite_file, MODELS)} <= installed
    assert (share / "config" / "whole_body_pose.yaml").is_file()
    assert {"whole_body_pose_node", "episode_recorder_node"} <= {
        p.name for p in (workspace / "install" / PACKAGE / "lib" / PACKAGE).iterdir()}


def test_colcon_test_runs_the_suite(workspace):
    result = _run([str(COLCON), "test", "--event-handlers", "console_direct-"], workspace, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    report = workspace / "build" / PACKAGE / "test_results" / PACKAGE / "pytest_suite.xunit.xml"
    suite = ElementTree.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    tests, failed = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
    assert tests >= 5 and failed == 0, ElementTree.tostring(suite)[-3000:]
    summary = _run([str(COLCON), "test-result", "--all"], workspace, timeout=120)
    assert summary.returncode == 0 and f"{tests} tests, 0 errors, 0 failures" in summary.stdout, summary.stdout[-2000:]


def test_installed_pose_node_estimates_a_frame(workspace, ros_node, tmp_path):
    prefix = workspace / "install" / PACKAGE
    site = next((prefix / "lib").glob("python3*/site-packages"))
    env = _environment()
    env.update(AMENT_PREFIX_PATH=f"{prefix}{os.pathsep}{sys.prefix}", PYTHONPATH=str(site),
               LD_LIBRARY_PATH=os.pathsep.join(filter(None, [str(prefix / "lib"), os.environ.get("LD_LIBRARY_PATH")])))
    env.pop("WBT_MODEL_DIR", None)
    topics = {"image": "/colcon_test/image", "image/compressed": "/colcon_test/image/compressed",
              "camera_info": "/colcon_test/camera_info", "poses": "/colcon_test/poses"}
    command = [str(prefix / "lib" / PACKAGE / "whole_body_pose_node"), "--ros-args", "-r", "__node:=colcon_pose",
               "--params-file", str(prefix / "share" / PACKAGE / "config" / "whole_body_pose.yaml"),
               *[arg for source, target in topics.items() for arg in ("-r", f"{source}:={target}")]]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    node = ros_node("colcon_pose_client")
    poses: list[WholeBodyPoseArray] = []
    node.create_subscription(WholeBodyPoseArray, topics["poses"], poses.append, STATE_QOS)
    publisher = node.create_publisher(Image, topics["image"], SENSOR_QOS)
    rgb = np.ascontiguousarray(cv2.cvtColor(cv2.imread(str(MEDIA / "messi5.jpg")), cv2.COLOR_BGR2RGB))
    message = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", step=rgb.shape[1] * 3)
    message.data = rgb.tobytes()
    try:
        for second in range(1, 301):          # a loaded machine: start-up (imports, models) may take minutes
            message.header.stamp.sec = second
            publisher.publish(message)
            if spin_until([node], lambda: any(p.poses for p in poses) or process.poll() is not None, timeout_s=1.0):
                break
        assert process.poll() is None, process.communicate()[0][-3000:]
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert any(p.poses for p in poses), f"no pose from the installed node ({len(poses)} empty replies): {output[-3000:]}"
    estimated = next(p for p in poses if p.poses)
    assert estimated.poses[0].has_body and 1 <= estimated.header.stamp.sec <= 300
    assert "Traceback" not in output, output[-3000:]
    # what it ran: the install's sources (site-packages), config/ and models found through the ament index
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    share = prefix / "share" / PACKAGE
    assert probe.stdout.split() == [str(site / "whole_body_pose" / "node.py"), str(share / "config"),
                                    str(share / "models")], probe.stdout
