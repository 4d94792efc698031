"""TensorRT 10 backend: builds (once) and runs an engine with a dynamic-batch profile.

Engines are specific to the model, the TensorRT version and the GPU, and take from seconds to
minutes to build, so they are cached in a directory under a name made of all three (plus the
precision and the batch profile).  Device buffers are torch CUDA tensors; `tensorrt` and CUDA
torch are imported only when this backend is opened.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from teleop_common.paths import CACHE_DIR
from whole_body_pose.runtime.base import (
    BackendUnavailableError,
    InferenceError,
    RuntimeOptions,
    check_inputs,
)

WORKSPACE_BYTES = 1 << 30
DEFAULT_ENGINE_DIR = CACHE_DIR / "engines"


def _import_gpu_stack(device: int) -> tuple[Any, Any]:
    """(tensorrt, torch) or BackendUnavailableError saying what is missing."""
    try:
        import tensorrt as trt
    except ImportError as error:
        raise BackendUnavailableError(f"backend 'tensorrt' needs the tensorrt package ({error})") from error
    try:
        import torch
    except ImportError as error:
        raise BackendUnavailableError(f"backend 'tensorrt' needs torch with CUDA ({error})") from error
    if not torch.cuda.is_available():
        raise BackendUnavailableError("backend 'tensorrt' needs a CUDA GPU; torch sees none")
    if device >= torch.cuda.device_count():
        raise BackendUnavailableError(f"CUDA device {device} requested; {torch.cuda.device_count()} present")
    return trt, torch


def engine_path(cache_dir: Path, model_path: Path, model_sha256: str, trt_version: str, gpu_name: str,
                options: RuntimeOptions) -> Path:
    """Cache file of one (model, TensorRT version, GPU, precision, batch profile)."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-")
    precision = "fp16" if options.fp16 else "fp32"
    name = (f"{model_path.stem}-{model_sha256[:16]}-trt{trt_version}-{gpu}-{precision}"
            f"-b{options.opt_batch}-{options.max_batch}.engine")
    return cache_dir / name


class TensorRTSession:
    """An ONNX model compiled by TensorRT for batch sizes 1..max_batch on one GPU."""

    def __init__(self, model_path: Path, options: RuntimeOptions) -> None:
        self._trt, self._torch = trt, torch = _import_gpu_stack(options.device)
        self._device = torch.device("cuda", options.device)
        self._logger = trt.Logger(trt.Logger.WARNING)  # must outlive the engine
        self._max_batch = options.max_batch
        model_bytes = model_path.read_bytes()
        cache_dir = Path(options.engine_cache_dir) if options.engine_cache_dir else DEFAULT_ENGINE_DIR
        self.engine_file = engine_path(cache_dir, model_path, hashlib.sha256(model_bytes).hexdigest(),
                                       trt.__version__, torch.cuda.get_device_name(self._device), options)
        with torch.cuda.device(self._device):
            self._engine = self._load_or_build(model_bytes, options)
            self._context = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(self._device)
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = tuple(n for n in names if is_input[n])
        self.output_names = tuple(n for n in names if not is_input[n])
        self._item_shapes = {n: tuple(self._engine.get_tensor_shape(n))[1:] for n in self.input_names}
        self._dtypes = {n: _torch_dtype(torch, trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}

    # ------------------------------------------------------------------ build / cache

    def _load_or_build(self, model_bytes: bytes, options: RuntimeOptions) -> Any:
        runtime = self._trt.Runtime(self._logger)
        if self.engine_file.is_file():
            engine = runtime.deserialize_cuda_engine(self.engine_file.read_bytes())
            if engine is not None:
                return engine
            # Unreadable (truncated, or written by another build): rebuild below.
        serialized = self._build(model_bytes, options)
        self.engine_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.engine_file.with_suffix(f".tmp{os.getpid()}")
        partial.write_bytes(serialized)
        os.replace(partial, self.engine_file)
        engine = runtime.deserialize_cuda_engine(serialized)
        if engine is None:
            raise BackendUnavailableError(f"TensorRT could not load the engine it just built: {self.engine_file}")
        return engine

    def _build(self, model_bytes: bytes, options: RuntimeOptions) -> bytes:
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)  # TensorRT 10 networks are always explicit-batch
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(model_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendUnavailableError(f"TensorRT cannot parse the ONNX model: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if options.fp16:
            if not hasattr(trt.BuilderFlag, "FP16"):
                raise BackendUnavailableError(
                    f"TensorRT {trt.__version__} has no BuilderFlag.FP16 (removed in TensorRT 11, which is "
                    "strongly typed): use TensorRT 10 or set fp16: false")
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for index in range(network.num_inputs):
            tensor = network.get_input(index)
            item = tuple(tensor.shape)[1:]
            if any(d < 0 for d in item):
                raise BackendUnavailableError(f"input {tensor.name!r} has dynamic non-batch dims {tensor.shape}")
            profile.set_shape(tensor.name, (1, *item), (options.opt_batch, *item), (options.max_batch, *item))
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendUnavailableError("TensorRT failed to build the engine (see the TensorRT log above)")
        return bytes(serialized)

    # ------------------------------------------------------------------ inference

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = check_inputs(inputs, self.input_names)
        batches = {value.shape[0] for value in feeds.values()}
        if len(batches) != 1:
            raise InferenceError(f"inputs disagree on batch size: { {n: v.shape for n, v in feeds.items()} }")
        for name, value in feeds.items():
            if value.shape[1:] != self._item_shapes[name]:
                raise InferenceError(f"input {name!r} must have shape (batch, {self._item_shapes[name]}), "
                                     f"got {value.shape}")
        total = batches.pop()
        chunks = [self._run_chunk({n: v[start:start + self._max_batch] for n, v in feeds.items()})
                  for start in range(0, total, self._max_batch)]
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in self.output_names}

    def _run_chunk(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch, context = self._torch, self._context
        with torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            keep = []  # device tensors must stay alive until the stream is done
            for name, value in feeds.items():
                device_input = torch.from_numpy(value).to(self._device, dtype=self._dtypes[name])
                keep.append(device_input)
                if not context.set_input_shape(name, tuple(value.shape)):
                    raise InferenceError(f"TensorRT rejected shape {value.shape} for input {name!r}")
                context.set_tensor_address(name, device_input.data_ptr())
            outputs = {}
            for name in self.output_names:
                shape = tuple(context.get_tensor_shape(name))
                outputs[name] = torch.empty(shape, dtype=self._dtypes[name], device=self._device)
                context.set_tensor_address(name, outputs[name].data_ptr())
            if not context.execute_async_v3(stream_handle=self._stream.cuda_stream):
                raise InferenceError("TensorRT execution failed (see the TensorRT log)")
            self._stream.synchronize()
        return {name: tensor.cpu().numpy() for name, tensor in outputs.items()}


def _torch_dtype(torch: Any, numpy_type: Any) -> Any:
    mapping = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16,
               np.dtype(np.int32): torch.int32, np.dtype(np.int64): torch.int64,
               np.dtype(np.int8): torch.int8, np.dtype(np.uint8): torch.uint8, np.dtype(np.bool_): torch.bool}
    try:
        return mapping[np.dtype(numpy_type)]
    except KeyError:
        raise BackendUnavailableError(f"unsupported TensorRT tensor type {numpy_type}") from None
