"""Complete `ros2msg` message definitions for MCAP schemas, read from the installed .msg files.

A reader that does not know a type (Foxglove, mcap-ros2-support) decodes CDR from the schema
alone, so the schema holds the type's definition followed by every type it uses, recursively.
The text is laid out exactly as rosbag2 writes it (rosbag2_cpp's local message definition source),
because Foxglove's parser resolves the blocks by the names the fields use:
- the root .msg file verbatim, then for each dependency not written yet, in sorted order and
  depth first: a newline, a line of 80 '=', `MSG: <name>` and that .msg file verbatim;
- a dependency is named as its field writes it (`std_msgs/Header`), a type of the same package
  (`RegionOfInterest`) as `<package>/RegionOfInterest`: never `pkg/msg/Type`.
"""
from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from pathlib import Path

PRIMITIVES = frozenset({
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64", "string", "wstring",
})
SEPARATOR = "=" * 80
# A field's type at the start of a line ("foo_msgs/Bar" in "foo_msgs/Bar[] bar"); bounded strings
# ("string<=5 name") never match, as in rosbag2.
_FIELD_TYPE = re.compile(r"(?:^|\n)\s*([a-zA-Z0-9_/]+)(?:\[[^\]]*\])?\s+")


class UnknownMessageType(LookupError):
    """No installed .msg file defines this type."""


def _share_dirs() -> list[Path]:
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    return [Path(p) / "share" for p in dict.fromkeys(prefixes)]


def normalize(type_name: str, package: str = "") -> str:
    """'pkg/Type', 'pkg/msg/Type' or (inside `package`) 'Type' -> 'pkg/msg/Type'."""
    parts = type_name.split("/")
    if len(parts) == 1:
        return f"{package}/msg/{parts[0]}"
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    return type_name


@lru_cache(maxsize=None)
def definition_text(type_name: str) -> str:
    """The .msg file of 'pkg/msg/Type' (or 'pkg/Type') as installed."""
    package, _, name = normalize(type_name).split("/")
    for share in _share_dirs():
        path = share / package / "msg" / f"{name}.msg"
        if path.is_file():
            return path.read_text()
    raise UnknownMessageType(f"no {package}/msg/{name}.msg under {[str(s) for s in _share_dirs()]}")


def dependencies(text: str, package: str) -> list[str]:
    """Non-primitive field types of a .msg text, as rosbag2 names them ('pkg/Type'), sorted."""
    found = set()
    for match in _FIELD_TYPE.finditer(text):
        name = match.group(1)
        if name not in PRIMITIVES:
            found.add(name if "/" in name else f"{package}/{name}")
    return sorted(found)


def full_definition(type_name: str) -> str:
    """The ros2msg schema text of `type_name` ('pkg/msg/Type') with all its dependencies, as rosbag2 writes it."""
    written: set[str] = set()

    def expand(name: str) -> str:
        text = definition_text(name)
        for dependency in dependencies(text, name.split("/")[0]):
            if dependency not in written:
                written.add(dependency)
                text += f"\n{SEPARATOR}\nMSG: {dependency}\n" + expand(dependency)
        return text

    return expand(type_name)
