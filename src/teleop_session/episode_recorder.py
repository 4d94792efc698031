"""Episode recording without ROS: one writer thread, episodes numbered in a folder, stats, metadata.

Callers (the recorder node's subscriptions) only hand over serialized messages with `enqueue`;
the writer thread converts what needs it (raw images -> JPEG, by the node's `convert`), writes,
and counts, so a slow disk drops (and counts) messages instead of stalling the executor.
"""
from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from teleop_common.image_codec import BadImageError
from teleop_common.stats import EventCounter
from teleop_session.episode_stats import EpisodeStats, header_stamp_ns
from teleop_session.mcap_writer import STATS_METADATA, EpisodeWriter
from teleop_session.recorder_config import RecorderConfig

_EPISODE_FILE = re.compile(r"^episode_(\d+)\.mcap$")
STOP_TIMEOUT_S = 30.0


def next_episode_index(folder: Path) -> int:
    indices = [int(m.group(1)) for p in folder.glob("episode_*.mcap") if (m := _EPISODE_FILE.match(p.name))]
    return max(indices, default=-1) + 1


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class EpisodeRecorder:
    """`convert(payload) -> bytes` serializes what `enqueue` was given that is not bytes already."""

    def __init__(self, config: RecorderConfig, counters: EventCounter, report: Callable[[str, str], None],
                 convert: Callable[[Any], bytes]) -> None:
        self.config, self.counters, self.report, self._convert = config, counters, report, convert
        self.types: dict[str, str] = {}             # recorded topic -> ROS type
        self.episode: dict[str, str] = {}
        self._queue: queue.Queue[tuple] = queue.Queue(maxsize=config.max_queue)
        self._recording = threading.Event()
        self._stats: EpisodeStats | None = None
        self._writer_thread = threading.Thread(target=self._write_loop, name="episode_writer", daemon=True)
        self._writer_thread.start()

    @property
    def recording(self) -> bool:
        return self._recording.is_set()

    def queued(self) -> int:
        return self._queue.qsize()

    def enqueue(self, topic: str, payload: Any) -> None:
        if not self._recording.is_set():
            return
        try:
            self._queue.put_nowait(("message", topic, payload, time.time_ns()))
        except queue.Full:
            self.counters["dropped.queue_full"] += 1
            if self._stats is not None:
                self._stats.drop(topic)

    def _write_loop(self) -> None:
        writer: EpisodeWriter | None = None
        while True:
            item = self._queue.get()
            kind = item[0]
            if kind == "message" and writer is not None:
                _, topic, payload, log_ns = item
                try:
                    data = payload if isinstance(payload, (bytes, bytearray, memoryview)) else self._convert(payload)
                except BadImageError as error:
                    self.report(f"bad_image.{error.kind}", str(error))
                    self._stats.drop(topic)
                    continue
                writer.add_topic(topic, self.types[topic])
                writer.write(topic, data, log_ns)
                self._stats.add(topic, log_ns, header_stamp_ns(data) if writer.stamped[topic] else None)
                self.counters["messages"] += 1
            elif kind == "start":
                writer = item[1]
            elif kind == "stop":
                _, done, result = item
                if writer is not None:
                    result.update(self._finish(writer))
                writer = None
                done.set()
            elif kind == "exit":
                return

    def _finish(self, writer: EpisodeWriter) -> dict[str, str]:
        figures = self._stats.figures()
        writer.add_metadata(STATS_METADATA, figures)
        writer.add_metadata("episode_end", {"stop_time": now_iso(), "messages": str(sum(writer.counts.values()))})
        writer.close()
        return figures

    def start(self, recorder_name: str) -> tuple[bool, str]:
        """Open the next episode file in `output_dir`; (False, why) when already recording."""
        if self._recording.is_set():
            return False, f"already recording {self.episode['path']}"
        folder = Path(self.config.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        index = next_episode_index(folder)
        path = folder / f"episode_{index:04d}.mcap"
        writer = EpisodeWriter(path, self.config.compression, self.config.chunk_size_kib * 1024)
        image_topic = next(iter(sorted(f"{t}/compressed" for t in self.config.image_topics)), None)
        self.episode = {"path": str(path), "episode_index": str(index), "task": self.config.task,
                        "start_time": now_iso(), "image_topic": image_topic or "", "recorder": recorder_name}
        writer.add_metadata("episode", self.episode)
        self._stats = EpisodeStats(image_topic)
        self._queue.put(("start", writer))
        self._recording.set()
        return True, str(path)

    def stop(self) -> dict[str, str] | None:
        """Close the episode (its stats figures), None when not recording."""
        if not self._recording.is_set():
            return None
        self._recording.clear()
        done, result = threading.Event(), {}
        self._queue.put(("stop", done, result))
        if not done.wait(STOP_TIMEOUT_S):
            self.report("stop_timeout", f"writer did not finish {self.episode['path']} in {STOP_TIMEOUT_S} s")
        return result

    def close(self) -> dict[str, str] | None:
        """Stop (closing an open episode) and end the writer thread."""
        figures = self.stop()
        self._queue.put(("exit",))
        self._writer_thread.join(timeout=STOP_TIMEOUT_S)
        return figures
