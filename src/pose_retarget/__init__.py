"""Retargeting of an operator's arms and hands onto a robot model, checked in MuJoCo (no ROS here)."""
