"""Export of the session's recorded episode to a LeRobot v3.0 dataset, read back: layout, info.json,
parquet columns and frame counts, video frames, tasks, episode spans; two episodes concatenate."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from test_session_demo import TASK, run_demo

from teleop_session.episodes import Episode
from teleop_session.export import export

KEY = "observation.images.camera"
COLUMNS = {"observation.state", "action", "timestamp", "frame_index", "episode_index", "index", "task_index"}


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> Path:
    result, video = run_demo(str(tmp_path_factory.getbasetemp() / "demo"))
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(json.loads((video.parent / "summary.json").read_text())["episode"]["path"])


def _video_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def test_export_reads_back(episode, tmp_path):
    out = tmp_path / "dataset"
    info = export([str(episode)], out, robot_type="aloha", show_progress=False)
    assert json.loads((out / "meta" / "info.json").read_text()) == info
    assert info["codebase_version"] == "v3.0" and info["fps"] == 24 and info["robot_type"] == "aloha"
    assert (info["total_episodes"], info["total_tasks"]) == (1, 1)

    recorded = Episode(episode)
    joints = list(next(recorded.messages(["/joint_states"])).message.name)
    features = info["features"]
    assert features["observation.state"]["names"] == features["action"]["names"] == joints
    assert features[KEY]["dtype"] == "video" and features[KEY]["shape"] == [528, 720, 3]

    data = pq.read_table(out / "data" / "chunk-000" / "file-000.parquet")
    assert COLUMNS == set(data.column_names)
    n = data.num_rows
    assert n == info["total_frames"]
    received = [m.log_time_ns for m in recorded.messages(["/camera/image_raw/compressed"])]
    assert n == int((received[-1] - received[0]) * 24 // 1e9) + 1   # 24 fps grid over the recorded images
    assert data["frame_index"].to_pylist() == list(range(n)) == data["index"].to_pylist()
    np.testing.assert_allclose(data["timestamp"].to_numpy(), np.arange(n) / 24, atol=1e-5)
    state = np.array(data["observation.state"].to_pylist())
    assert state.shape == (n, len(joints)) and np.isfinite(state).all()
    assert np.array(data["action"].to_pylist()).shape == (n, len(joints))
    assert _video_frames(out / "videos" / KEY / "chunk-000" / "file-000.mp4") == n

    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert len(episodes) == 1 and episodes[0]["length"] == n and episodes[0]["tasks"] == [TASK]
    assert (episodes[0]["dataset_from_index"], episodes[0]["dataset_to_index"]) == (0, n)
    assert episodes[0][f"videos/{KEY}/to_timestamp"] == pytest.approx(n / 24)
    tasks = pq.read_table(out / "meta" / "tasks.parquet")
    assert tasks.to_pylist() == [{"task_index": 0, "task": TASK}]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert stats["observation.state"]["count"] == [n] and len(stats["action"]["mean"]) == len(joints)
    assert np.array(stats[KEY]["mean"]).shape == (3, 1, 1)


def test_two_episodes_concatenate_with_a_progress_bar(episode, tmp_path):
    out = tmp_path / "dataset"
    result = subprocess.run([sys.executable, "-m", "teleop_session.export", str(episode), str(episode),
                             "--out", str(out), "--fps", "12"], capture_output=True, text=True, timeout=300)
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
    assert _video_frames(out / "videos" / KEY / "chunk-000" / "file-000.mp4") == 2 * n


def test_export_refuses_what_is_not_an_episode(tmp_path):
    (tmp_path / "notes.mcap").write_text("not an MCAP file")
    for target in (tmp_path / "missing.mcap", tmp_path / "notes.mcap"):
        result = subprocess.run([sys.executable, "-m", "teleop_session.export", str(target), "--out",
                                 str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and str(target) in result.stderr, result.stderr[-2000:]
