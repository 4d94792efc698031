"""PoseBERT temporal models: the shipped ONNX files, online refinement on held-back real mocap, data."""
from __future__ import annotations

import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import DATA, REPO, child_env
from whole_body_pose.temporal import motion
from whole_body_pose.temporal.corrupt import Corruption, corrupt, gap_mask
from whole_body_pose.temporal.mocap import camera_view, load_npz
from whole_body_pose.temporal.prepare import row_nanmedian
from whole_body_pose.temporal.refiner import ModelFileError, Streams, model_path
from whole_body_pose.temporal.skeleton import forward_fill

CLIPS = DATA / "deepmimic_limbs.npz"


def test_shipped_models_load_and_match_their_sha256():
    for model, joints in (("body", 12), ("hand", 20)):
        path, entry = model_path(model)
        assert entry["spec"]["joints"] == joints and path.stat().st_size < 5_000_000
        streams = Streams(model)
        assert streams.session.input_names == ("poses", "valid", "age")


def test_a_tampered_model_file_is_refused(tmp_path):
    src = model_path("body")[0].parent
    for name in ("manifest.json", "posebert_body.onnx"):
        shutil.copy(src / name, tmp_path / name)
    with open(tmp_path / "posebert_body.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelFileError, match="sha256"):
        Streams("body", weights_dir=tmp_path)


def _run(streams: Streams | None, times, noisy, valid):
    out = np.empty_like(noisy)
    last = None
    for k, t in enumerate(times):
        seen = valid[k].any()
        if streams is None:  # hold: last observation
            last = noisy[k] if seen else last
            out[k] = last
            continue
        streams.push("p", float(t), noisy[k] if seen else None, valid[k] if seen else None)
        out[k] = streams.refine(["p"])["p"]
    return out


def test_fills_a_masked_gap_on_real_mocap_better_than_holding():
    times, world = load_npz(CLIPS)["punch"]
    gt = camera_view(world, 0.3)
    rng = np.random.default_rng(3)
    c = Corruption.measured("body")
    noisy = gt + rng.normal(size=gt.shape) * np.asarray(c.sigma)
    valid = np.ones(gt.shape[:2], bool)
    gaps = [slice(18, 22), slice(44, 50)]  # 4- and 6-frame missed runs while the arms move (1-7 m/s)
    for gap in gaps:
        valid[gap] = False
    model_out = _run(Streams("body"), times, noisy, valid)
    hold_out = _run(None, times, noisy, valid)
    for gap in gaps:
        model_err = np.linalg.norm(model_out[gap] - gt[gap], axis=-1).mean()
        hold_err = np.linalg.norm(hold_out[gap] - gt[gap], axis=-1).mean()
        assert np.isfinite(model_err) and model_err < hold_err, (gap, model_err, hold_err)
    seen = valid.all(axis=1)
    seen[:16] = False
    assert np.linalg.norm(model_out[seen] - gt[seen], axis=-1).mean() < 0.06  # metres, true scale kept


def test_refines_many_streams_in_one_batch_and_forgets_ended_ones():
    streams = Streams("hand")
    rng = np.random.default_rng(0)
    hands = motion.hand_motion(rng, 3, 60)[:, ::4, 1:]
    for k in range(hands.shape[1]):
        for i in range(3):
            streams.push(i, k / 30, hands[i, k], np.ones(20, bool))
    out = streams.refine([0, 1, 2, "never seen"])
    assert sorted(out, key=str) == [0, 1, 2] and all(v.shape == (20, 3) for v in out.values())
    assert np.linalg.norm(out[1] - hands[1, -1], axis=-1).mean() < 0.01
    streams.forget({1})
    assert streams.refine([0, 1]).keys() == {1}


def test_generated_motion_respects_bone_lengths_and_hand_speed():
    rng = np.random.default_rng(1)
    joints = motion.body_motion(rng, 8, 240)
    forearm = np.linalg.norm(joints[:, :, 4] - joints[:, :, 2], axis=-1)
    assert np.ptp(forearm, axis=1).max() < 1e-9           # rigid bones within a sequence
    assert 0.18 < forearm.min() and forearm.max() < 0.35  # varied between operators
    speed = np.linalg.norm(np.diff(joints[:, :, 5], axis=1), axis=-1) * motion.FINE_HZ
    assert 0.2 < np.median(speed) < 3.0


def test_corruption_masks_runs_of_1_to_15_frames_and_depth_is_noisier():
    rng = np.random.default_rng(2)
    c = Corruption.measured("body")
    missed = gap_mask(rng, 200, 64, c)
    assert 0.05 < missed.mean() < 0.35
    clean = np.zeros((400, 16, 12, 3))
    noisy, valid = corrupt(rng, clean, Corruption(c.sigma, 0.0, c.gap_bin_weights))
    spread = np.nanstd(noisy[valid], axis=0)
    assert spread[2] > 2 * spread[:2].max()


def test_forward_fill_holds_the_last_observation():
    x = np.arange(5, dtype=float)[:, None, None] * np.ones((5, 1, 3))
    valid = np.array([[False], [True], [False], [False], [True]])
    held = forward_fill(x, valid)
    assert held[:, 0, 0].tolist() == [0.0, 1.0, 1.0, 1.0, 4.0]


def test_the_pose_node_with_posebert_does_not_import_torch():
    """torch is for training only: its ~10^5 objects would make every full garbage collection of the
    node a ~190 ms pause (measured), so the serving path must not import it."""
    probe = ("import sys, yaml; import whole_body_pose.node; from teleop_common.config import from_mapping;"
             "from whole_body_pose.config import PoseNodeConfig; from whole_body_pose.pipeline import build_estimator;"
             "p = yaml.safe_load(open('config/whole_body_pose.yaml'))['/**']['ros__parameters'];"
             "c = from_mapping(PoseNodeConfig, p); assert c.temporal.model == 'posebert';"
             "build_estimator(c); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO,
                            env=child_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_row_nanmedian_is_numpys_nanmedian():
    rng = np.random.default_rng(0)
    for _ in range(300):
        values = rng.normal(size=(rng.integers(1, 5), rng.integers(1, 17)))
        values[rng.random(values.shape) < rng.random()] = np.nan
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            np.testing.assert_array_equal(row_nanmedian(values), np.nanmedian(values, axis=1))
