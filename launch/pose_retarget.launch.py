"""ros2 launch whole_body_teleop pose_retarget.launch.py [config:=...]"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("whole_body_teleop")
    return LaunchDescription([
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "pose_retarget.yaml"),
                              description="parameter file of pose_retarget_node"),
        Node(package="whole_body_teleop", executable="pose_retarget_node", name="pose_retarget",
             parameters=[LaunchConfiguration("config")], output="screen"),
    ])
