"""Teleop sessions: bringup of the node graph, camera sources, episode recording and export."""
