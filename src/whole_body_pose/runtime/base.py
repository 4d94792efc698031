"""One small inference protocol and a registry of backends chosen by name.

The pipeline only sees `InferenceSession.run(dict) -> dict`; which engine executes the ONNX file
(ONNX Runtime or LiteRT on CPU, TensorRT on a GPU) is a configuration value resolved here, so no caller
branches on the backend and optional heavy imports (tensorrt, CUDA) happen only when chosen.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from teleop_common.config import ConfigError, Validated, bounded


class InferenceRuntimeError(RuntimeError):
    """Base of the inference runtime's errors."""


class UnknownBackendError(InferenceRuntimeError, ValueError):
    """The backend name is not registered."""


class BackendUnavailableError(InferenceRuntimeError):
    """The backend is registered but cannot run here (package or GPU missing)."""


class InferenceError(InferenceRuntimeError):
    """Inputs do not fit the model (names, dtype, shape) or the engine failed on them."""


@runtime_checkable
class InferenceSession(Protocol):
    """A loaded model: named float tensors in, named tensors out (batch-major numpy arrays)."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@dataclasses.dataclass(frozen=True)
class TensorRTOptions(Validated):
    """TensorRT engine settings (the pose node's `tensorrt.*` parameters)."""

    max_batch: int = bounded(8, 1, 256)  # optimisation profile maximum; larger batches run in chunks
    opt_batch: int = bounded(2, 1, 256)  # optimisation profile optimum
    engine_cache_dir: str = ""  # built engines; "" = <repo>/.cache/engines
    device: int = bounded(0, 0, 64)  # CUDA device index

    def check(self) -> None:
        if self.opt_batch > self.max_batch:
            raise ConfigError("opt_batch", self.opt_batch, f"an integer in [1, max_batch={self.max_batch}]")


@dataclasses.dataclass(frozen=True)
class RuntimeOptions(TensorRTOptions):
    """Everything a backend is opened with: the TensorRT settings plus CPU threads and precision."""

    threads: int = bounded(2, 1, 64)  # ONNX Runtime intra-op threads
    fp16: bool = True  # TensorRT FP16 kernels


BackendFactory = Callable[[Path, RuntimeOptions], InferenceSession]

# name -> "module:factory"; modules are imported only when their backend is opened.
_BACKENDS: dict[str, str] = {
    "onnxruntime": "whole_body_pose.runtime.onnxruntime_backend:OnnxRuntimeSession",
    "tensorrt": "whole_body_pose.runtime.tensorrt_backend:TensorRTSession",
    "litert": "whole_body_pose.runtime.litert_backend:LiteRtSession",
}
# name -> the model file format it runs ("onnx": converted file; "tflite": MediaPipe's original).
_FORMATS: dict[str, str] = {"litert": "tflite"}


def model_format(backend: str) -> str:
    """The model file format backend `backend` opens."""
    return _FORMATS.get(backend, "onnx")


def backend_names() -> tuple[str, ...]:
    """Registered backend names (the accepted values of a `backend` parameter)."""
    return tuple(_BACKENDS)


def register_backend(name: str, target: str) -> None:
    """Register a backend as "package.module:Factory" (a callable (model_path, options) -> session)."""
    _BACKENDS[name] = target


def open_session(backend: str, model_path: str | Path, options: RuntimeOptions | None = None) -> InferenceSession:
    """Load `model_path` with the backend called `backend`."""
    try:
        target = _BACKENDS[backend]
    except KeyError:
        raise UnknownBackendError(f"unknown inference backend {backend!r}; accepted: {' | '.join(_BACKENDS)}") from None
    module_name, factory_name = target.split(":")
    factory: BackendFactory = getattr(importlib.import_module(module_name), factory_name)
    return factory(Path(model_path), options or RuntimeOptions())


def check_inputs(inputs: Mapping[str, np.ndarray], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Validate input names and types up front so every backend fails the same, clear way."""
    if set(inputs) != set(names):
        raise InferenceError(f"expected inputs {list(names)}, got {sorted(inputs)}")
    checked = {}
    for name in names:
        value = inputs[name]
        if not isinstance(value, np.ndarray) or value.dtype != np.float32:
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise InferenceError(f"input {name!r} must be a float32 numpy array, got {kind}")
        if value.ndim == 0 or value.shape[0] == 0:
            raise InferenceError(f"input {name!r} needs a non-empty batch dimension, got shape {value.shape}")
        checked[name] = np.ascontiguousarray(value)
    return checked
