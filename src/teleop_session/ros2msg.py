"""Complete `ros2msg` message definitions for MCAP schemas, read from the installed .msg files.

A reader that does not know a type (Foxglove, mcap-ros2-support) decodes CDR from the schema
alone, so the schema holds the type's definition followed by every type it uses, recursively,
each after a line of 80 '=' and a 'MSG: pkg/msg/Type' line (rosbag2's message definition encoding).
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
_FIELD_TYPE = re.compile(r"^\s*([A-Za-z_][\w/]*(?:<=\d+)?(?:\[[^\]]*\])?)\s+\w")


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
    """The .msg file of 'pkg/msg/Type' as installed."""
    package, _, name = normalize(type_name).split("/")
    for share in _share_dirs():
        path = share / package / "msg" / f"{name}.msg"
        if path.is_file():
            return path.read_text()
    raise UnknownMessageType(f"no {package}/msg/{name}.msg under {[str(s) for s in _share_dirs()]}")


def field_types(text: str, package: str) -> list[str]:
    """Non-primitive field types used by a .msg text (constants are always primitive)."""
    used = []
    for line in text.splitlines():
        match = _FIELD_TYPE.match(line.split("#", 1)[0])
        if match is None:
            continue
        base = re.sub(r"(\[[^\]]*\]|<=\d+)+$", "", match.group(1))
        if base not in PRIMITIVES:
            used.append(normalize(base, package))
    return used


def full_definition(type_name: str) -> str:
    """The ros2msg schema text of `type_name` with all its dependencies (depth-first, once each)."""
    root = normalize(type_name)
    order: list[str] = []

    def visit(current: str) -> None:
        for dependency in field_types(definition_text(current), current.split("/")[0]):
            if dependency not in order and dependency != root:
                order.append(dependency)
                visit(dependency)

    visit(root)
    parts = [definition_text(root).rstrip("\n")]
    for dependency in order:
        parts.append(f"{SEPARATOR}\nMSG: {dependency}\n{definition_text(dependency).rstrip(chr(10))}")
    return "\n".join(parts) + "\n"
