"""The README documents every parameter of every node (generated tables are up to date)."""
from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def test_parameter_reference_is_current_and_complete():
    tool = REPO / "tools" / "param_reference.py"
    check = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, "README parameter tables are stale: run python tools/param_reference.py --write"
    table = subprocess.run([sys.executable, str(tool)], capture_output=True, text=True, check=True).stdout
    undocumented = [line.split("|")[1].strip() for line in table.splitlines()
                    if line.startswith("| `") and line.rstrip().endswith("|  |")]
    assert not undocumented, f"parameters without a description in config/*.yaml: {undocumented}"


def test_readme_names_every_topic_and_message():
    readme = (REPO / "README.md").read_text()
    for msg in (REPO / "msg").glob("*.msg"):
        assert f"`{msg.stem}`" in readme, f"README does not document {msg.name}"
    for topic in ("/camera/image_raw", "/camera/camera_info", "poses", "pose_markers", "image_annotated",
                  "/diagnostics", "teleop_status", "joint_states", "~/engage"):
        assert topic in readme, f"README does not document topic {topic}"


def test_layout_section_matches_the_tree():
    """Every path the README's layout names exists, and every top-level folder and src package is named."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    named, folder = set(), None
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            folder = line.split()[0]
            named.add(folder.rstrip("/"))
        else:                                   # "  a.py, b.py   what they hold" under the folder above
            for name in re.findall(r"[\w./]+\.py", line.strip().split("   ")[0]):
                named.add(f"{folder.rstrip('/')}/{name}")
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, f"README layout names paths that do not exist: {missing}"
    tracked = {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".") and
               any(p.rglob("*.*")) and p.name not in ("build", "out", "install", "log")}
    packages = {f"src/{p.name}" for p in (REPO / "src").iterdir() if (p / "__init__.py").is_file()}
    unnamed = sorted((tracked - {"src"} | packages) - named)
    assert not unnamed, f"README layout does not name: {unnamed}"
