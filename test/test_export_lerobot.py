"""Export of the session's recorded episode to a LeRobot v3.0 dataset, read back: layout, info.json,
parquet columns and frame counts, H.264 video frames, tasks, episode spans, LeRobot's exact episode-stats
schema; frames resampled on header stamps; two episodes concatenate."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mcap.reader import make_reader
from mcap.writer import Writer
from conftest import DATA, REPO
from test_session_demo import TASK, run_demo

from teleop_common.pose_msgs import stamp_to_ns
from teleop_session.episodes import Episode
from teleop_session.export import export, grid_indices

KEY = "observation.images.camera"
COLUMNS = {"observation.state", "action", "timestamp", "frame_index", "episode_index", "index", "task_index"}
# LeRobot's episode statistics as documented in huggingface/lerobot, src/lerobot/datasets/compute_stats.py
# (v0.4): get_feature_stats returns min, max, mean, std, count and the quantiles of DEFAULT_QUANTILES
# [0.01, 0.10, 0.50, 0.90, 0.99] named q01, q10, q50, q90, q99; compute_episode_stats covers every
# feature whose dtype is not "string" (timestamp and the index columns included); image/video stats are
# per channel in [0, 1] shaped (3, 1, 1), count is shaped (1,).  LeRobotDatasetMetadata.save_episode
# (lerobot_dataset.py) writes one meta/episodes row: the columns below plus stats/<feature>/<stat>.
LEROBOT_STATS = {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
LEROBOT_EPISODE_COLUMNS = {
    "episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
    "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index",
    *(f"videos/{KEY}/{name}" for name in ("chunk_index", "file_index", "from_timestamp", "to_timestamp"))}


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> Path:
    result, video = run_demo(str(tmp_path_factory.getbasetemp() / "demo"))
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(json.loads((video.parent / "summary.json").read_text())["episode"]["path"])


def _export(arguments: list[str], **kwargs) -> subprocess.CompletedProcess:
    """The export command line with this checkout's sources first on PYTHONPATH (kept, not replaced)."""
    path = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "teleop_session.export", *arguments],
                          env=dict(os.environ, PYTHONPATH=path), **kwargs)


def _video_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def _video(path: Path) -> tuple[str, int]:
    """Codec (FFmpeg's canonical name, as LeRobot writes it) and decoded frame count (PyAV, as LeRobot decodes)."""
    with av.open(str(path)) as container:
        return container.streams.video[0].codec.canonical_name, sum(1 for _ in container.decode(video=0))


def test_export_reads_back(episode, tmp_path):
    out = tmp_path / "dataset"
    info = export([str(episode)], out, show_progress=False)
    assert json.loads((out / "meta" / "info.json").read_text()) == info
    # robot_type comes from config/pose_retarget.yaml's robot when not given
    assert info["codebase_version"] == "v3.0" and info["fps"] == 30 and info["robot_type"] == "aloha"
    assert (info["total_episodes"], info["total_tasks"]) == (1, 1)

    recorded = Episode(episode)
    joints = list(next(recorded.messages(["/joint_states"])).message.name)
    features = info["features"]
    assert features["observation.state"]["names"] == features["action"]["names"] == joints
    assert features[KEY]["dtype"] == "video" and features[KEY]["shape"] == [720, 720, 3]

    data = pq.read_table(out / "data" / "chunk-000" / "file-000.parquet")
    assert COLUMNS == set(data.column_names)
    n = data.num_rows
    assert n == info["total_frames"]
    stamps = np.array([stamp_to_ns(m.message.header.stamp) for m in recorded.messages(["/camera/image_raw/compressed"])])
    # A uniform 30 fps grid over the images' stamps (the camera plays at 30 fps); each row holds the image
    # stamped nearest its grid time (brute force here).  Live stamps jitter (24-40 ms apart under load), so
    # an image can lose its slot to a neighbour and one where the camera fell behind repeats: almost all,
    # not all, images are used.
    stamps = np.sort(stamps)
    indices = grid_indices(stamps, 30)
    assert n == len(indices) == round((stamps[-1] - stamps[0]) * 30 / 1e9) + 1
    grid = stamps[0] + np.arange(n) * 1e9 / 30
    assert indices.tolist() == np.abs(stamps[None, :] - grid[:, None]).argmin(axis=1).tolist()
    assert len(set(indices.tolist())) >= 0.9 * len(stamps)
    assert data["frame_index"].to_pylist() == list(range(n)) == data["index"].to_pylist()
    np.testing.assert_allclose(data["timestamp"].to_numpy(), np.arange(n) / 30, atol=1e-5)
    state = np.array(data["observation.state"].to_pylist())
    assert state.shape == (n, len(joints)) and np.isfinite(state).all()
    assert np.array(data["action"].to_pylist()).shape == (n, len(joints))
    video = out / "videos" / KEY / "chunk-000" / "file-000.mp4"
    assert _video(video) == ("av1", n) and features[KEY]["info"]["video.codec"] == "av1"    # LeRobot's default

    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert len(episodes) == 1 and episodes[0]["length"] == n and episodes[0]["tasks"] == [TASK]
    assert (episodes[0]["dataset_from_index"], episodes[0]["dataset_to_index"]) == (0, n)
    assert episodes[0][f"videos/{KEY}/to_timestamp"] == pytest.approx(n / 30)
    tasks = pq.read_table(out / "meta" / "tasks.parquet")
    assert tasks.to_pylist() == [{"task_index": 0, "task": TASK}]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert stats["observation.state"]["count"] == [n] and len(stats["action"]["mean"]) == len(joints)
    assert np.array(stats[KEY]["mean"]).shape == (3, 1, 1)


def test_info_json_has_lerobot_061_layout(episode, tmp_path):
    """meta/info.json against a fixture describing LeRobot 0.6.1's layout (test/data, written from its source):
    key order, defaults, the video feature's info keys (is_depth_map, not the legacy video.is_depth_map) and
    the default codec (AV1), which LeRobot compares when it aggregates datasets."""
    layout = json.loads((DATA / "lerobot_0.6.1_info_layout.json").read_text())
    out = tmp_path / "dataset"
    export([str(episode)], out, show_progress=False)
    info = json.loads((out / "meta" / "info.json").read_text())
    assert list(info) == layout["info_keys"]
    assert {key: info[key] for key in layout["values"]} == layout["values"]
    for name, feature in info["features"].items():
        expected = layout["video_feature_keys"] if feature["dtype"] == "video" else layout["feature_keys"]
        assert list(feature) == expected, name
    video = info["features"][KEY]
    assert list(video["info"]) == layout["video_info_keys"]
    assert {k: video["info"][k] for k in layout["video_info_default_values"]} == layout["video_info_default_values"]
    assert not set(layout["legacy_keys"]) & set(video["info"])
    stream = out / "videos" / KEY / "chunk-000" / "file-000.mp4"
    with av.open(str(stream)) as container:
        decoded = container.streams.video[0]
        assert (video["info"]["video.height"], video["info"]["video.width"], video["info"]["video.fps"]) == (
            decoded.height, decoded.width, int(decoded.base_rate)) == (*video["shape"][:2], info["fps"])
        assert decoded.codec.canonical_name == video["info"]["video.codec"] and decoded.pix_fmt == "yuv420p"


def _stat_features(info: dict) -> list[str]:
    return [name for name, feature in info["features"].items() if feature["dtype"] != "string"]


def test_episode_stats_match_lerobot_schema(episode, tmp_path):
    """Exactly LeRobot's columns (resume and aggregate_datasets read all episodes files as one table)."""
    out = tmp_path / "dataset"
    info = export([str(episode)], out, show_progress=False)
    table = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    features = _stat_features(info)
    assert set(features) == COLUMNS | {KEY}
    expected = LEROBOT_EPISODE_COLUMNS | {f"stats/{f}/{s}" for f in features for s in LEROBOT_STATS}
    assert set(table.column_names) == expected and len(table.column_names) == 93
    row = table.to_pylist()[0]
    n = row["length"]
    for feature in features:
        stats = {s: np.array(row[f"stats/{feature}/{s}"]) for s in LEROBOT_STATS}
        assert stats["count"].shape == (1,)
        shape = (3, 1, 1) if feature == KEY else tuple(info["features"][feature]["shape"])
        assert all(stats[s].shape == shape for s in LEROBOT_STATS - {"count"}), feature
        ordered = [stats[s] for s in ("min", "q01", "q10", "q50", "q90", "q99", "max")]
        assert all((a <= b + 1e-9).all() for a, b in zip(ordered, ordered[1:])), feature
    assert row[f"stats/{KEY}/count"] == [n] and 0.0 <= row[f"stats/{KEY}/min"][0][0][0] <= 1.0
    for index in ("frame_index", "index"):
        assert row[f"stats/{index}/min"] == [0] and row[f"stats/{index}/max"] == [n - 1]
        assert row[f"stats/{index}/q50"] == [pytest.approx((n - 1) / 2)]
    assert table.schema.field("stats/frame_index/min").type == pa.list_(pa.int64())   # as LeRobot writes them
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert set(stats) == set(features) and all(set(s) == LEROBOT_STATS for s in stats.values())


def test_two_episodes_concatenate_with_a_progress_bar(episode, tmp_path):
    out = tmp_path / "dataset"
    result = _export([str(episode), str(episode), "--out", str(out), "--fps", "12", "--vcodec", "h264"],
                     capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "export: 100%" in result.stderr                         # tqdm progress bar
    info = json.loads((out / "meta" / "info.json").read_text())
    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    n = episodes[0]["length"]
    assert info["total_episodes"] == 2 and info["total_frames"] == 2 * n and info["fps"] == 12
    assert [e["episode_index"] for e in episodes] == [0, 1]
    assert (episodes[1]["dataset_from_index"], episodes[1]["dataset_to_index"]) == (n, 2 * n)
    assert episodes[1][f"videos/{KEY}/from_timestamp"] == pytest.approx(n / 12)
    data = pq.read_table(out / "data" / "chunk-000" / "file-000.parquet")
    assert data["episode_index"].to_pylist() == [0] * n + [1] * n
    assert data["index"].to_pylist() == list(range(2 * n))
    video = out / "videos" / KEY / "chunk-000" / "file-000.mp4"
    assert _video_frames(video) == 2 * n and _video(video) == ("h264", 2 * n) == (info["features"][KEY]["info"]["video.codec"], 2 * n)
    assert info["features"][KEY]["info"]["video.preset"] is None        # LeRobot sets a preset for SVT-AV1 only
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert stats["episode_index"]["min"] == [0] and stats["episode_index"]["max"] == [1]
    assert stats["episode_index"]["mean"] == [pytest.approx(0.5)] and stats["index"]["count"] == [2 * n]


def test_export_refuses_what_is_not_an_episode(tmp_path):
    (tmp_path / "notes.mcap").write_text("not an MCAP file")
    for target in (tmp_path / "missing.mcap", tmp_path / "notes.mcap"):
        result = _export([str(target), "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and str(target) in result.stderr, result.stderr[-2000:]


def _with_stats(source: Path, target: Path, **figures: str) -> None:
    """A copy of an episode whose episode_stats record says `figures` (what a damaged or forged file holds)."""
    with open(source, "rb") as stream, open(target, "wb") as out:
        reader = make_reader(stream)
        summary = reader.get_summary()
        writer = Writer(out)
        writer.start(profile="ros2", library="test")
        schemas = {i: writer.register_schema(s.name, s.encoding, s.data) for i, s in summary.schemas.items()}
        channels = {i: writer.register_channel(c.topic, c.message_encoding, schemas[c.schema_id])
                    for i, c in summary.channels.items()}
        for _, channel, message in reader.iter_messages():
            writer.add_message(channels[channel.id], message.log_time, message.data, message.publish_time)
        for record in reader.iter_metadata():
            writer.add_metadata(record.name, {**record.metadata, **figures} if record.name == "episode_stats"
                                else dict(record.metadata))
        writer.finish()


def test_export_refuses_absurd_rates_with_one_line(episode, tmp_path):
    """A recorded image.fps of 1e9 (or --fps 1e9) used to allocate 7 GiB and die with a MemoryError."""
    forged = tmp_path / "episode_0000.mcap"
    _with_stats(episode, forged, **{"image.fps": "1000000000"})
    for arguments, said in (([str(forged)], "recorded image.fps: dataset rate 1000000000.0 fps is not in [1, 1000]"),
                            ([str(episode), "--fps", "1e9"], "--fps: dataset rate 1000000000.0 fps is not in [1, 1000]"),
                            ([str(episode), "--fps", "900"], "900 fps makes")):
        result = _export([*arguments, "--out", str(tmp_path / "out"), "--robot-type", "aloha"], capture_output=True,
                         text=True, timeout=300)
        lines = [line for line in result.stderr.splitlines() if line.startswith("export:") and "%|" not in line]
        assert result.returncode == 2 and len(lines) == 1 and said in lines[0], result.stderr[-2000:]
        assert "Traceback" not in result.stderr


def test_stamp_grid_takes_each_image_once_despite_jitter():
    """Images stamped at the dataset rate with up to +-20 % of a period of jitter map one to one; frames
    missing from the stamps repeat the nearest image (the dataset's time axis stays uniform)."""
    rng = np.random.default_rng(0)
    period = 1e9 / 30
    stamps = (np.arange(300) * period + rng.uniform(-0.2, 0.2, 300) * period).astype(np.int64) + 10**18
    assert grid_indices(np.sort(stamps), 30).tolist() == list(range(300))
    gap = np.delete(stamps, [100, 101])                          # two frames lost by the camera
    indices = grid_indices(gap, 30)
    assert len(indices) == 300 and set(indices.tolist()) == set(range(298))


def test_statistics_of_two_episodes_aggregate_to_those_of_both():
    """Dataset statistics pooled from episode ones equal those computed over all frames at once (min,
    max, mean, std exactly); quantiles are the count-weighted mean LeRobot uses too."""
    from teleop_session.lerobot_stats import aggregate, feature_stats, image_stats

    frames = [cv2.imread(str(path)) for path in sorted((Path(__file__).parent / "data").glob("vtest_000*.jpg"))]
    assert len(frames) >= 4
    values = np.stack([f.reshape(-1, 3)[::997].mean(1) for f in frames]).astype(np.float32)   # real pixel rows
    first, second = feature_stats(values[:2]), feature_stats(values[2:])
    whole, pooled = feature_stats(values), aggregate([first, second])
    for key in ("min", "max", "mean", "std", "count"):
        np.testing.assert_allclose(pooled[key], whole[key], rtol=1e-6, atol=1e-9)
    images = image_stats(frames)
    assert {k: np.array(v).shape for k, v in images.items()} == {k: (1,) if k == "count" else (3, 1, 1) for k in images}
    assert np.all(np.array(images["min"]) >= 0) and np.all(np.array(images["max"]) <= 1)
    assert images["count"] == [len(frames)]
