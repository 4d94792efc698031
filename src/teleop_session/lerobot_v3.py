"""Writer of the LeRobot v3.0 dataset layout (no LeRobot dependency):

    meta/info.json                                   features, fps, totals, path templates
    meta/tasks.parquet                               task strings (pandas index 'task') -> task_index
    meta/episodes/chunk-000/file-000.parquet         one row per episode: length, indices, video spans, stats
    meta/stats.json                                  per-feature statistics over the dataset
    data/chunk-000/file-000.parquet                  one row per frame
    videos/<video_key>/chunk-000/file-000.mp4        frames of every episode, one after the other

Episodes are appended to the current data/video file until it passes its size limit, then the next
file (and after `CHUNK_SIZE` files, the next chunk) is started, as LeRobot does.  Every non-string
feature gets LeRobot's episode statistics (lerobot_stats.py), so LeRobot can resume recording into
the dataset and aggregate it with datasets it recorded itself.  Video is AV1 (SVT-AV1) with LeRobot
0.6.1's encoder settings by default, H.264 as an option; info.json's keys are LeRobot 0.6.1's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from teleop_session.lerobot_stats import STAT_KEYS, aggregate, feature_stats, image_stats
from teleop_session.video_encoder import VideoEncoder, probe_video

CODEBASE_VERSION = "v3.0"
CHUNK_SIZE = 1000
DATA_FILE_SIZE_MB = 100
VIDEO_FILE_SIZE_MB = 200
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
# LeRobot 0.6.1's default encoder (lerobot.configs.video.VideoEncoderConfig): SVT-AV1 in yuv420p, a
# keyframe every 2nd frame (fast random access when training), crf 30, preset 12 (SVT-AV1 only),
# fast_decode 0, through PyAV.  Its fields are written to info.json as `video.<field>`; h264 is the option.
DEFAULT_VIDEO_CODEC = "av1"
ENCODER_FIELDS = {"av1": {"g": 2, "crf": 30, "preset": 12, "fast_decode": 0, "video_backend": "pyav", "extra_options": {}},
                  "h264": {"g": 2, "crf": 30, "preset": None, "fast_decode": 0, "video_backend": "pyav", "extra_options": {}}}
CODEC_OPTIONS = {"av1": {"g": "2", "crf": "30", "preset": "12", "svtav1-params": "fast-decode=0"},
                 "h264": {"g": "2", "crf": "30"}}
INDEX_FEATURES = {name: {"dtype": "int64", "shape": [1], "names": None}
                  for name in ("frame_index", "episode_index", "index", "task_index")}


@dataclass
class EpisodeFrames:
    """One episode resampled at the dataset rate: frames[k] (BGR), state[k], action[k]."""

    task: str
    frames: list[np.ndarray]
    state: np.ndarray          # (n, state_dim) float32
    action: np.ndarray         # (n, action_dim) float32


def _tasks_table(tasks: list[str]) -> pa.Table:
    """tasks.parquet as pandas writes a DataFrame indexed by 'task' (LeRobot reads it with pandas)."""
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["task"], "column_indexes": [], "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        ],
    }
    return table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})


@dataclass
class _FileCursor:
    """Current (chunk, file) of a rolling file series and what it holds so far."""

    chunk: int = 0
    file: int = 0
    frames: int = 0

    def advance(self) -> None:
        self.chunk, self.file = (self.chunk + 1, 0) if self.file + 1 >= CHUNK_SIZE else (self.chunk, self.file + 1)
        self.frames = 0


@dataclass
class LeRobotV3Writer:
    """Appends episodes to a new dataset folder; `finish()` writes the metadata files."""

    root: Path
    fps: int
    state_names: list[str]
    action_names: list[str]
    video_key: str = "observation.images.camera"
    robot_type: str | None = None
    video_codec: str = DEFAULT_VIDEO_CODEC    # or "h264" (video_encoder.CODECS)
    _tasks: list[str] = field(default_factory=list)
    _episodes: list[dict] = field(default_factory=list)
    _rows: list[pa.Table] = field(default_factory=list)
    _data: _FileCursor = field(default_factory=_FileCursor)
    _video: _FileCursor = field(default_factory=_FileCursor)
    _video_writer: VideoEncoder | None = None
    _size: tuple[int, int] | None = None      # (width, height) of the video
    _total_frames: int = 0

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.root.exists() and any(self.root.iterdir()):
            raise FileExistsError(f"{self.root} exists and is not empty")

    def _video_path(self) -> Path:
        return self.root / VIDEO_PATH.format(video_key=self.video_key, chunk_index=self._video.chunk,
                                             file_index=self._video.file)

    def _write_video(self, frames: list[np.ndarray]) -> None:
        height, width = frames[0].shape[:2]
        size = (width - width % 2, height - height % 2)        # what yuv420p can hold
        if self._size is None:
            self._size = size
        elif self._size != size:
            raise ValueError(f"camera frames are {width}x{height}, earlier episodes {self._size[0]}x{self._size[1]}")
        if self._video_writer is None:
            self._video_writer = VideoEncoder(self._video_path(), self.fps, self.video_codec,
                                              CODEC_OPTIONS[self.video_codec])
        for frame in frames:
            self._video_writer.write(frame)

    def _flush_data(self) -> None:
        if self._rows:
            path = self.root / DATA_PATH.format(chunk_index=self._data.chunk, file_index=self._data.file)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(self._rows), path)
            self._rows = []

    def add_episode(self, episode: EpisodeFrames) -> int:
        """Append one episode; returns its episode_index."""
        n = len(episode.frames)
        if n == 0 or episode.state.shape != (n, len(self.state_names)) or episode.action.shape != (n, len(self.action_names)):
            raise ValueError(f"episode arrays do not match {n} frames: state {episode.state.shape}, action {episode.action.shape}")
        if episode.task not in self._tasks:
            self._tasks.append(episode.task)
        index, start = len(self._episodes), self._total_frames
        video_from = self._video.frames / self.fps
        self._write_video(episode.frames)
        self._video.frames += n
        frame_index = np.arange(n, dtype=np.int64)
        columns = {
            "observation.state": episode.state.astype(np.float32),
            "action": episode.action.astype(np.float32),
            "timestamp": (frame_index / self.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(n, index, np.int64),
            "index": start + frame_index,
            "task_index": np.full(n, self._tasks.index(episode.task), np.int64),
        }
        self._rows.append(pa.table({name: pa.array(list(v), pa.list_(pa.float32())) if v.ndim == 2 else pa.array(v)
                                    for name, v in columns.items()}))
        # LeRobot's feature order: the camera, then the data columns.
        stats = {self.video_key: image_stats(episode.frames), **{name: feature_stats(v) for name, v in columns.items()}}
        row = {"episode_index": index, "tasks": [episode.task], "length": n,
               "data/chunk_index": self._data.chunk, "data/file_index": self._data.file,
               "dataset_from_index": start, "dataset_to_index": start + n,
               f"videos/{self.video_key}/chunk_index": self._video.chunk,
               f"videos/{self.video_key}/file_index": self._video.file,
               f"videos/{self.video_key}/from_timestamp": video_from,
               f"videos/{self.video_key}/to_timestamp": video_from + n / self.fps,
               "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        row.update({f"stats/{feature}/{name}": value for feature, s in stats.items() for name, value in s.items()})
        self._episodes.append(row)
        self._total_frames += n
        self._roll()
        return index

    def _roll(self) -> None:
        """Start new data/video files once the current ones pass LeRobot's size limits."""
        if sum(t.nbytes for t in self._rows) / 2**20 >= DATA_FILE_SIZE_MB:
            self._flush_data()
            self._data.advance()
        if self._video_writer is not None and self._video_writer.file_size() / 2**20 >= VIDEO_FILE_SIZE_MB:
            self._video_writer.close()
            self._video_writer = None
            self._video.advance()

    def _video_info(self) -> dict:
        """A video feature's `info` as LeRobot 0.6.1 writes it (lerobot.datasets.video_utils.get_video_info): the
        first video file's stream (codec by its canonical name), the encoder's fields, then `is_depth_map`."""
        stream = probe_video(self.root / VIDEO_PATH.format(video_key=self.video_key, chunk_index=0, file_index=0))
        info = {"video.height": stream.height, "video.width": stream.width, "video.codec": stream.codec,
                "video.pix_fmt": stream.pix_fmt, "video.fps": stream.fps, "video.channels": 3, "has_audio": False}
        info.update({f"video.{name}": value for name, value in ENCODER_FIELDS[self.video_codec].items()})
        info["is_depth_map"] = False
        return info

    def _info(self) -> dict:
        width, height = self._size or (0, 0)
        features = {
            self.video_key: {
                "dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"],
                "info": self._video_info()},
            "observation.state": {"dtype": "float32", "shape": [len(self.state_names)], "names": self.state_names},
            "action": {"dtype": "float32", "shape": [len(self.action_names)], "names": self.action_names},
            "timestamp": {"dtype": "float32", "shape": [1], "names": None},
            **INDEX_FEATURES,
        }
        # in the order of LeRobot 0.6.1's DatasetInfo fields
        return {"codebase_version": CODEBASE_VERSION, "fps": self.fps, "features": features,
                "total_episodes": len(self._episodes), "total_frames": self._total_frames,
                "total_tasks": len(self._tasks), "chunks_size": CHUNK_SIZE,
                "data_files_size_in_mb": DATA_FILE_SIZE_MB, "video_files_size_in_mb": VIDEO_FILE_SIZE_MB,
                "data_path": DATA_PATH, "video_path": VIDEO_PATH, "robot_type": self.robot_type,
                "splits": {"train": f"0:{len(self._episodes)}"}}

    def finish(self) -> dict:
        """Close the files and write meta/; returns info.json's content."""
        if not self._episodes:
            raise ValueError("no episode was added")
        self._flush_data()
        if self._video_writer is not None:
            self._video_writer.close()
            self._video_writer = None
        meta = self.root / "meta"
        (meta / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self._episodes), self.root / EPISODES_PATH.format(chunk_index=0, file_index=0))
        pq.write_table(_tasks_table(self._tasks), meta / "tasks.parquet")
        keys = [k for k in self._episodes[0] if k.startswith("stats/")]
        features = sorted({k.split("/")[1] for k in keys})
        stats = {f: aggregate([{s: e[f"stats/{f}/{s}"] for s in STAT_KEYS} for e in self._episodes])
                 for f in features}
        (meta / "stats.json").write_text(json.dumps(stats, indent=2))
        info = self._info()
        (meta / "info.json").write_text(json.dumps(info, indent=4))
        return info
