"""ros2 launch whole_body_teleop teleop.launch.py [image:=...] [camera_info:=...] [config_dir:=...] [composed:=true]

Starts the pose node, the retargeting node and the simulated robot on a camera's topics (any driver:
remap image and camera_info), each in its own process, or with composed:=true all in one process on one executor
(teleop_container, lower latency on few cores). `python -m teleop_session.bringup [--composed]`
starts the same graph without ROS installed.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("whole_body_teleop")
    config_dir = LaunchConfiguration("config_dir")
    composed = LaunchConfiguration("composed")
    return LaunchDescription([
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="camera image topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info", description="camera info topic"),
        DeclareLaunchArgument("config_dir", default_value=os.path.join(share, "config"),
                              description="folder holding whole_body_pose.yaml, pose_retarget.yaml and robot_sim.yaml"),
        DeclareLaunchArgument("composed", default_value="false",
                              description="true: the nodes in one process, one executor (teleop_container)"),
        Node(package="whole_body_teleop", executable="whole_body_pose_node", name="whole_body_pose",
             parameters=[PathJoinSubstitution([config_dir, "whole_body_pose.yaml"])], output="screen",
             condition=UnlessCondition(composed),
             remappings=[("image", LaunchConfiguration("image")),
                         ("image/compressed", [LaunchConfiguration("image"), "/compressed"]),
                         ("camera_info", LaunchConfiguration("camera_info"))]),
        Node(package="whole_body_teleop", executable="pose_retarget_node", name="pose_retarget",
             parameters=[PathJoinSubstitution([config_dir, "pose_retarget.yaml"])], output="screen",
             condition=UnlessCondition(composed)),
        # The simulated arm; for a real one, launch whole_body_pose.launch.py and pose_retarget.launch.py instead.
        Node(package="whole_body_teleop", executable="robot_sim_node", name="robot_sim",
             parameters=[PathJoinSubstitution([config_dir, "robot_sim.yaml"])], output="screen",
             condition=UnlessCondition(composed)),
        # Each node inside gets its own name, parameter file and remappings, as in its own process.
        Node(package="whole_body_teleop", executable="teleop_container", output="screen",
             arguments=["--config-dir", config_dir, "--image-topic", LaunchConfiguration("image"),
                        "--camera-info-topic", LaunchConfiguration("camera_info")],
             condition=IfCondition(composed)),
    ])
