"""The one-command session with a robot derived from its URDF (make demo ROBOT=panda_urdf): the
retargeting node and the robot process load the same derived description, the robot engages and its
end effector follows the person's right arm."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from conftest import REPO

FRAMES = 150
CAMERA_FPS = 10.0      # the clip played at a third of its rate: the pose node keeps up on a loaded machine


def test_demo_runs_with_a_robot_from_its_urdf(tmp_path) -> None:
    video = tmp_path / "session.mp4"
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    camera = config / "camera_source.yaml"
    text = camera.read_text()
    assert "    fps: 0.0 " in text
    camera.write_text(text.replace("    fps: 0.0 ", f"    fps: {CAMERA_FPS} "))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "teleop_session.demo", "--robot", "panda_urdf", "--no-record",
                             "--max-frames", str(FRAMES), "--out", str(video), "--config-dir", str(config)],
                            capture_output=True, text=True, timeout=900, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    robot = summary["robot"]
    assert set(robot["arms"]) == {"arm"}                       # the Panda's one arm, not ALOHA's two
    assert summary["engaged"] and robot["engaged_s"] >= 2.0 and summary["commands"] > 0, summary
    assert robot["arms"]["arm"]["moved_cm"] >= 5.0, robot
    assert video.stat().st_size > 0
