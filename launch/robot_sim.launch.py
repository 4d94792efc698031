"""ros2 launch whole_body_teleop robot_sim.launch.py [config:=...]"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("whole_body_teleop")
    return LaunchDescription([
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "robot_sim.yaml"),
                              description="parameter file of robot_sim_node"),
        Node(package="whole_body_teleop", executable="robot_sim_node", name="robot_sim",
             parameters=[LaunchConfiguration("config")], output="screen"),
    ])
