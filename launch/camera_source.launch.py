"""ros2 launch whole_body_teleop camera_source.launch.py source:=VIDEO_OR_FOLDER_OR_/dev/videoN"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("whole_body_teleop")
    return LaunchDescription([
        DeclareLaunchArgument("source", description="video file, image folder or /dev/videoN"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="published image topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info", description="published info topic"),
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "camera_source.yaml"),
                              description="parameter file of camera_source_node"),
        Node(package="whole_body_teleop", executable="camera_source_node", name="camera_source",
             parameters=[LaunchConfiguration("config"), {"source": LaunchConfiguration("source")}],
             output="screen",
             remappings=[("image", LaunchConfiguration("image")),
                         ("camera_info", LaunchConfiguration("camera_info"))]),
    ])
