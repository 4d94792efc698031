"""ONNX Runtime backend: the CPU default, available wherever the main venv is."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from whole_body_pose.runtime.base import InferenceError, RuntimeOptions, check_inputs

# What ORT raises for inputs that do not fit the graph (wrong rank/shape) or a failed kernel.
_RUN_ERRORS = (ort_state.InvalidArgument, ort_state.Fail, ort_state.RuntimeException)


class OnnxRuntimeSession:
    """An ONNX model on ORT's CPU execution provider with a bounded thread count.

    The thread count is explicit because the machine is shared: ORT's default (one thread per
    core) would starve the camera, filter and retargeting threads running beside it.
    """

    def __init__(self, model_path: Path, options: RuntimeOptions) -> None:
        settings = ort.SessionOptions()
        settings.intra_op_num_threads = options.threads
        settings.inter_op_num_threads = 1
        settings.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle worker threads would spin between the many small per-crop runs, stealing the
        # cores from the other threads of the graph (measured: 1.5x slower end to end).
        settings.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_path), settings, providers=["CPUExecutionProvider"])
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self.output_names = tuple(o.name for o in self._session.get_outputs())

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = check_inputs(inputs, self.input_names)
        try:
            outputs = self._session.run(list(self.output_names), feeds)
        except _RUN_ERRORS as error:
            raise InferenceError(f"onnxruntime failed on inputs {_shapes(feeds)}: {error}") from error
        return dict(zip(self.output_names, outputs))


def _shapes(feeds: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {name: value.shape for name, value in feeds.items()}
