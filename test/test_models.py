"""Model registry: real converted files, their hashes, and the errors a broken setup produces."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import child_env, node_executable

from teleop_session.graph import CONFIG_DIR, WHOLE_BODY_POSE

from whole_body_pose.models import (
    MANIFEST,
    MODEL_DIR_ENV,
    MODELS,
    SHA256,
    ModelFileError,
    ModelStore,
    resolve_model_dir,
    sha256_of,
    tflite_file,
)


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore()


def copy_store(source: ModelStore, target: Path, *names: str) -> ModelStore:
    """A model dir in `target` holding the real manifest and the real files of `names`."""
    shutil.copy(source.directory / MANIFEST, target / MANIFEST)
    for name in names:
        shutil.copy(source.path(name), target / MODELS[name])
        shutil.copy(source.tflite_path(name), target / tflite_file(name))
    return ModelStore(target)


def test_every_model_matches_its_manifest_hash(store: ModelStore) -> None:
    paths = store.verify_all()
    assert set(paths) == set(MODELS)
    for name, path in paths.items():
        info = store.info(name)
        assert path.name == MODELS[name]
        assert info.layout == "NHWC"
        assert info.inputs[0].name == "image" and info.inputs[0].shape[0] == "batch"
        assert info.inputs[0].shape[3] == 3
        assert all(out.shape[0] == "batch" for out in info.outputs)


def test_manifest_records_expected_input_sizes_and_ranges(store: ModelStore) -> None:
    expected = {
        "pose_detection": ((224, 224), (-1.0, 1.0)),
        "pose_landmark": ((256, 256), (0.0, 1.0)),
        "palm_detection": ((192, 192), (0.0, 1.0)),
        "hand_landmark": ((224, 224), (0.0, 1.0)),
        "hand_landmark_lite": ((224, 224), (0.0, 1.0)),
        "face_landmark": ((192, 192), (0.0, 1.0)),
        "face_detection": ((128, 128), (-1.0, 1.0)),
    }
    assert set(expected) == set(MODELS)
    for name, (size, value_range) in expected.items():
        info = store.info(name)
        assert (info.input_size, info.input_range) == (size, value_range), name


def test_corrupt_model_raises_error_naming_file_and_setup(store: ModelStore, tmp_path: Path) -> None:
    copy = copy_store(store, tmp_path, "hand_landmark")
    target = tmp_path / MODELS["hand_landmark"]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="make setup") as caught:
        copy.path("hand_landmark")
    assert str(target) in str(caught.value) and "corrupt" in str(caught.value)


def test_truncated_model_raises(store: ModelStore, tmp_path: Path) -> None:
    copy = copy_store(store, tmp_path, "face_landmark")
    target = tmp_path / MODELS["face_landmark"]
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="make setup"):
        copy.path("face_landmark")


def test_missing_model_raises_error_naming_file_and_setup(store: ModelStore, tmp_path: Path) -> None:
    copy = copy_store(store, tmp_path)
    with pytest.raises(ModelFileError, match="make setup") as caught:
        copy.path("pose_landmark")
    assert str(tmp_path / MODELS["pose_landmark"]) in str(caught.value) and "missing" in str(caught.value)


def test_missing_or_broken_manifest_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="make setup") as caught:
        ModelStore(tmp_path).path("pose_detection")
    assert MANIFEST in str(caught.value)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(ModelFileError, match="unreadable manifest"):
        ModelStore(tmp_path).info("pose_detection")


def test_intact_copy_verifies(store: ModelStore, tmp_path: Path) -> None:
    copy = copy_store(store, tmp_path, "face_landmark")
    assert copy.path("face_landmark") == tmp_path / MODELS["face_landmark"]


def test_unknown_model_name_lists_known_ones(store: ModelStore) -> None:
    with pytest.raises(KeyError, match="pose_landmark"):
        store.info("pose_landmark_heavy")


def test_model_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    assert resolve_model_dir() == Path(__file__).resolve().parents[1] / ".cache" / "models"
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "from_env"))
    assert resolve_model_dir() == tmp_path / "from_env"
    assert resolve_model_dir(tmp_path / "from_config") == tmp_path / "from_config"
    assert ModelStore().directory == tmp_path / "from_env"


def test_shipped_hashes_match_the_prepared_models(store: ModelStore) -> None:
    """The sha256 table in the source is what `make setup` produces (the conversion is reproducible)."""
    for name in MODELS:
        assert store.info(name).sha256 == SHA256[name], name


def test_model_swapped_together_with_its_manifest_entry_is_refused(store: ModelStore, tmp_path: Path) -> None:
    """A writable model folder cannot vouch for itself: the manifest is rewritten to match a swapped file."""
    copy = copy_store(store, tmp_path, "hand_landmark")
    target = tmp_path / MODELS["hand_landmark"]
    shutil.copy(store.path("face_landmark"), target)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    entry = next(e for e in manifest["models"].values() if e["file"] == MODELS["hand_landmark"])
    entry["sha256"] = sha256_of(target)
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="not the released model"):
        copy.path("hand_landmark")


def test_node_with_a_bad_model_file_exits_2_with_one_fatal_line(store: ModelStore, tmp_path: Path) -> None:
    copy_store(store, tmp_path, *[n for n in MODELS if n != "pose_landmark"])
    bad = (MODELS["pose_landmark"], tflite_file("pose_landmark"))  # whichever the default runtime opens
    for name in bad:
        (tmp_path / name).write_bytes(b"not a model")
    command = [node_executable(WHOLE_BODY_POSE.executable), "--ros-args",
               "--params-file", str(CONFIG_DIR / WHOLE_BODY_POSE.config_file), "-p", f"model_dir:={tmp_path}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env=child_env())
    assert result.returncode == 2, result.stderr[-2000:]
    fatal = [line for line in result.stderr.splitlines() if line.startswith("[FATAL]")]
    assert len(fatal) == 1 and any(name in fatal[0] for name in bad) and "make setup" in fatal[0], result.stderr
    assert "Traceback" not in result.stderr
