"""Models are found after `colcon build`: in an install tree laid out as colcon lays it (the real Python
packages under lib/python3.X/site-packages, the real model files in share/whole_body_teleop/models,
the ament index marker), the installed code resolves and verifies the models with no repository
around it; without them it fails with a message saying where it looked and how to fix it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from whole_body_pose.models import MANIFEST, MODEL_DIR_ENV, MODELS, PACKAGE, tflite_file

PREPARED = REPO / ".cache" / "models"
PROBE = """
import whole_body_pose, whole_body_pose.models as models
print("module", whole_body_pose.__file__)
store = models.ModelStore()
print("dir", store.directory)
print("verified", sorted(store.verify_all()))
"""


def _install_tree(root: Path, with_models: bool) -> tuple[Path, Path]:
    """<root>/install/<package>: site-packages with our packages, share/ with the models and the index."""
    prefix = root / "install" / PACKAGE
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for package in ("teleop_common", "whole_body_pose"):
        shutil.copytree(REPO / "src" / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    share = prefix / "share" / PACKAGE
    shutil.copytree(REPO / "config", share / "config")
    if with_models:
        (share / "models").mkdir()
        for name in [MANIFEST, *MODELS.values(), *map(tflite_file, MODELS)]:
            shutil.copy2(PREPARED / name, share / "models" / name)
    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    marker.parent.mkdir(parents=True)
    marker.touch()
    return prefix, site


def _probe(prefix: Path, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (MODEL_DIR_ENV, "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), AMENT_PREFIX_PATH=str(prefix))
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


@pytest.mark.skipif(not (PREPARED / MANIFEST).is_file(), reason="models not prepared: run `make setup`")
def test_installed_package_finds_its_models_in_share(tmp_path):
    prefix, site = _install_tree(tmp_path, with_models=True)
    result = _probe(prefix, site, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"module {site / 'whole_body_pose' / '__init__.py'}" in result.stdout     # the installed copy ran
    assert f"dir {prefix / 'share' / PACKAGE / 'models'}" in result.stdout
    assert f"verified {sorted(MODELS)}" in result.stdout                               # sha256 of the real files


def test_installed_package_without_models_says_where_it_looked(tmp_path):
    prefix, site = _install_tree(tmp_path, with_models=False)
    result = _probe(prefix, site, tmp_path)
    assert result.returncode != 0
    missing = prefix / "share" / PACKAGE / "models" / MANIFEST
    assert f"model file {missing}: missing; run `make setup`" in result.stderr, result.stderr[-3000:]
    assert MODEL_DIR_ENV in result.stderr and "lib/python3" not in result.stderr.split("Error: ")[-1]


def test_cmake_installs_the_prepared_models_into_share():
    text = (REPO / "CMakeLists.txt").read_text()
    rule = re.search(r'install\(DIRECTORY "\$\{WBT_MODEL_DIR\}/" DESTINATION share/\$\{PROJECT_NAME\}/models'
                     r'([^)]*)\)', text)
    assert rule and '"*.onnx"' in rule.group(1) and '"manifest.json"' in rule.group(1)
    default = re.search(r'set\(WBT_MODEL_DIR "\$\{CMAKE_CURRENT_SOURCE_DIR\}/([^"]+)" CACHE PATH', text)
    assert default and REPO / default.group(1) == PREPARED
