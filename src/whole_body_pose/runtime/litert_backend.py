"""LiteRT backend: runs MediaPipe's own TFLite expert on XNNPACK (what MediaPipe itself runs), as
prepared by model_prep (outputs the pipeline never reads pruned, like in the ONNX file).

The session speaks the ONNX session's language: input "image", outputs named as in the converted
ONNX file (whole_body_pose.models.kept_outputs, in TFLite output order), batch-major arrays.
TFLite models have a fixed batch of 1.  A batch of N runs in one call on an interpreter resized to
N, kept for the next batch of that size: the landmark models' graphs keep the batch axis and give
the same bits as N calls of one, at 10-15 % less time per crop on the body model (2 threads, Xeon
AVX-512).  Resizing one interpreter back and forth re-plans its graph each time (1.6-1.7x slower
than a loop when the batch alternates 2, 1: issue 12 note), hence one interpreter per size, made on
the first batch of that size (10-60 ms once, 0-15 MiB, for sizes up to 4).  The SSD detectors fold the batch
into their anchor axis (outputs (1, N x anchors, k)): they run item by item on the first one.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from whole_body_pose.models import INPUT_NAME, TFLITE, kept_outputs, tflite_file
from whole_body_pose.runtime.base import BackendUnavailableError, InferenceError, RuntimeOptions, check_inputs

MAX_BATCH = 8  # larger batches run in chunks (each size holds an interpreter)


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
        self._open = lambda: Interpreter(model_path=str(model_path), num_threads=options.threads)
        names = _output_names(model_path)
        first = self._open()
        first.allocate_tensors()
        inputs = first.get_input_details()
        outputs = first.get_output_details()
        if len(inputs) != 1 or len(outputs) != len(names):
            raise BackendUnavailableError(f"{model_path.name}: {len(inputs)} inputs / {len(outputs)} outputs, "
                                          f"expected 1 / {len(names)}")
        self._input = inputs[0]["index"]
        self._item_shape = tuple(int(d) for d in inputs[0]["shape"][1:])
        self._outputs = [(name, d["index"]) for name, d in zip(names, outputs)]
        self._interpreters: dict[int, Any] = {1: first}  # batch size -> interpreter resized to it
        self._batches = True  # the graph keeps the batch axis (found out on the first batch > 1)
        self.input_names = (INPUT_NAME,)
        self.output_names = names

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = check_inputs(inputs, self.input_names)[INPUT_NAME]
        if batch.shape[1:] != self._item_shape:
            raise InferenceError(f"input {INPUT_NAME!r} must be (batch, {self._item_shape}), got {batch.shape}")
        results: dict[str, list[np.ndarray]] = {name: [] for name in self.output_names}
        start = 0
        while start < len(batch):
            size = min(len(batch) - start, MAX_BATCH) if self._batches else 1
            interpreter = self._interpreter(size)
            if interpreter is None:  # the graph folds the batch: item by item from here on
                continue
            interpreter.set_tensor(self._input, batch[start:start + size])
            interpreter.invoke()
            for name, index in self._outputs:
                results[name].append(interpreter.get_tensor(index))
            start += size
        return {name: np.concatenate(parts) for name, parts in results.items()}

    def _interpreter(self, size: int) -> Any | None:
        """The interpreter for batches of `size` (None: this graph does not keep the batch axis)."""
        interpreter = self._interpreters.get(size)
        if interpreter is None:
            interpreter = self._open()
            interpreter.resize_tensor_input(self._input, [size, *self._item_shape])
            interpreter.allocate_tensors()
            if any(int(d["shape"][0]) != size for d in interpreter.get_output_details()):
                self._batches = False
                return None
            self._interpreters[size] = interpreter
        return interpreter
