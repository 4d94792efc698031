"""Configuration, camera, registry, input checks, One-Euro filter and drawing of the pose estimator."""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
from conftest import DATA, REPO

from teleop_common.camera import CameraError, CameraIntrinsics, intrinsics_for, projection, scale_rows
from teleop_common.config import ConfigError, from_mapping, load
from teleop_common.pose import PoseFrame
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.draw import draw_poses
from whole_body_pose.experts.filters import OneEuroFilter
from whole_body_pose.pipeline import (InvalidImageError, UnknownEstimatorError, build_estimator, check_image,
                                      register_estimator)


def test_yaml_holds_the_defaults():
    """The node's YAML repeats every library default but one: the node runs the learned temporal model
    (bench/temporal.py shows it better), library callers keep the One-Euro filter, which needs no weights."""
    config = load(PoseNodeConfig, REPO / "config" / "whole_body_pose.yaml")
    assert config.temporal.model == "posebert" and PoseNodeConfig().temporal.model == "one_euro"
    assert dataclasses.replace(config, temporal=dataclasses.replace(config.temporal, model="one_euro")) == PoseNodeConfig()


@pytest.mark.parametrize(("key", "value"), [("runtime", "openvino"), ("estimator", "openpose"), ("tensorrt.max_batch", 0),
                                            ("max_people", 0), ("default_fov_deg", 175.0),
                                            ("one_euro.beta", -1.0), ("gap_fill.confidence_decay", 1.5),
                                            ("detector_tiles", 2.5), ("enable_hands", "yes")])
def test_bad_values_name_the_key(key, value):
    with pytest.raises(ConfigError) as error:
        from_mapping(PoseNodeConfig, {key: value})
    assert error.value.key == key


def test_estimator_and_runtime_are_separate_parameters():
    """The network (experts | dope) and what runs it (onnxruntime | tensorrt | torch), TensorRT from YAML keys."""
    config = from_mapping(PoseNodeConfig, {"estimator": "dope", "runtime": "tensorrt", "num_threads": 3, "fp16": False,
                                           "tensorrt.max_batch": 4, "tensorrt.opt_batch": 3, "tensorrt.device": 1})
    options = config.runtime_options()
    assert (options.threads, options.fp16, options.max_batch, options.opt_batch, options.device) == (3, False, 4, 3, 1)
    with pytest.raises(ConfigError) as error:
        from_mapping(PoseNodeConfig, {"runtime": "torch"})          # torch runs DOPE checkpoints, not the experts
    assert error.value.key == "runtime"
    with pytest.raises(ConfigError) as error:
        from_mapping(PoseNodeConfig, {"tensorrt.opt_batch": 16, "tensorrt.max_batch": 4})
    assert error.value.key == "tensorrt.opt_batch" or error.value.key == "opt_batch"


def test_camera_from_field_of_view():
    camera = CameraIntrinsics.from_fov(640, 480, 90.0)
    assert math.isclose(camera.fx, 320.0) and camera.fx == camera.fy and (camera.cx, camera.cy) == (320.0, 240.0)
    half = camera.scaled_to(320, 240)
    assert math.isclose(half.fx, 160.0) and (half.cx, half.cy) == (160.0, 120.0)
    assert CameraIntrinsics.from_k(camera.k, 640, 480) == camera       # CameraInfo.k round trip
    assert intrinsics_for(None, 640, 480, 90.0) == camera and intrinsics_for(half, 640, 480, 60.0) == camera
    assert scale_rows(projection(camera.k), 4, 0.5, 0.5) == projection(half.k)
    for bad in (lambda: CameraIntrinsics(0.0, 1.0, 0.0, 0.0, 10, 10),
                lambda: CameraIntrinsics(1.0, 1.0, 0.0, math.nan, 10, 10),
                lambda: CameraIntrinsics.from_fov(640, 480, 180.0)):
        with pytest.raises(CameraError):
            bad()


@pytest.mark.parametrize("image", [np.zeros((48, 64), np.uint8), np.zeros((48, 64, 3), np.float32),
                                   np.zeros((48, 64, 4), np.uint8), np.zeros((8, 64, 3), np.uint8), [[0, 0, 0]]])
def test_bad_images_are_rejected(image):
    with pytest.raises(InvalidImageError):
        check_image(image)


def test_registry_builds_by_name_and_rejects_unknown_names():
    built = []

    def factory(config: PoseNodeConfig):
        built.append(config.estimator)
        return "estimator"

    def config_for(name: str) -> PoseNodeConfig:
        config = PoseNodeConfig()
        config.estimator = name        # a plugin's name is outside the YAML choices, which validate at creation
        return config

    register_estimator("test_only_backend", factory)
    assert build_estimator(config_for("test_only_backend")) == "estimator"
    assert built == ["test_only_backend"]
    with pytest.raises(UnknownEstimatorError):
        build_estimator(config_for("no_such_backend"))


def test_one_euro_smooths_a_still_signal_and_speed_cuts_the_lag():
    rng = np.random.default_rng(0)
    still = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    noise = rng.normal(0.0, 1.0, (300, 4))
    out = np.array([still(x, i / 30) for i, x in enumerate(noise)])
    assert out[30:].std() < 0.4 * noise[30:].std()

    def lag(beta: float) -> float:
        f = OneEuroFilter(min_cutoff=1.0, beta=beta, d_cutoff=1.0)
        ramp = [f(np.array([10.0 * i / 30]), i / 30)[0] for i in range(90)]
        return 10.0 * 89 / 30 - ramp[-1]

    assert 0.0 < lag(0.5) < 0.3 * lag(0.0)


def test_one_euro_restarts_elements_that_were_unobserved():
    f = OneEuroFilter(min_cutoff=0.1, beta=0.0, d_cutoff=1.0)
    f(np.array([0.0, 0.0]), 0.0)
    gap = f(np.array([np.nan, 1.0]), 0.1)
    assert np.isnan(gap[0]) and 0.0 < gap[1] < 1.0
    back = f(np.array([5.0, 1.0]), 0.2)
    assert back[0] == 5.0  # not dragged from the value seen before the gap


def test_draw_marks_people_without_touching_the_input():
    estimator = build_estimator(PoseNodeConfig(max_people=1))
    image = cv2.cvtColor(cv2.imread(str(DATA / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    before = image.copy()
    frame = estimator.process(image, 0, "camera", None)
    drawn = draw_poses(image, frame)
    np.testing.assert_array_equal(image, before)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    changed = np.any(drawn != image, axis=2)
    x0, y0, x1, y1 = frame.poses[0].box.astype(int)
    assert changed[y0:y1 + 1, x0:x1 + 1].mean() > 0.02 and changed.mean() < 0.2
    np.testing.assert_array_equal(draw_poses(image, PoseFrame(0, "camera", [])), image)


def test_a_detection_on_a_coasting_track_replaces_its_stale_crop_and_one_on_a_followed_track_does_not() -> None:
    from whole_body_pose.experts.tracks import Track, associate

    # detector keypoints: hip centre, full-body scale point, mid-shoulder, upper-body scale point
    detection = np.array([[[100.0, 200.0], [100.0, 80.0], [100.0, 120.0], [100.0, 60.0]]])
    stale = np.array([90.0, 150.0, 200.0, 200.0, 0.0])
    for missed, replaced in ((0, False), (2, True)):
        track = Track(1, stale.copy(), 0.9, shoulders=np.array([104.0, 118.0]), scale=40.0, missed=missed)
        new, next_id = associate([track], detection, np.array([0.9]), capacity=4, next_id=2)
        assert not new and next_id == 2  # the same person: no new track
        assert (not np.array_equal(track.roi, stale)) == replaced
