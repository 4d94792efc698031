"""Episode recording without ROS: one writer thread, episodes numbered in a folder, stats, metadata.

Callers (the recorder node's subscriptions) only hand over serialized messages with `enqueue`;
the writer thread converts what needs it (raw images -> JPEG, by the node's `convert`), writes,
and counts, so a slow disk drops (and counts) messages instead of stalling the executor.

A write error (a full disk, an I/O error) or the free-space guard ends the episode where it is: the
file is closed as far as it was written (recoverable, see episode_folder.py), `state` says ERROR
with the reason until the next episode starts, and the writer thread keeps serving, so the
services and shutdown answer at once.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from teleop_common.image_codec import BadImageError
from teleop_common.stats import EventCounter
from teleop_session.episode_folder import free_bytes, next_episode_index
from teleop_session.episode_stats import EpisodeStats, header_stamp_ns
from teleop_session.mcap_writer import STATS_METADATA, EpisodeWriter
from teleop_session.recorder_config import RecorderConfig

STOP_TIMEOUT_S = 10.0       # closing writes at most one chunk (chunk_max_s of data) and the summary
GUARD_PERIOD_S = 0.25       # free space is checked this often while recording
MIB = 1 << 20

IDLE, RECORDING, ERROR = "IDLE", "RECORDING", "ERROR"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class EpisodeRecorder:
    """`convert(payload) -> bytes` serializes what `enqueue` was given that is not bytes already.

    `folder` is the output folder checked at start-up (episode_folder.checked_folder); it does not change.
    """

    def __init__(self, config: RecorderConfig, folder: Path, counters: EventCounter,
                 report: Callable[[str, str], None], convert: Callable[[Any], bytes]) -> None:
        self.config, self.folder, self.counters, self.report, self._convert = config, folder, counters, report, convert
        self.types: dict[str, str] = {}             # recorded topic -> ROS type
        self.episode: dict[str, str] = {}
        self.error = ""                             # why the last episode ended by itself ('' when it did not)
        # Unbounded so that control items (stop, exit) never block; enqueue bounds messages to max_queue.
        self._queue: queue.Queue[tuple] = queue.Queue()
        self._recording = threading.Event()
        self._writer_busy = threading.Event()       # the writer thread holds an open episode
        self._stats: EpisodeStats | None = None
        self._writer_thread = threading.Thread(target=self._write_loop, name="episode_writer", daemon=True)
        self._writer_thread.start()

    @property
    def recording(self) -> bool:
        return self._recording.is_set()

    @property
    def state(self) -> str:
        return RECORDING if self.recording else ERROR if self.error else IDLE

    def queued(self) -> int:
        return self._queue.qsize()

    def free_mib(self) -> float:
        try:
            return free_bytes(self.folder) / MIB
        except OSError:
            return float("nan")

    def enqueue(self, topic: str, payload: Any) -> None:
        if not self._recording.is_set():
            return
        if self._queue.qsize() >= self.config.max_queue:
            self.counters["dropped.queue_full"] += 1
            if self._stats is not None:
                self._stats.drop(topic)
            return
        self._queue.put(("message", topic, payload, time.time_ns()))

    # ------------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        writer: EpisodeWriter | None = None
        next_guard = 0.0
        while True:
            try:
                item = self._queue.get(timeout=GUARD_PERIOD_S if writer is not None else None)
            except queue.Empty:
                item = ("tick",)
            kind = item[0]
            try:
                if kind == "message" and writer is not None:
                    self._write(writer, *item[1:])
                elif kind == "start":
                    writer, next_guard = item[1], 0.0
                elif kind == "stop":
                    if writer is not None:
                        item[2].update(self._finish(writer))
                        writer = None
                    self._writer_busy.clear()
                    item[1].set()
                elif kind == "exit":
                    return
                if writer is not None:
                    if writer.chunk_age_s() >= self.config.chunk_max_s:
                        writer.flush_chunk()
                    if time.monotonic() >= next_guard:
                        next_guard = time.monotonic() + GUARD_PERIOD_S
                        writer = self._guard(writer)
            except Exception as error:  # noqa: BLE001 - ENOSPC, EIO or a bug: end the episode, keep serving
                if writer is not None:
                    self._fail(writer, f"write failed: {type(error).__name__}: {error}")
                    writer = None
                if kind == "stop":
                    self._writer_busy.clear()
                    item[1].set()

    def _write(self, writer: EpisodeWriter, topic: str, payload: Any, log_ns: int) -> None:
        try:
            data = payload if isinstance(payload, (bytes, bytearray, memoryview)) else self._convert(payload)
        except BadImageError as error:
            self.report(f"bad_image.{error.kind}", str(error))
            self._stats.drop(topic)
            return
        writer.add_topic(topic, self.types[topic])
        writer.write(topic, data, log_ns)
        self._stats.add(topic, log_ns, header_stamp_ns(data) if writer.stamped[topic] else None)
        self.counters["messages"] += 1

    def _guard(self, writer: EpisodeWriter) -> EpisodeWriter | None:
        """Close the episode cleanly while the disk still has room for its last chunk and summary."""
        free = free_bytes(self.folder)
        if self.config.min_free_mib and free < self.config.min_free_mib * MIB:
            self._end(writer, f"stopped: {free / MIB:.1f} MiB free in {self.folder}, "
                              f"below min_free_mib {self.config.min_free_mib}", "disk_space")
            self._finish(writer)
            self._writer_busy.clear()
            return None
        return writer

    def _finish(self, writer: EpisodeWriter) -> dict[str, str]:
        figures = self._stats.figures()
        writer.add_metadata(STATS_METADATA, figures)
        writer.add_metadata("episode_end", {"stop_time": now_iso(), "messages": str(sum(writer.counts.values())),
                                            **({"error": self.error} if self.error else {})})
        writer.close()
        return figures

    def _end(self, writer: EpisodeWriter, reason: str, kind: str) -> None:
        """The episode ends by itself: no more messages are taken, the reason is kept for status and replies."""
        self.error = f"{reason} (episode {writer.path})"
        self._recording.clear()
        self.report(kind, self.error)

    def _fail(self, writer: EpisodeWriter, reason: str) -> None:
        self._end(writer, reason, "write_failed")
        writer.abandon()
        self._writer_busy.clear()

    # ------------------------------------------------------------------ service side
    def start(self, recorder_name: str) -> tuple[bool, str]:
        """Open the next episode file in the output folder; (False, why) when it cannot."""
        if self._recording.is_set():
            return False, f"already recording {self.episode['path']}"
        if self._writer_busy.is_set():
            return False, "the previous episode is still being closed"
        free = self.free_mib()
        if self.config.min_free_mib and not free >= self.config.min_free_mib:
            return False, f"only {free:.1f} MiB free in {self.folder}, below min_free_mib {self.config.min_free_mib}"
        index = next_episode_index(self.folder)
        path = self.folder / f"episode_{index:04d}.mcap"
        image_topic = next(iter(sorted(f"{t}/compressed" for t in self.config.image_topics)), None)
        episode = {"path": str(path), "episode_index": str(index), "task": self.config.task,
                   "start_time": now_iso(), "image_topic": image_topic or "", "recorder": recorder_name}
        try:
            writer = EpisodeWriter(path, self.config.compression, self.config.chunk_size_kib * 1024)
        except OSError as error:
            return self._refuse(path, error)
        try:
            writer.add_metadata("episode", episode)
        except OSError as error:
            writer.abandon()
            return self._refuse(path, error)
        self.episode, self.error = episode, ""
        self._stats = EpisodeStats(image_topic)
        self._writer_busy.set()
        self._queue.put(("start", writer))
        self._recording.set()
        return True, str(path)

    def _refuse(self, path: Path, error: OSError) -> tuple[bool, str]:
        path.unlink(missing_ok=True)
        self.report("start_failed", f"{path}: {error}")
        return False, f"cannot open {path}: {error.strerror or error}"

    def stop(self) -> dict[str, str] | None:
        """Close the episode (its stats figures); None when no episode is open (see `error` for why)."""
        if not self._recording.is_set():
            return None
        self._recording.clear()
        done, result = threading.Event(), {}
        self._queue.put(("stop", done, result))
        if not done.wait(STOP_TIMEOUT_S):
            self.report("stop_timeout", f"writer did not finish {self.episode['path']} in {STOP_TIMEOUT_S} s")
        return None if self.error else result

    def close(self) -> dict[str, str] | None:
        """Stop (closing an open episode) and end the writer thread."""
        figures = self.stop()
        self._queue.put(("exit",))
        self._writer_thread.join(timeout=STOP_TIMEOUT_S)
        return figures
