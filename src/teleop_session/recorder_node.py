"""ROS 2 node: records teleop episodes to MCAP, started and stopped through services.

    ~/start_episode (std_srvs/Trigger)  opens <output_dir>/episode_NNNN.mcap (the reply names it)
    ~/stop_episode  (std_srvs/Trigger)  closes it with its frame-drop and sync figures (MCAP metadata)
    task (string parameter)             label of the next episode, read at start

Subscription callbacks only hand serialized messages to the ROS-free core (episode_recorder.py),
whose writer thread compresses raw images (with this node's `_compress`) and writes, so a slow disk
drops (and counts) messages instead of stalling the executor.  SIGINT/SIGTERM close the open episode cleanly.
`output_dir` is checked and fixed at start-up, where unfinished episodes left in it are recovered
(episode_folder.py).  A full disk or an I/O error ends the episode (diagnostics: ERROR with the
reason, until the next episode starts); a free-space guard (`min_free_mib`) refuses to start an
episode, or stops one, before the disk fills.
"""
from __future__ import annotations

from typing import Any

import cv2
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from teleop_common.image_codec import decode_raw, encode_jpeg
from teleop_common.node_support import Diagnostics, ErrorReporter, declare_config, run_node
from teleop_common.stats import EventCounter
from teleop_common.text import one_line, printable
from teleop_session.episode_folder import checked_folder, recover_unfinished
from teleop_session.episode_recorder import ERROR, EpisodeRecorder
from teleop_session.episodes import message_class
from teleop_session.recorder_config import RecorderConfig

COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
RESTART_KEYS = ("output_dir", "image_topics", "topics", "max_queue", "discovery_period_s", "recover_on_start")
HISTORY_DEPTH = 100     # a recorder keeps bursts (SENSOR_QOS' depth 1 would overwrite frames not yet taken)
# Best effort matches every image publisher; reliable would not match best-effort cameras.
IMAGE_QOS = QoSProfile(depth=HISTORY_DEPTH, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)


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
        folder = checked_folder(self.config.output_dir)
        if self.config.recover_on_start:
            self._recover(folder)
        self.recorder = EpisodeRecorder(self.config, folder, self.counters, self.report, self._compress)
        self._pending = set(self.config.topics)     # topics not yet seen with a publisher
        self._image_transport: dict[str, str] = {}  # camera base topic -> transport being recorded
        self.create_service(Trigger, "~/start_episode", self._on_start)
        self.create_service(Trigger, "~/stop_episode", self._on_stop)
        self._subscribe_images()
        self.create_timer(self.config.discovery_period_s, self._discover)
        self.diagnostics = Diagnostics(self, "episode recorder", self._figures, self.counters,
                                       fault=lambda: self.recorder.error if self.recorder.state == ERROR else "")
        self._discover()

    # ------------------------------------------------------------------ configuration, discovery
    def _recover(self, folder) -> None:  # noqa: ANN001 - a Path
        image_topic = next(iter(sorted(f"{t}/compressed" for t in self.config.image_topics)), None)
        for item in recover_unfinished(folder, image_topic):
            if item.messages >= 0:
                self.get_logger().warning(f"recovered unfinished episode {printable(str(item.path))}: {item.messages} "
                                          f"messages ({one_line(item.detail)}); the original is kept as "
                                          f"{printable(item.path.name)}.unfinished")
            else:
                self.get_logger().error(f"unfinished episode {printable(str(item.path))} not recoverable: "
                                        f"{one_line(item.detail)}")

    def _on_config(self, config: RecorderConfig) -> None:
        """task, jpeg_quality, compression, chunk size, guard: from the next episode; the rest: at restart."""
        stale = [key for key in RESTART_KEYS if getattr(config, key) != getattr(self.config, key)]
        if stale:
            self.get_logger().warning(f"{', '.join(stale)} are read at start-up; restart the recorder to apply them")
        self.config = self.recorder.config = config

    def _figures(self) -> dict[str, Any]:
        return {"recording": self.recorder.recording, "state": self.recorder.state, "error": self.recorder.error,
                "episode": self.recorder.episode.get("path", ""), "output_dir": str(self.recorder.folder),
                "free_mib": self.recorder.free_mib(), "queue": self.recorder.queued(), "topics": len(self.recorder.types)}

    def _subscribe_images(self) -> None:
        """Both transports of each camera; the first one that delivers is recorded (image_transport-like)."""
        for base in self.config.image_topics:
            stored = f"{base}/compressed"
            self.recorder.types[stored] = COMPRESSED_TYPE
            self.create_subscription(CompressedImage, stored,
                                     lambda data, b=base: self._on_image(b, "compressed", data), IMAGE_QOS, raw=True)
            self.create_subscription(Image, base, lambda msg, b=base: self._on_image(b, "raw", msg), IMAGE_QOS)

    def _on_image(self, base: str, transport: str, payload: bytes | Image) -> None:
        chosen = self._image_transport.setdefault(base, transport)
        if chosen == transport:
            self.recorder.enqueue(f"{base}/compressed", payload)

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
                                     lambda data, t=topic: self.recorder.enqueue(t, data), qos, raw=True)
            self.recorder.types[topic] = types[0]
            self._pending.discard(topic)
            self.get_logger().info(f"recording {printable(topic)} ({printable(types[0])})")

    def _compress(self, msg: Image) -> bytes:
        """A raw image as the serialized CompressedImage (JPEG) that is recorded (writer thread)."""
        image = decode_raw(msg.encoding, msg.width, msg.height, msg.step, msg.data)
        out = CompressedImage(header=msg.header, format=f"{msg.encoding}; jpeg compressed bgr8")
        out.data = encode_jpeg(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), self.config.jpeg_quality)
        return serialize_message(out)

    # ------------------------------------------------------------------ services
    def _on_start(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self.recorder.start(self.get_fully_qualified_name())
        if response.success:
            self.get_logger().info(f"episode {self.recorder.episode['episode_index']} started: "
                                   f"{one_line(response.message)} (task {printable(self.config.task)})")
        return response

    def _on_stop(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        figures = self.recorder.stop()
        if figures is None:
            response.success = False
            response.message = f"not recording: {self.recorder.error}" if self.recorder.error else "not recording"
            return response
        summary = ", ".join(f"{k}={figures[k]}" for k in ("duration_s", "image.frames", "image.dropped_frames")
                            if k in figures)
        self.get_logger().info(f"episode stopped: {printable(self.recorder.episode['path'])} ({summary})")
        response.success, response.message = True, f"{self.recorder.episode['path']} ({summary})"
        return response

    def close(self) -> None:
        if self.recorder.close() is not None:
            self.get_logger().info(f"episode closed on shutdown: {printable(self.recorder.episode['path'])}")


def main(args: list[str] | None = None) -> None:
    run_node(EpisodeRecorderNode, args)
