"""ROS 2 node: records teleop episodes to MCAP, started and stopped through services.

    ~/start_episode (std_srvs/Trigger)  opens <output_dir>/episode_NNNN.mcap (the reply names it)
    ~/stop_episode  (std_srvs/Trigger)  closes it with its frame-drop and sync figures (MCAP metadata)
    task (string parameter)             label of the next episode, read at start

Subscription callbacks only queue serialized messages; one writer thread compresses raw images
and writes, so a slow disk drops (and counts) messages instead of stalling the executor.
SIGINT/SIGTERM close the open episode cleanly.
"""
from __future__ import annotations

import queue
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from teleop_common.image_codec import BadImageError, decode_raw, encode_jpeg
from teleop_common.node_support import Diagnostics, ErrorReporter, declare_config, run_node
from teleop_common.stats import EventCounter
from teleop_session.episode_stats import EpisodeStats, header_stamp_ns
from teleop_session.episodes import message_class
from teleop_session.mcap_writer import STATS_METADATA, EpisodeWriter
from teleop_session.recorder_config import RecorderConfig

_EPISODE_FILE = re.compile(r"^episode_(\d+)\.mcap$")
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
STOP_TIMEOUT_S = 30.0
RESTART_KEYS = ("image_topics", "topics", "max_queue", "discovery_period_s")
HISTORY_DEPTH = 100     # a recorder keeps bursts (SENSOR_QOS' depth 1 would overwrite frames not yet taken)
# Best effort matches every image publisher; reliable would not match best-effort cameras.
IMAGE_QOS = QoSProfile(depth=HISTORY_DEPTH, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)


def next_episode_index(folder: Path) -> int:
    indices = [int(m.group(1)) for p in folder.glob("episode_*.mcap") if (m := _EPISODE_FILE.match(p.name))]
    return max(indices, default=-1) + 1


def adapted_qos(publisher_qos: list[QoSProfile]) -> QoSProfile:
    """Reliable / transient-local only when every publisher offers it (what `ros2 bag record` does)."""
    reliable = all(q.reliability == ReliabilityPolicy.RELIABLE for q in publisher_qos)
    latched = all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in publisher_qos)
    return QoSProfile(depth=HISTORY_DEPTH,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


class EpisodeRecorderNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("episode_recorder", **kwargs)
        self.config = declare_config(self, RecorderConfig, on_change=self._on_config)
        self.counters = EventCounter()
        self.report = ErrorReporter(self, self.counters)
        self._queue: queue.Queue[tuple] = queue.Queue(maxsize=self.config.max_queue)
        self._types: dict[str, str] = {}            # recorded topic -> ROS type
        self._pending = set(self.config.topics)     # topics not yet seen with a publisher
        self._image_transport: dict[str, str] = {}  # camera base topic -> transport being recorded
        self._recording = threading.Event()
        self._episode: dict[str, str] = {}
        self._stats: EpisodeStats | None = None
        self._writer_thread = threading.Thread(target=self._write_loop, name="episode_writer", daemon=True)
        self._writer_thread.start()
        self.create_service(Trigger, "~/start_episode", self._on_start)
        self.create_service(Trigger, "~/stop_episode", self._on_stop)
        self._subscribe_images()
        self.create_timer(self.config.discovery_period_s, self._discover)
        self.diagnostics = Diagnostics(self, "episode recorder", self._figures, self.counters)
        self._discover()

    # ------------------------------------------------------------------ configuration, discovery
    def _on_config(self, config: RecorderConfig) -> None:
        """task, output_dir, jpeg_quality, compression, chunk size: from the next episode; the rest: at restart."""
        stale = [key for key in RESTART_KEYS if getattr(config, key) != getattr(self.config, key)]
        if stale:
            self.get_logger().warning(f"{', '.join(stale)} are read at start-up; restart the recorder to apply them")
        self.config = config

    def _figures(self) -> dict[str, Any]:
        return {"recording": self._recording.is_set(), "episode": self._episode.get("path", ""),
                "queue": self._queue.qsize(), "topics": len(self._types)}

    def _subscribe_images(self) -> None:
        """Both transports of each camera; the first one that delivers is recorded (image_transport-like)."""
        for base in self.config.image_topics:
            stored = f"{base}/compressed"
            self._types[stored] = COMPRESSED_TYPE
            self.create_subscription(CompressedImage, stored,
                                     lambda data, b=base: self._on_image(b, "compressed", data), IMAGE_QOS, raw=True)
            self.create_subscription(Image, base, lambda msg, b=base: self._on_image(b, "raw", msg), IMAGE_QOS)

    def _on_image(self, base: str, transport: str, payload: bytes | Image) -> None:
        chosen = self._image_transport.setdefault(base, transport)
        if chosen == transport:
            self._enqueue(f"{base}/compressed", payload)

    def _discover(self) -> None:
        if not self._pending:
            return
        graph = dict(self.get_topic_names_and_types())
        for topic in sorted(self._pending):
            types = graph.get(topic)
            if not types or not self.count_publishers(topic):   # its publishers' QoS decides ours
                continue
            qos = adapted_qos([info.qos_profile for info in self.get_publishers_info_by_topic(topic)])
            self.create_subscription(message_class(types[0]), topic,
                                     lambda data, t=topic: self._enqueue(t, data), qos, raw=True)
            self._types[topic] = types[0]
            self._pending.discard(topic)
            self.get_logger().info(f"recording {topic} ({types[0]})")

    # ------------------------------------------------------------------ message path
    def _enqueue(self, topic: str, payload: bytes | Image) -> None:
        if not self._recording.is_set():
            return
        try:
            self._queue.put_nowait(("message", topic, payload, time.time_ns()))
        except queue.Full:
            self.counters["dropped.queue_full"] += 1
            if self._stats is not None:
                self._stats.drop(topic)

    def _compress(self, msg: Image) -> bytes:
        image = decode_raw(msg.encoding, msg.width, msg.height, msg.step, msg.data)
        out = CompressedImage(header=msg.header, format=f"{msg.encoding}; jpeg compressed bgr8")
        out.data = encode_jpeg(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), self.config.jpeg_quality)
        return serialize_message(out)

    def _write_loop(self) -> None:
        writer: EpisodeWriter | None = None
        while True:
            item = self._queue.get()
            kind = item[0]
            if kind == "message" and writer is not None:
                _, topic, payload, log_ns = item
                try:
                    data = self._compress(payload) if isinstance(payload, Image) else payload
                except BadImageError as error:
                    self.report(f"bad_image.{error.kind}", str(error))
                    self._stats.drop(topic)
                    continue
                writer.add_topic(topic, self._types[topic])
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
        writer.add_metadata("episode_end", {"stop_time": _now_iso(), "messages": str(sum(writer.counts.values()))})
        writer.close()
        return figures

    # ------------------------------------------------------------------ services
    def _on_start(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self._recording.is_set():
            response.success, response.message = False, f"already recording {self._episode['path']}"
            return response
        folder = Path(self.config.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        index = next_episode_index(folder)
        path = folder / f"episode_{index:04d}.mcap"
        writer = EpisodeWriter(path, self.config.compression, self.config.chunk_size_kib * 1024)
        image_topic = next(iter(sorted(f"{t}/compressed" for t in self.config.image_topics)), None)
        self._episode = {"path": str(path), "episode_index": str(index), "task": self.config.task,
                         "start_time": _now_iso(), "image_topic": image_topic or "",
                         "recorder": self.get_fully_qualified_name()}
        writer.add_metadata("episode", self._episode)
        self._stats = EpisodeStats(image_topic)
        self._queue.put(("start", writer))
        self._recording.set()
        self.get_logger().info(f"episode {index} started: {path} (task '{self.config.task}')")
        response.success, response.message = True, str(path)
        return response

    def _stop_episode(self) -> dict[str, str] | None:
        if not self._recording.is_set():
            return None
        self._recording.clear()
        done, result = threading.Event(), {}
        self._queue.put(("stop", done, result))
        if not done.wait(STOP_TIMEOUT_S):
            self.report("stop_timeout", f"writer did not finish {self._episode['path']} in {STOP_TIMEOUT_S} s")
        return result

    def _on_stop(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        figures = self._stop_episode()
        if figures is None:
            response.success, response.message = False, "not recording"
            return response
        summary = ", ".join(f"{k}={figures[k]}" for k in ("duration_s", "image.frames", "image.dropped_frames")
                            if k in figures)
        self.get_logger().info(f"episode stopped: {self._episode['path']} ({summary})")
        response.success, response.message = True, f"{self._episode['path']} ({summary})"
        return response

    def close(self) -> None:
        figures = self._stop_episode()
        if figures is not None:
            self.get_logger().info(f"episode closed on shutdown: {self._episode['path']}")
        self._queue.put(("exit",))
        self._writer_thread.join(timeout=STOP_TIMEOUT_S)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def main(args: list[str] | None = None) -> None:
    run_node(EpisodeRecorderNode, args)
