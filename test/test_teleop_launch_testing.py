"""launch_testing: ros2 launch of teleop.launch.py brings up both nodes (ROS 2 installs only).

launch, launch_ros and launch_testing cannot be installed from PyPI, so this module is skipped
here with that reason; under `colcon test` on a ROS 2 install it starts the real launch file.
"""
from __future__ import annotations

import os
import unittest

import pytest

launch = pytest.importorskip("launch", reason="launch is not installable from PyPI; runs under colcon test on ROS 2")
launch_ros = pytest.importorskip("launch_ros", reason="launch_ros is not installable from PyPI; runs on ROS 2")
launch_testing = pytest.importorskip("launch_testing", reason="launch_testing is not installable from PyPI")

import launch_testing.actions  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


@pytest.mark.launch_test
def generate_test_description():
    teleop = launch.actions.IncludeLaunchDescription(PythonLaunchDescriptionSource(
        os.path.join(get_package_share_directory("whole_body_teleop"), "launch", "teleop.launch.py")))
    return launch.LaunchDescription([teleop, launch_testing.actions.ReadyToTest()])


class TestNodesComeUp(unittest.TestCase):
    def test_both_nodes_start_with_the_installed_config(self, proc_output):
        # Lines each node logs once its configuration validated and its core is built.
        proc_output.assertWaitFor("ready; waiting for images on /camera/image_raw", timeout=120, stream="stderr")
        proc_output.assertWaitFor("disengaged until ~/engage", timeout=120, stream="stderr")
