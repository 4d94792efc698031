"""Where a robot model comes from: an MJCF or URDF file, a `package://` path, or the description itself
(the URDF string robot_state_publisher puts on /robot_description).

MuJoCo resolves neither `package://` nor a URDF's relative mesh paths against the URDF's folder in
every case, so a URDF's mesh references are rewritten to absolute paths before parsing.  A
`package://<name>/<path>` is looked up as an installed ROS package (AMENT_PREFIX_PATH share/), an
installed Python package (found without importing it), and a folder `<name>` next to the URDF or above
it (pybullet_data's `package://meshes/...` sits beside panda.urdf).  URDF links joined by fixed joints
stay bodies of their own (MuJoCo would fuse them), so an end-effector link such as a grasp frame can be named.
"""
from __future__ import annotations

import importlib.util
import math
import os
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import mujoco

from teleop_common.config import ConfigError

_PACKAGE = re.compile(r"package://([^/]+)/(.*)")


def package_roots(name: str) -> list[Path]:
    """Folders that may be the package `name` (ROS share/ folders first, then Python packages)."""
    roots = [Path(prefix) / "share" / name for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if prefix]
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        roots.append(Path(next(iter(spec.submodule_search_locations))))
    return [root for root in roots if root.is_dir()]


def resolve_uri(uri: str, folder: Path | None, key: str) -> Path:
    """A file named by `package://name/path`, an absolute path, or a path relative to `folder`."""
    match = _PACKAGE.fullmatch(uri)
    if match is None:
        path = Path(uri)
        if not path.is_absolute() and folder is not None:
            path = folder / path
        if not path.is_file():
            raise ConfigError(key, uri, "an existing file")
        return path
    name, relative = match.groups()
    candidates = [root / relative for root in package_roots(name)]
    if folder is not None:
        candidates += [parent / name / relative for parent in (folder, *folder.parents)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(key, uri, f"a file of an installed ROS or Python package '{name}' or of a folder '{name}' "
                                "next to the model")


def is_urdf(text: str) -> bool:
    """A URDF's root element is <robot> (an MJCF's is <mujoco>; a URDF may hold a <mujoco> extension)."""
    try:
        return ElementTree.fromstring(text).tag == "robot"
    except ElementTree.ParseError:
        return False


def urdf_with_absolute_meshes(text: str, folder: Path | None, key: str) -> str:
    """The URDF with every <mesh filename> resolved to an absolute path."""
    root = ElementTree.fromstring(text)
    for mesh in root.iter("mesh"):
        filename = mesh.get("filename")
        if filename:
            mesh.set("filename", str(resolve_uri(filename.removeprefix("file://"), folder, f"{key} mesh").resolve()))
    return ElementTree.tostring(root, encoding="unicode")


def read_model(model: str, key: str = "model") -> tuple[str, Path | None]:
    """The text of a file path, a `package://` path, or a URDF/MJCF string (starts with '<'), and its file."""
    if model.lstrip().startswith("<"):
        return model, None
    path = resolve_uri(model, None, key)
    return path.read_text(), path


def urdf_velocity_limits(model: str, key: str = "model") -> dict[str, float]:
    """Joint name -> the URDF's `<limit velocity>` (rad/s or m/s), positive ones only; {} for an MJCF.
    MuJoCo's URDF import keeps position and effort limits but drops velocity, so it is read here."""
    text, _ = read_model(model, key)
    if not is_urdf(text):
        return {}
    limits = {}
    for joint in ElementTree.fromstring(text).findall("joint"):      # not <transmission>'s <joint>
        limit = joint.find("limit")
        try:
            velocity = float(limit.get("velocity", "0")) if limit is not None else 0.0
        except ValueError:
            continue
        if joint.get("name") and math.isfinite(velocity) and velocity > 0:
            limits[joint.get("name")] = velocity
    return limits


def load_spec(model: str, key: str = "model") -> mujoco.MjSpec:
    """The MjSpec of a file path, a `package://` path, or a URDF/MJCF string (starts with '<')."""
    text, path = read_model(model, key)
    folder = None if path is None else path.parent
    try:
        if is_urdf(text):
            spec = mujoco.MjSpec.from_string(urdf_with_absolute_meshes(text, folder, key))
            spec.compiler.fusestatic = False
            spec.compiler.balanceinertia = True
        elif path is not None:
            spec = mujoco.MjSpec.from_file(str(path))
        else:
            spec = mujoco.MjSpec.from_string(text)
    except (ValueError, ElementTree.ParseError) as error:
        raise ConfigError(key, model if path is None else str(path), f"a model MuJoCo loads ({error})") from None
    return spec
