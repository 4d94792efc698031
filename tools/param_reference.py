"""Print the README's parameter reference, generated from the typed configs and the YAML comments.

    python tools/param_reference.py            # prints the markdown
    python tools/param_reference.py --check    # exit 1 when README.md's section is out of date

Defaults and accepted values come from the config dataclasses (what the node enforces); the
description of a key is its comment in config/<file>.yaml, so documentation lives next to values.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from teleop_common.config import field_of, flatten  # noqa: E402
from teleop_session.graph import ALL_NODES, CONFIG_DIR  # noqa: E402

BEGIN, END = "<!-- parameters:begin -->", "<!-- parameters:end -->"


def yaml_comments(path: Path) -> dict[str, str]:
    """Dotted key -> its trailing comment, or the comment lines just above it."""
    comments: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("# "))
            continue
        match = re.match(r"^(\s*)([A-Za-z_][\w]*):(.*)$", line)
        if not match:
            pending = []
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        path_keys = [k for _, k in stack if k not in ("/**", "ros__parameters")]
        trailing = rest.split(" #", 1)[1].strip() if " #" in rest else ""
        comments[".".join(path_keys)] = trailing or " ".join(pending)
        pending = []
    return comments


def accepted(field: dataclasses.Field, kind: typing.Any) -> str:
    meta = field.metadata
    if "choices" in meta:
        return " \\| ".join(f"`{c}`" for c in meta["choices"])
    if meta.get("low") is not None or meta.get("high") is not None:
        low = "-∞" if meta.get("low") is None else meta["low"]
        high = "∞" if meta.get("high") is None else meta["high"]
        return f"[{low}, {high}]"
    names = {bool: "true \\| false", str: "string", int: "integer", float: "number"}
    if typing.get_origin(kind) in (tuple, list):
        return "list of " + names.get(typing.get_args(kind)[0], "values")
    return names.get(kind, getattr(kind, "__name__", str(kind)))


def reference() -> str:
    out = []
    for spec in ALL_NODES:
        config_cls = spec.load_config_class()
        comments = yaml_comments(CONFIG_DIR / spec.config_file)
        out += [f"#### `{spec.executable}` — `config/{spec.config_file}`", "",
                "| parameter | default | accepted | description |", "| --- | --- | --- | --- |"]
        for key, default in flatten(config_cls()).items():
            field, kind = field_of(config_cls, key)
            shown = f"`{default!r}`" if not isinstance(default, str) else f"`\"{default}\"`"
            out.append(f"| `{key}` | {shown} | {accepted(field, kind)} | {comments.get(key, '').replace('|', '/')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--write", action="store_true", help="rewrite README.md's section in place")
    args = parser.parse_args()
    text = reference()
    readme = ROOT / "README.md"
    content = readme.read_text()
    start, end = content.index(BEGIN) + len(BEGIN), content.index(END)
    if args.write:
        readme.write_text(content[:start] + "\n" + text + content[end:])
        return 0
    if args.check:
        return 0 if content[start:end].strip() == text.strip() else 1
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
