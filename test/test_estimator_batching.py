"""Batched crops give what one call per crop gives: several people on real footage, the LiteRT
landmark models run with batches (one interpreter per batch size) and with every crop alone
(litert_backend.MAX_BATCH = 1, the per-item loop), same people, ids, parts and keypoints."""
from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest
from conftest import DATA

from teleop_common.layout import Part
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.pipeline import build_estimator
from whole_body_pose.runtime import litert_backend

pytest.importorskip("ai_edge_litert", reason="backend 'litert' needs ai-edge-litert (requirements.txt)")

SCENES = {  # frames, detector tiles, frame interval (ns)
    "vtest": ([DATA / f"vtest_{i:04d}.jpg" for i in range(8)], 3, 100_000_000),
    "basketball": ([DATA / "basketball1.png"] * 6, 2, 33_333_333),
}
# On the kernels seen (XNNPACK, AVX-512) a batch gives each crop's bits exactly; another CPU's kernels
# may round a batch otherwise, and tracking carries that on: bounds of the fingerprint test's order.
PIXELS_MEDIAN, PIXELS_MAX = 0.05, 3.0


def run(scene: str, batch: int, monkeypatch: pytest.MonkeyPatch) -> tuple[list, Counter]:
    """The scene's poses with LiteRT batches of at most `batch`, and the batch sizes each model ran."""
    paths, tiles, interval = SCENES[scene]
    monkeypatch.setattr(litert_backend, "MAX_BATCH", batch)
    estimator = build_estimator(PoseNodeConfig(detector_tiles=tiles, max_people=6))
    sizes: Counter = Counter()
    for name in ("body", "hand_tracker", "face"):
        session = getattr(estimator.experts, name).session
        assert isinstance(session, litert_backend.LiteRtSession), name
        run_session = session.run

        def counted(inputs, run_session=run_session, name=name):
            sizes[name, len(inputs["image"])] += 1
            return run_session(inputs)
        session.run = counted
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    poses = [estimator.process(rgb, i * interval, "camera", None).poses for i, rgb in enumerate(frames)]
    estimator.reset()
    return poses, sizes


@pytest.mark.parametrize("scene", list(SCENES))
def test_batched_crops_match_single_crops(scene: str, monkeypatch: pytest.MonkeyPatch) -> None:
    batched, sizes = run(scene, litert_backend.MAX_BATCH, monkeypatch)
    single, _ = run(scene, 1, monkeypatch)
    assert max(size for (name, size) in sizes if name == "body") >= 2, sizes  # batches did run
    assert sum(Part.BODY in p.present for frame in batched for p in frame) >= 2 * len(batched)
    for a_frame, b_frame in zip(batched, single, strict=True):
        assert [p.track_id for p in a_frame] == [p.track_id for p in b_frame]
        for a, b in zip(a_frame, b_frame):
            assert a.present == b.present
            known = ~np.isnan(b.pixels[:, 0])
            np.testing.assert_array_equal(known, ~np.isnan(a.pixels[:, 0]))
            diff = np.linalg.norm(a.pixels[known] - b.pixels[known], axis=1)
            assert np.median(diff) <= PIXELS_MEDIAN and diff.max() <= PIXELS_MAX, (a.track_id, diff.max())
