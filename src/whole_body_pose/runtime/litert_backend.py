"""LiteRT backend: runs MediaPipe's own TFLite expert on XNNPACK (what MediaPipe itself runs), as
prepared by model_prep (outputs the pipeline never reads pruned, like in the ONNX file).

The session speaks the ONNX session's language: input "image", outputs named as in the converted
ONNX file (whole_body_pose.models.kept_outputs, in TFLite output order), batch-major arrays.
TFLite models have a fixed batch of 1, so a batch runs item by item on one interpreter:
resize_tensor_input re-plans the graph whenever the batch changes, measured 1.6-1.7x slower than
the loop on the hand and palm models when the batch alternates 2, 1 (/tmp/i12l_resize.py, issue 12 note).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from whole_body_pose.models import INPUT_NAME, TFLITE, kept_outputs, tflite_file
from whole_body_pose.runtime.base import BackendUnavailableError, InferenceError, RuntimeOptions, check_inputs


def _output_names(model_path: Path) -> tuple[str, ...]:
    for name in TFLITE:
        if model_path.name == tflite_file(name):
            return kept_outputs(name)
    raise BackendUnavailableError(f"backend 'litert' runs the prepared MediaPipe TFLite files only, not {model_path}")


class LiteRtSession:
    """A MediaPipe TFLite model on the LiteRT interpreter with a bounded thread count."""

    def __init__(self, model_path: Path, options: RuntimeOptions) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise BackendUnavailableError(f"backend 'litert' needs the ai-edge-litert package ({error})") from error
        names = _output_names(model_path)
        self._interpreter = Interpreter(model_path=str(model_path), num_threads=options.threads)
        self._interpreter.allocate_tensors()
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != len(names):
            raise BackendUnavailableError(f"{model_path.name}: {len(inputs)} inputs / {len(outputs)} outputs, "
                                          f"expected 1 / {len(names)}")
        self._input = inputs[0]["index"]
        self._item_shape = tuple(int(d) for d in inputs[0]["shape"][1:])
        self._outputs = [(name, d["index"]) for name, d in zip(names, outputs)]
        self.input_names = (INPUT_NAME,)
        self.output_names = names

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = check_inputs(inputs, self.input_names)[INPUT_NAME]
        if batch.shape[1:] != self._item_shape:
            raise InferenceError(f"input {INPUT_NAME!r} must be (batch, {self._item_shape}), got {batch.shape}")
        interpreter = self._interpreter
        results: dict[str, list[np.ndarray]] = {name: [] for name in self.output_names}
        for item in batch:
            interpreter.set_tensor(self._input, item[None])
            interpreter.invoke()
            for name, index in self._outputs:
                results[name].append(interpreter.get_tensor(index))
        return {name: np.concatenate(parts) for name, parts in results.items()}
