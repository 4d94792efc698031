"""ros2 launch whole_body_teleop episode_recorder.launch.py [config:=...] [task:=...]

Records episodes (MCAP) started and stopped with ~/start_episode and ~/stop_episode.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("whole_body_teleop")
    return LaunchDescription([
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "session.yaml"),
                              description="parameter file of episode_recorder_node"),
        DeclareLaunchArgument("task", default_value="teleoperation", description="task label of the episodes"),
        Node(package="whole_body_teleop", executable="episode_recorder_node", name="episode_recorder",
             parameters=[LaunchConfiguration("config"), {"task": LaunchConfiguration("task")}], output="screen"),
    ])
