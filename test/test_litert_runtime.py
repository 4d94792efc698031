"""LiteRT runtime (MediaPipe's own TFLite files) against ONNX Runtime on real images."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from teleop_common.config import ConfigError, from_mapping
from whole_body_pose import models
from whole_body_pose.config import EXPERTS, FASTEST_ON_CPU, HAND_TRACKING_MODELS, PoseNodeConfig
from whole_body_pose.models import MODELS, REPO_ROOT, ModelFileError, ModelStore
from whole_body_pose.pipeline import build_estimator
from whole_body_pose.runtime import RuntimeOptions, backend_names, litert_backend, model_format, open_session

pytest.importorskip("ai_edge_litert", reason="backend 'litert' needs ai-edge-litert (requirements.txt)")

DATA = REPO_ROOT / "test" / "data"
IMAGES = ("messi5.jpg", "megamind_0030.jpg", "basketball1.png")


def rgb(name: str) -> np.ndarray:
    frame = cv2.imread(str(DATA / name))
    assert frame is not None, f"missing test image {DATA / name}"
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore()


def test_litert_registered_and_opens_tflite() -> None:
    assert "litert" in backend_names()
    assert model_format("litert") == "tflite" and model_format("onnxruntime") == "onnx"


@pytest.mark.parametrize("name", list(MODELS))
def test_litert_agrees_with_onnxruntime(name: str, store: ModelStore) -> None:
    """Same output names and batch semantics; outputs within 1e-3 of the largest value (model_prep's bar)."""
    info = store.info(name)
    height, width = info.input_size
    low, high = info.input_range
    batch = np.stack([cv2.resize(rgb(image), (width, height)).astype(np.float32) / 255.0 * (high - low) + low
                      for image in IMAGES])
    options = RuntimeOptions(threads=2)
    ort = open_session("onnxruntime", store.path(name), options)
    lite = open_session("litert", store.tflite_path(name), options)
    assert lite.input_names == ort.input_names
    assert lite.output_names == ort.output_names  # unread outputs pruned from both files
    want, got = ort.run({"image": batch}), lite.run({"image": batch})
    for output in ort.output_names:
        assert got[output].shape[0] == len(IMAGES)
        difference = np.abs(got[output].reshape(want[output].shape) - want[output]).max()
        assert difference <= 1e-3 * max(1.0, float(np.abs(want[output]).max())), (output, difference)
    single = lite.run({"image": batch[1:2]})
    for output in lite.output_names:
        np.testing.assert_array_equal(single[output][0], got[output][1])



@pytest.mark.parametrize("name", ["face_landmark", "palm_detection"])
def test_litert_batches_give_the_bits_of_single_crops(name: str, store: ModelStore) -> None:
    """A batch runs in one call where the graph keeps the batch axis (face), item by item where it folds
    it into the anchors (palm), in chunks past MAX_BATCH, alternating sizes: always each crop's own bits."""
    info = store.info(name)
    height, width = info.input_size
    frames = [cv2.resize(rgb(image), (width, height)).astype(np.float32) / 255.0 for image in IMAGES]
    batch = np.stack([np.roll(frames[i % len(frames)], 7 * i, axis=1) for i in range(litert_backend.MAX_BATCH + 2)])
    session = open_session("litert", store.tflite_path(name), RuntimeOptions(threads=2))
    singles = [session.run({"image": batch[i:i + 1]}) for i in range(len(batch))]
    for size in (len(batch), 2, 1, 3):
        got = session.run({"image": batch[:size]})
        for output in session.output_names:
            assert got[output].shape[0] == size
            for i in range(size):
                np.testing.assert_array_equal(got[output][i], singles[i][output][0])

def test_tflite_hash_checked(store: ModelStore, monkeypatch: pytest.MonkeyPatch) -> None:
    relative, _, names = models.TFLITE["face_landmark"]
    monkeypatch.setitem(models.TFLITE, "face_landmark", (relative, "0" * 64, names))
    with pytest.raises(ModelFileError, match="not the expected TFLite model"):
        ModelStore().tflite_path("face_landmark")


def test_model_runtime_resolution_and_validation() -> None:
    config = PoseNodeConfig()
    assert {e: config.runtime_for(e) for e in EXPERTS} == {e: FASTEST_ON_CPU[e] for e in EXPERTS}
    assert config.runtime_for("hand_landmark", config.hand_tracking()) == FASTEST_ON_CPU["hand_landmark_lite"]
    assert set(EXPERTS) | set(HAND_TRACKING_MODELS.values()) == set(MODELS) == set(FASTEST_ON_CPU)
    assert PoseNodeConfig(runtime="tensorrt").runtime_for("face_landmark") == "tensorrt"
    assert from_mapping(PoseNodeConfig, {"model_runtime": {"hand_landmark": "litert"}}).runtime_for(
        "hand_landmark") == "litert"
    with pytest.raises(ConfigError, match="model_runtime.face_landmark"):
        from_mapping(PoseNodeConfig, {"model_runtime": {"face_landmark": "tflite"}})


@pytest.mark.parametrize("image", ["messi5.jpg", "megamind_0030.jpg"])
def test_pipeline_with_litert_matches_onnxruntime(image: str) -> None:
    """Every part expert on LiteRT vs every one on ONNX Runtime: same people, keypoints within 2 px."""
    frame = rgb(image)
    results = []
    for runtime in ("litert", "onnxruntime"):
        config = from_mapping(PoseNodeConfig, {"max_people": 2, "model_runtime": {n: runtime for n in EXPERTS}})
        estimator = build_estimator(config)
        for index in range(3):  # tracking on: the second and third frames run from tracked crops
            result = estimator.process(frame, index, "camera", None)
        results.append(result)
    lite, ort = results
    assert len(lite.poses) == len(ort.poses) >= 1
    for a, b in zip(lite.poses, ort.poses):
        both = (a.confidence > 0.5) & (b.confidence > 0.5)
        assert both.sum() >= 20
        error = np.linalg.norm(a.pixels[both] - b.pixels[both], axis=1)
        assert error.max() < 2.0, error.max()
