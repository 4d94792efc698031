"""Registry of the estimator's model files (ONNX, and the TFLite files LiteRT runs) and their integrity checks.

`make setup` converts MediaPipe's TFLite experts into `<model dir>/<name>.onnx`, writes beside each
the TFLite file the litert runtime runs (pruned of unread outputs) and `manifest.json` (see
tools/model_prep.py).  Everything that opens a model goes through `ModelStore`,
so a missing, truncated or stale file fails once, early, with a message that says how to fix it.
The expected sha256 of each file ships here, in the package source: the manifest lives in the
same writable folder as the models, so on its own it cannot tell a swapped model from a good one
(the conversion is byte-reproducible, see model_prep.canonical_names).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from teleop_common.errors import StartupError
from teleop_common.paths import CACHE_DIR, REPO_ROOT

DEFAULT_MODEL_DIR = CACHE_DIR / "models"
MODEL_DIR_ENV = "WBT_MODEL_DIR"
MANIFEST = "manifest.json"
PACKAGE = "whole_body_teleop"
SETUP_HINT = ("run `make setup` in the repository root to prepare the model files (after `colcon build` "
              f"they are installed in share/{PACKAGE}/models), or point {MODEL_DIR_ENV} at a prepared folder")
# What every ONNX file (converted experts, exported DOPE networks) shares with the runtimes.
OPSET = 17
INPUT_NAME = "image"
BATCH_DIM = "batch"   # dynamic: the runtimes batch several crops or images (TensorRT builds a batch profile)

# Model name -> file name in the model directory (what model_prep writes).
MODELS: dict[str, str] = {
    "pose_detection": "pose_detection.onnx",
    "pose_landmark": "pose_landmark_full.onnx",
    "palm_detection": "palm_detection_full.onnx",
    "hand_landmark": "hand_landmark_full.onnx",
    "hand_landmark_lite": "hand_landmark_lite.onnx",
    "face_landmark": "face_landmark.onnx",
    "face_detection": "face_detection_short_range.onnx",
}

# Model name -> sha256 of the converted file (model_prep PREP_VERSION 4, mediapipe 0.10.21).
# Update together with model_prep when the conversion changes (test_models checks the manifest agrees).
SHA256: dict[str, str] = {
    "pose_detection": "124d6579e8071f86732a37f9cecd8c495dd31b11ff062bdba0e1ec713a0f43da",
    "pose_landmark": "ed392ba9769fea669649c89dfd1517e05888ce0b572d977986b6c1fecfc2d4e6",
    "palm_detection": "f8ccf1927518b35ad8129736c854fe595ad737d2ba05cf08d5a1e30041dae6b1",
    "hand_landmark": "2ab157acdff6ae67263b9982bac5a700f2c1e4b9343643c4e573bfebc2b23727",
    "hand_landmark_lite": "9911705c751f71283b6ff78bdf34d07e69f15117dc1e4d2b3f7597db3f9ab9a3",
    "face_landmark": "374ccdf06999aef65ede5a075a1abf253ae091f7a3a585bff91faf367202ecd2",
    "face_detection": "0a83f569a83ff2104f16e29f5528d20d0ac7f28e51655f31b42fb4f06fb024db",
}


# Model name -> the MediaPipe TFLite file it was converted from (relative to mediapipe/modules; copied,
# pruned of DROPPED_OUTPUTS, for the litert runtime), its sha256 (mediapipe 0.10.21) and its outputs'
# names in TFLite output order.
TFLITE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pose_detection": ("pose_detection/pose_detection.tflite",
                       "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
                       ("box_regressors", "score_logits")),
    "pose_landmark": ("pose_landmark/pose_landmark_full.tflite",
                      "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
                      ("landmarks", "presence", "segmentation", "heatmap", "world_landmarks")),
    "palm_detection": ("palm_detection/palm_detection_full.tflite",
                       "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
                       ("box_regressors", "score_logits")),
    "hand_landmark": ("hand_landmark/hand_landmark_full.tflite",
                      "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
                      ("landmarks", "presence", "handedness", "world_landmarks")),
    "hand_landmark_lite": ("hand_landmark/hand_landmark_lite.tflite",
                           "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
                           ("landmarks", "presence", "handedness", "world_landmarks")),
    "face_landmark": ("face_landmark/face_landmark.tflite",
                      "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
                      ("landmarks", "presence_logit")),
    # Short range (faces within ~2 m, 128x128 input): the close-up faces no body covers (face_only.py).
    "face_detection": ("face_detection/face_detection_short_range.tflite",
                       "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
                       ("box_regressors", "score_logits")),
}


# Model name -> outputs the pipeline never reads: model_prep prunes them, with the layers only they use,
# from both files it writes (the ONNX file and the TFLite file the litert runtime runs).
DROPPED_OUTPUTS: dict[str, tuple[str, ...]] = {
    "pose_landmark": ("segmentation",),  # the person mask head (LiteRT: 14.2 -> 10.3 ms without it)
}
# Model name -> sha256 of the pruned TFLite file model_prep writes; a model with nothing dropped is
# copied unchanged (its sha256 is TFLITE's).
PRUNED_TFLITE_SHA256: dict[str, str] = {
    "pose_landmark": "840078509dad83a1580f2d05b567853f4612ad3758724b451109a2dc8bca4ca0",
}


def kept_outputs(name: str) -> tuple[str, ...]:
    """Output names of the prepared files of model `name`, in TFLite output order."""
    return tuple(output for output in TFLITE[name][2] if output not in DROPPED_OUTPUTS.get(name, ()))


def tflite_file(name: str) -> str:
    """File name of model `name`'s prepared TFLite copy in the model directory."""
    return Path(MODELS[name]).with_suffix(".tflite").name


def tflite_sha256(name: str) -> str:
    """Expected sha256 of that prepared TFLite file."""
    return PRUNED_TFLITE_SHA256.get(name, TFLITE[name][1])


class ModelFileError(RuntimeError, StartupError):
    """A model file or the manifest is missing, unreadable or does not match its recorded hash."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"model file {path}: {problem}; {SETUP_HINT}")
        self.path = path


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | str, ...]  # "batch" marks the dynamic batch dimension
    dtype: str


@dataclass(frozen=True)
class ModelInfo:
    """What the manifest records about one model."""

    name: str
    path: Path
    sha256: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    layout: str  # "NHWC"
    input_range: tuple[float, float]  # value range the image input expects

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the image input."""
        height, width = self.inputs[0].shape[1:3]
        return int(height), int(width)


def installed_model_dir() -> Path | None:
    """share/whole_body_teleop/models of the package found through the ament index (a colcon install)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE)) / "models"
    except (PackageNotFoundError, ValueError, OSError):      # OSError: AMENT_PREFIX_PATH unset
        return None


def default_model_dirs() -> list[Path]:
    """Where prepared models are looked for, in order: a source checkout's .cache/models (`make setup`;
    only when this module runs from one), then the installed package's share/<package>/models.
    Installed, this file lies in lib/python3.X/site-packages: no repository around it."""
    candidates = [DEFAULT_MODEL_DIR] if (REPO_ROOT / "package.xml").is_file() else []
    installed = installed_model_dir()
    return candidates + ([installed] if installed is not None else [])


def resolve_model_dir(configured: str | Path | None = None) -> Path:
    """The model directory: the configured value, else $WBT_MODEL_DIR, else the first of
    default_model_dirs() holding a manifest (the first of them when none does, for the error message)."""
    if configured:
        return Path(configured).expanduser()
    from_env = os.environ.get(MODEL_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    candidates = default_model_dirs() or [DEFAULT_MODEL_DIR]
    return next((c for c in candidates if (c / MANIFEST).is_file()), candidates[0])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelStore:
    """Model files of one directory; each file's sha256 is checked the first time it is used."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = resolve_model_dir(directory)
        self._manifest: dict | None = None
        self._verified: set[str] = set()

    def manifest(self) -> dict:
        if self._manifest is None:
            path = self.directory / MANIFEST
            if not path.is_file():
                raise ModelFileError(path, "missing")
            try:
                manifest = json.loads(path.read_text())
                manifest["models"].items()
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                raise ModelFileError(path, f"unreadable manifest ({error})") from error
            self._manifest = manifest
        return self._manifest

    def info(self, name: str) -> ModelInfo:
        """Manifest record of model `name` (one of MODELS), without touching the file."""
        if name not in MODELS:
            raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
        file_name = MODELS[name]
        path = self.directory / file_name
        entry = next((e for e in self.manifest()["models"].values() if e.get("file") == file_name), None)
        if entry is None:
            raise ModelFileError(path, f"not listed in {self.directory / MANIFEST}")
        try:
            return ModelInfo(
                name=name, path=path, sha256=entry["sha256"],
                inputs=tuple(_tensor(t) for t in entry["inputs"]),
                outputs=tuple(_tensor(t) for t in entry["outputs"]),
                layout=entry["layout"], input_range=tuple(entry["input_range"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(path, f"incomplete manifest entry ({error})") from error

    def path(self, name: str) -> Path:
        """Path of model `name` after checking (once per store) that the file matches the sha256
        shipped in SHA256 (and that the manifest describes that same file)."""
        info = self.info(name)
        if name not in self._verified:
            actual = _checked_sha256(info.path, SHA256[name], "corrupt or not the released model")
            if info.sha256 != actual:
                raise ModelFileError(info.path, f"stale manifest entry (sha256 {info.sha256[:12]}…, "
                                                f"file {actual[:12]}…)")
            self._verified.add(name)
        return info.path

    def tflite_path(self, name: str) -> Path:
        """The prepared TFLite file of model `name` (MediaPipe's, pruned of DROPPED_OUTPUTS), sha256-checked once."""
        path = self.directory / tflite_file(name)
        key = f"tflite:{name}"
        if key not in self._verified:
            _checked_sha256(path, tflite_sha256(name), "not the expected TFLite model")
            self._verified.add(key)
        return path

    def file_for(self, name: str, model_format: str) -> Path:
        """The checked file of model `name` in `model_format` ("onnx" | "tflite")."""
        return self.tflite_path(name) if model_format == "tflite" else self.path(name)

    def verify_all(self) -> dict[str, Path]:
        """Check every registered model in both formats; the ONNX paths by name."""
        paths = {name: self.path(name) for name in MODELS}
        for name in MODELS:
            self.tflite_path(name)
        return paths


def _tensor(entry: dict) -> TensorInfo:
    return TensorInfo(name=entry["name"], shape=tuple(entry["shape"]), dtype=entry["dtype"])


def _checked_sha256(path: Path, expected: str, mismatch: str) -> str:
    """The file's sha256 after checking it against the value shipped in this module; every failure
    (missing, unreadable, different) is a ModelFileError, so the node exits with one FATAL line."""
    if not path.is_file():
        raise ModelFileError(path, "missing")
    try:
        actual = sha256_of(path)
    except OSError as error:
        raise ModelFileError(path, f"unreadable ({error})") from error
    if actual != expected:
        raise ModelFileError(path, f"{mismatch} (sha256 {actual[:12]}…, expected {expected[:12]}… "
                                   f"from whole_body_pose/models.py)")
    return actual
