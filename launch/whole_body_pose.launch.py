"""ros2 launch whole_body_teleop whole_body_pose.launch.py [image:=...] [camera_info:=...] [config:=...]"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("whole_body_teleop")
    return LaunchDescription([
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="camera image topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info", description="camera info topic"),
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "whole_body_pose.yaml"),
                              description="parameter file of whole_body_pose_node"),
        Node(package="whole_body_teleop", executable="whole_body_pose_node", name="whole_body_pose",
             parameters=[LaunchConfiguration("config")], output="screen",
             remappings=[("image", LaunchConfiguration("image")),
                         ("image/compressed", [LaunchConfiguration("image"), "/compressed"]),
                         ("camera_info", LaunchConfiguration("camera_info"))]),
    ])
