"""`colcon test` runs our tests: CMakeLists.txt registers the pytest suite and the launch_testing test
in its BUILD_TESTING block, package.xml declares what they need, and collecting test/ never fails
on a checkout without the fetched media (pytest imports every test module at collection)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from conftest import REPO

LAUNCH_TEST = "test/test_teleop_launch_testing.py"


def _calls(text: str) -> list[tuple[str, list[str]]]:
    """CMake commands as (name, arguments): comments dropped, quoted arguments kept whole."""
    text = re.sub(r"#[^\n]*", "", text)
    calls = []
    for name, body in re.findall(r"(\w+)\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)", text):
        calls.append((name.lower(), re.findall(r'"[^"]*"|[^\s"]+', body)))
    return calls


def _testing_block(text: str) -> str:
    """The text between `if(BUILD_TESTING ...)` and its `endif()`."""
    match = re.search(r"^if\s*\(\s*BUILD_TESTING\b[^)]*\)(.*?)^endif\s*\(", text, re.S | re.M)
    assert match, "CMakeLists.txt has no if(BUILD_TESTING) block: colcon test would run 0 tests"
    return match.group(1)


def test_cmakelists_registers_the_pytest_suite_and_the_launch_test():
    text = _testing_block((REPO / "CMakeLists.txt").read_text())
    block = _calls(text)
    found = {args[0] for name, args in block if name == "find_package" and "REQUIRED" in args}
    assert "ament_cmake_pytest" in found
    # launch_testing_ament_cmake is not on PyPI: looked for QUIET, its test registered only when found
    optional = {args[0] for name, args in block if name == "find_package" and "QUIET" in args}
    assert "launch_testing_ament_cmake" in optional and "launch_testing_ament_cmake" not in found
    guarded = re.search(r"if\s*\(\s*launch_testing_ament_cmake_FOUND\s*\)(.*?)else\s*\(\s*\)(.*?)endif", text, re.S)
    assert guarded and "add_launch_test" in guarded.group(1) and "message(STATUS" in guarded.group(2)

    pytest_tests = [args for name, args in block if name == "ament_add_pytest_test"]
    assert len(pytest_tests) == 1
    name, path, *options = pytest_tests[0]
    # the whole test/ folder unless WBT_PYTEST_PATH narrows it (test_colcon_build.py)
    default = [args for name, args in block if name == "set" and args[0] == "WBT_PYTEST_PATH"]
    assert path == '"${WBT_PYTEST_PATH}"' and default and default[0][1:3] == ['"test"', "CACHE"], default
    assert any((REPO / "test").glob("test_*.py"))
    env = options[options.index("ENV") + 1:]
    # The launch_testing file is its own test; the suite must not run it a second time.
    assert f'"PYTEST_ADDOPTS=--ignore={LAUNCH_TEST}"' in env
    assert '"ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"' in env

    launch_tests = [args for name, args in block if name == "add_launch_test"]
    assert len(launch_tests) == 1 and launch_tests[0][0] == LAUNCH_TEST
    source = (REPO / LAUNCH_TEST).read_text()
    assert "def generate_test_description" in source and "ReadyToTest" in source
    assert "TIMEOUT" in launch_tests[0]


def test_package_xml_declares_the_test_dependencies():
    root = ElementTree.parse(REPO / "package.xml").getroot()
    test_depends = {element.text for element in root.iter("test_depend")}
    assert {"ament_cmake_pytest", "launch_testing", "launch_testing_ament_cmake", "launch_testing_ros",
            "python3-pytest"} <= test_depends
    assert root.find("export/build_type").text == "ament_cmake"


def test_collection_needs_no_fetched_media(tmp_path):
    """pytest --collect-only on a copy of test/ whose repository has no .cache (a colcon build tree)."""
    shutil.copytree(REPO / "test", tmp_path / "test", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             str(tmp_path / "test")], capture_output=True, text=True, timeout=300, env=env,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    collected = re.search(r"(\d+) tests? collected", result.stdout)
    assert collected and int(collected.group(1)) > 100, result.stdout[-2000:]
