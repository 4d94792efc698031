"""The offline CLI on an image, a folder of frames and a video: one JSON line per frame."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
from conftest import DATA, REPO, child_env

from teleop_common.layout import NUM_KEYPOINTS

VTEST = [DATA / f"vtest_{i:04d}.jpg" for i in range(3)]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = child_env()
    return subprocess.run([sys.executable, "-m", "whole_body_pose.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_image(tmp_path):
    out = tmp_path / "poses.jsonl"
    result = _cli(str(DATA / "messi5.jpg"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    [frame] = _lines(out)
    assert frame["layout"] == "wholebody_543_v1" and frame["source"] == "messi5.jpg"
    [pose] = frame["poses"]
    assert set(pose["parts"]) == {"body", "left_hand", "right_hand", "face"}
    assert len(pose["pixels"]) == len(pose["points"]) == len(pose["confidence"]) == NUM_KEYPOINTS


def test_folder_and_video_are_sequences(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for path in VTEST:
        shutil.copy(path, folder / path.name)
    video = tmp_path / "clip.avi"
    first = cv2.imread(str(VTEST[0]))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (first.shape[1], first.shape[0]))
    for path in VTEST:
        writer.write(cv2.imread(str(path)))
    writer.release()
    config = tmp_path / "tiles.yaml"
    config.write_text("/**:\n  ros__parameters:\n    detector_tiles: 3\n")

    for source, fps in ((folder, 30.0), (video, 10.0)):
        out = tmp_path / f"{source.stem}.jsonl"
        result = _cli(str(source), "--out", str(out), "--config", str(config), "--frame-id", "cam_optical")
        assert result.returncode == 0, result.stderr
        frames = _lines(out)
        assert len(frames) == len(VTEST)
        assert [f["stamp_ns"] for f in frames] == [round(i * 1e9 / fps) for i in range(len(VTEST))]
        assert all(f["frame_id"] == "cam_optical" for f in frames)
        ids = [{p["track_id"] for p in f["poses"]} for f in frames]
        assert len(ids[0]) >= 3 and all(i == ids[0] for i in ids)


def test_bad_input_fails_cleanly(tmp_path):
    result = _cli(str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2 and "error:" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    max_people: 0\n")
    result = _cli(str(DATA / "messi5.jpg"), "--out", str(tmp_path / "x.jsonl"), "--config", str(bad))
    assert result.returncode == 2 and "max_people" in result.stderr
