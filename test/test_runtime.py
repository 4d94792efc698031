"""Inference runtimes on the real converted models and real images (messi5.jpg)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from teleop_common.config import ConfigError, from_mapping
from whole_body_pose.models import MODELS, REPO_ROOT, ModelStore
from whole_body_pose.runtime import (
    BackendUnavailableError,
    InferenceError,
    InferenceSession,
    RuntimeOptions,
    UnknownBackendError,
    backend_names,
    open_session,
)

MEDIA = REPO_ROOT / ".cache" / "media"
# Whole person in messi5.jpg (548 x 342) and a patch of empty grass, as (centre x, centre y, side).
PERSON = (260.0, 200.0, 420.0)
GRASS = (100.0, 310.0, 60.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -100.0, 100.0)))


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    frame = cv2.imread(str(MEDIA / "messi5.jpg"))
    assert frame is not None, f"missing test image {MEDIA / 'messi5.jpg'}"
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def crop(image: np.ndarray, cx: float, cy: float, side: float, size: int,
         value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Square crop centred on (cx, cy), zero outside the image, resized to size x size."""
    scale = size / side
    warp = np.array([[scale, 0.0, size / 2 - scale * cx], [0.0, scale, size / 2 - scale * cy]], np.float32)
    pixels = cv2.warpAffine(image, warp, (size, size), flags=cv2.INTER_AREA, borderValue=0).astype(np.float32)
    low, high = value_range
    return low + pixels / 255.0 * (high - low)


def to_image(points: np.ndarray, box: tuple[float, float, float], size: int) -> np.ndarray:
    """Model-input pixel coordinates of a crop made by `crop(box)` back to image pixels."""
    cx, cy, side = box
    return points * (side / size) + np.array([cx - side / 2, cy - side / 2])


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore()


@pytest.fixture(scope="module")
def sessions(store: ModelStore) -> dict[str, InferenceSession]:
    return {name: open_session("onnxruntime", store.path(name)) for name in MODELS}


@pytest.fixture(scope="module")
def pose(sessions: dict[str, InferenceSession], image: np.ndarray) -> dict[str, np.ndarray]:
    return sessions["pose_landmark"].run({"image": crop(image, *PERSON, 256)[None]})


def body_points(pose: dict[str, np.ndarray]) -> np.ndarray:
    return to_image(pose["landmarks"].reshape(39, 5)[:, :2], PERSON, 256)


def test_backends_registered_by_name() -> None:
    assert {"onnxruntime", "tensorrt"} <= set(backend_names())
    with pytest.raises(UnknownBackendError, match="onnxruntime"):
        open_session("tflite", "whatever.onnx")


def test_sessions_follow_protocol_and_manifest(sessions: dict[str, InferenceSession], store: ModelStore) -> None:
    for name, session in sessions.items():
        assert isinstance(session, InferenceSession)
        info = store.info(name)
        assert session.input_names == tuple(t.name for t in info.inputs)
        assert session.output_names == tuple(t.name for t in info.outputs)


def test_pose_landmark_presence_high_on_person_low_on_grass(
        sessions: dict[str, InferenceSession], image: np.ndarray, pose: dict[str, np.ndarray]) -> None:
    assert pose["presence"].shape == (1, 1) and pose["presence"][0, 0] > 0.9
    background = sessions["pose_landmark"].run({"image": crop(image, *GRASS, 256)[None]})
    assert background["presence"][0, 0] < 0.1
    points = body_points(pose)
    nose, left_hip, right_hip, left_ankle = points[0], points[23], points[24], points[27]
    assert nose[1] < (left_hip[1] + right_hip[1]) / 2 < left_ankle[1]  # head above hips above feet
    assert np.isfinite(pose["world_landmarks"]).all() and pose["world_landmarks"].shape == (1, 117)
    assert "segmentation" not in pose  # pruned at conversion: the pipeline never reads the mask
    hip_centre_world = pose["world_landmarks"].reshape(39, 3)[[23, 24]].mean(axis=0)
    assert np.abs(hip_centre_world).max() < 0.1  # metres, origin at the hip centre


def test_pose_detection_finds_the_player(sessions: dict[str, InferenceSession], image: np.ndarray) -> None:
    height, width = image.shape[:2]
    side = float(max(height, width))
    letterboxed = crop(image, width / 2, height / 2, side, 224, (-1.0, 1.0))
    out = sessions["pose_detection"].run({"image": letterboxed[None]})
    assert out["box_regressors"].shape == (1, 2254, 12) and out["score_logits"].shape == (1, 2254, 1)
    assert sigmoid(out["score_logits"]).max() > 0.5
    grass = crop(image, *GRASS, 224, (-1.0, 1.0))
    assert sigmoid(sessions["pose_detection"].run({"image": grass[None]})["score_logits"]).max() < 0.5


def test_hands_and_face_found_at_pose_landmarks(
        sessions: dict[str, InferenceSession], image: np.ndarray, pose: dict[str, np.ndarray]) -> None:
    points = body_points(pose)
    wrist, index = points[15], points[19]  # the player's left hand (right side of the image)
    centre, side = (wrist + index) / 2, 3.0 * float(np.linalg.norm(index - wrist))
    hand = sessions["hand_landmark"].run({"image": crop(image, *centre, side, 224)[None]})
    assert hand["presence"][0, 0] > 0.5
    hand_points = to_image(hand["landmarks"].reshape(21, 3)[:, :2], (*centre, side), 224)
    assert np.linalg.norm(hand_points[0] - wrist) < side / 2  # the model's wrist near the body's wrist
    palm = sessions["palm_detection"].run({"image": crop(image, *centre, 2 * side, 192)[None]})
    assert sigmoid(palm["score_logits"]).max() > 0.5
    nose, ears = points[0], points[7:9]
    face_side = 2.2 * float(np.linalg.norm(ears[0] - ears[1]))
    face = sessions["face_landmark"].run({"image": crop(image, *nose, face_side, 192)[None]})
    assert sigmoid(face["presence_logit"]).item() > 0.9
    assert face["landmarks"].shape == (1, 1, 1, 1404)
    for name in ("hand_landmark", "face_landmark", "palm_detection"):
        size = 224 if name == "hand_landmark" else 192
        out = sessions[name].run({"image": crop(image, *GRASS, size)[None]})
        score = out["presence"] if "presence" in out else sigmoid(out.get("presence_logit", out.get("score_logits")))
        assert score.max() < 0.1, name


@pytest.mark.parametrize("name", list(MODELS))
def test_batch_of_three_equals_three_single_runs(
        name: str, sessions: dict[str, InferenceSession], store: ModelStore, image: np.ndarray) -> None:
    info = store.info(name)
    size = info.input_size[0]
    boxes = (PERSON, (360.0, 160.0, 80.0), (120.0, 250.0, 200.0))
    batch = np.stack([crop(image, *box, size, info.input_range) for box in boxes])
    together = sessions[name].run({"image": batch})
    alone = [sessions[name].run({"image": batch[i:i + 1]}) for i in range(3)]
    for output in sessions[name].output_names:
        assert together[output].shape[0] == 3
        np.testing.assert_allclose(together[output], np.concatenate([a[output] for a in alone]), rtol=1e-5, atol=1e-4)
    assert not np.allclose(alone[0][sessions[name].output_names[0]], alone[1][sessions[name].output_names[0]])


def test_bad_inputs_raise_inference_error(sessions: dict[str, InferenceSession]) -> None:
    session = sessions["hand_landmark"]
    with pytest.raises(InferenceError, match="float32"):
        session.run({"image": np.zeros((1, 224, 224, 3), np.uint8)})
    with pytest.raises(InferenceError, match="expected inputs"):
        session.run({"input_1": np.zeros((1, 224, 224, 3), np.float32)})
    with pytest.raises(InferenceError):
        session.run({"image": np.zeros((1, 100, 224, 3), np.float32)})
    with pytest.raises(InferenceError, match="batch"):
        session.run({"image": np.zeros((0, 224, 224, 3), np.float32)})


def test_runtime_options_validated_as_configuration() -> None:
    assert from_mapping(RuntimeOptions, {"threads": 1}).threads == 1
    with pytest.raises(ConfigError, match="threads"):
        from_mapping(RuntimeOptions, {"threads": 0})
    with pytest.raises(ConfigError, match="opt_batch"):
        from_mapping(RuntimeOptions, {"opt_batch": 16, "max_batch": 4})


def _tensorrt_or_skip() -> None:
    pytest.importorskip("tensorrt", reason="tensorrt is not installed here (TensorRT test needs it and a GPU)")
    torch = pytest.importorskip("torch", reason="torch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to torch: TensorRT test needs one")


def test_tensorrt_unavailable_is_a_clear_error(store: ModelStore, tmp_path: Path) -> None:
    try:
        _tensorrt_or_skip()
    except pytest.skip.Exception:
        options = RuntimeOptions(engine_cache_dir=str(tmp_path))
        with pytest.raises(BackendUnavailableError, match="tensorrt|CUDA"):
            open_session("tensorrt", store.path("pose_landmark"), options)
        return
    pytest.skip("TensorRT and a GPU are present: covered by test_tensorrt_matches_onnxruntime")


def test_tensorrt_matches_onnxruntime(
        store: ModelStore, sessions: dict[str, InferenceSession], image: np.ndarray, tmp_path: Path) -> None:
    _tensorrt_or_skip()
    options = RuntimeOptions(max_batch=4, opt_batch=2, fp16=True, engine_cache_dir=str(tmp_path))
    session = open_session("tensorrt", store.path("pose_landmark"), options)
    assert session.input_names == ("image",)
    batch = np.stack([crop(image, *box, 256) for box in (PERSON, GRASS, PERSON, GRASS, PERSON)])
    got = session.run({"image": batch})  # 5 > max_batch: runs in two chunks
    want = sessions["pose_landmark"].run({"image": batch})
    np.testing.assert_allclose(got["presence"], want["presence"], atol=0.05)
    person = [0, 2, 4]
    landmarks = lambda out: out["landmarks"][person].reshape(3, 39, 5)[:, :33, :2]  # noqa: E731
    assert np.abs(landmarks(got) - landmarks(want)).max() < 3.0  # pixels of the 256 input, FP16
    assert list(tmp_path.glob("pose_landmark_full-*.engine"))  # engine cached
    reopened = open_session("tensorrt", store.path("pose_landmark"), options)  # from the cache
    np.testing.assert_allclose(reopened.run({"image": batch[:1]})["presence"], got["presence"][:1], atol=1e-3)
