"""Shared pieces of whole-body teleop: keypoint layout, pose types, configuration, node helpers."""
