"""Inference runtimes behind one protocol; backends are picked by name with `open_session`."""
from whole_body_pose.runtime.base import (
    BackendUnavailableError,
    InferenceError,
    InferenceRuntimeError,
    InferenceSession,
    RuntimeOptions,
    TensorRTOptions,
    UnknownBackendError,
    backend_names,
    model_format,
    open_session,
)

__all__ = [
    "BackendUnavailableError", "InferenceError", "InferenceRuntimeError", "InferenceSession",
    "RuntimeOptions", "TensorRTOptions", "UnknownBackendError", "backend_names", "model_format", "open_session",
]
