"""The estimator interface the node and the CLI use, and the registry that picks an implementation.

`build_estimator(config)` resolves `config.estimator` through a registry instead of `if` chains
(`config.runtime`, the inference runtime, is the estimator's business): the MediaPipe part-expert
pipeline is "experts"; another estimator (e.g. DOPE) registers with `register_estimator(name, factory)`.  A name not yet
registered is looked up as the plugin module `whole_body_pose.<name>`, whose import registers it,
so optional heavy dependencies load only when chosen.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Protocol, Union

import numpy as np

from teleop_common.camera import CameraIntrinsics
from teleop_common.pose import PoseFrame
from whole_body_pose.config import PoseNodeConfig


class InvalidImageError(ValueError):
    """The input is not an H x W x 3 uint8 RGB image the estimator can use."""


class UnknownEstimatorError(ValueError):
    """No estimator is registered under the configured name."""


class Estimator(Protocol):
    def process(self, image_rgb: np.ndarray, stamp_ns: int, frame_id: str,
                camera: CameraIntrinsics | None) -> PoseFrame:
        """Everyone's whole-body pose in one RGB frame; `camera` None = default field of view."""
        ...

    def reset(self) -> None:
        """Forget tracks and filters (the next frame starts a new sequence)."""
        ...


EstimatorFactory = Callable[[PoseNodeConfig], Estimator]

# name -> factory, or "module:attribute" imported on first use.
_REGISTRY: dict[str, Union[EstimatorFactory, str]] = {
    "experts": "whole_body_pose.experts.estimator:build_part_experts",
}


def register_estimator(name: str, factory: EstimatorFactory | str) -> None:
    """Make `config.estimator == name` build its estimator with `factory(config)` (or "module:attribute")."""
    _REGISTRY[name] = factory


def build_estimator(config: PoseNodeConfig) -> Estimator:
    """The estimator registered under `config.estimator`, built from `config`."""
    name = config.estimator
    if name not in _REGISTRY:
        plugin = f"whole_body_pose.{name}"
        try:
            importlib.import_module(plugin)
        except ModuleNotFoundError as error:
            if error.name != plugin:  # the plugin exists but one of its own imports is missing
                raise
    factory = _REGISTRY.get(name)
    if factory is None:
        raise UnknownEstimatorError(f"no estimator registered as {name!r}; registered: "
                                    f"{', '.join(_REGISTRY)}")
    if isinstance(factory, str):
        module_name, attribute = factory.split(":")
        factory = getattr(importlib.import_module(module_name), attribute)
    if config.temporal.model != "one_euro" and config.one_euro.enabled:
        config = dataclasses.replace(config, one_euro=dataclasses.replace(config.one_euro, enabled=False))
    estimator = factory(config)
    if config.temporal.model == "posebert":
        from whole_body_pose.temporal.stage import TemporalStage
        estimator = TemporalStage(estimator, config)
    return estimator


def check_image(image: object) -> np.ndarray:
    """A C-contiguous H x W x 3 uint8 view of `image`, or InvalidImageError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidImageError(f"expected an H x W x 3 uint8 RGB image, got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < 16:
        raise InvalidImageError(f"image {image.shape[1]}x{image.shape[0]} is too small (16 px minimum)")
    return np.ascontiguousarray(image)
