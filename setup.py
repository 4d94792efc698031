"""Python packaging for the project venv (`make setup`); colcon installs the same sources via CMake.

The ROS executables are the files in scripts/ (one source for both install paths).
"""
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="whole_body_teleop_py",
    version="0.1.0",
    description="Camera-only whole-body pose estimation and MuJoCo-checked robot teleoperation (ROS 2).",
    package_dir={"": "src"},
    packages=find_packages("src"),
    scripts=sorted(str(p) for p in Path("scripts").iterdir()),
    python_requires=">=3.10",
)
