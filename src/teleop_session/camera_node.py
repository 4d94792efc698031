"""ROS 2 node: a video file, image folder or V4L2 webcam published as a camera.

Publishes `image` (raw) or `<image>/compressed` (JPEG, image_transport's naming) and `camera_info`
with the same header.  What goes out when is camera_player's (no ROS): a file plays at its own rate
on an absolute schedule; at the end the node exits with status 0 unless `loop` is set.  A source that
cannot be opened stops the node at start-up (status 2).
"""
from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from teleop_common.frame_sources import CameraSourceError
from teleop_common.image_codec import encode_jpeg
from teleop_common.node_support import SENSOR_QOS, STATE_QOS, Diagnostics, ErrorReporter, declare_config, run_nodes
from teleop_common.stats import EventCounter, RollingStats
from teleop_common.text import one_line, printable
from teleop_session.camera_config import CameraSourceConfig
from teleop_session.camera_player import CameraPlayer

LINGER_S = 0.5                 # let subscribers take the last frame before the process exits
SUBSCRIBER_POLL_S = 0.05


class CameraSourceNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("camera_source", **kwargs)
        self.config = declare_config(self, CameraSourceConfig)
        self.counters = EventCounter()
        self.report = ErrorReporter(self, self.counters)
        self._stop = threading.Event()
        self.player = CameraPlayer(self.config, self.counters, self.report, self._stop)
        self.published = RollingStats()
        self.failed = False

        if self.config.transport == "raw":
            self.image_pub = self.create_publisher(Image, "image", SENSOR_QOS)
        else:
            self.image_pub = self.create_publisher(
                CompressedImage, self.resolve_topic_name("image") + "/compressed", SENSOR_QOS)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", STATE_QOS)
        self.diagnostics = Diagnostics(self, "camera source", self._figures, self.counters)
        self.get_logger().info(
            f"{printable(self.config.source)}: {self.player.rate_hz:.2f} fps, {self.config.transport} on "
            f"{printable(self.image_pub.topic_name)}")
        self._worker = threading.Thread(target=self._run, name="camera_source", daemon=True)
        self._worker.start()

    def _figures(self) -> dict[str, Any]:
        return {"fps": self.published.rate_hz(), "source": self.config.source}

    def _publish(self, frame: np.ndarray) -> None:
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.config.frame_id)
        if self.config.transport == "raw":
            height, width = frame.shape[:2]
            msg = Image(header=header, height=height, width=width, encoding="bgr8", step=width * 3)
            msg.data = frame.tobytes()
        else:
            msg = CompressedImage(header=header, format="bgr8; jpeg compressed bgr8")
            msg.data = encode_jpeg(frame, self.config.jpeg_quality)
        self.image_pub.publish(msg)
        self.info_pub.publish(self.player.calibration_for(frame).to_msg(header))
        self.published.add(0.0, time.monotonic())

    def _run(self) -> None:
        while self.image_pub.get_subscription_count() < self.config.wait_for_subscribers:
            if self._stop.wait(SUBSCRIBER_POLL_S):
                return
        try:
            if not self.player.play(self._publish):
                return
            self.get_logger().info(f"end of {printable(self.config.source)} after {self.counters['frames']} frames")
        except CameraSourceError as error:
            self.get_logger().error(one_line(str(error)))
            self.failed = True
        except Exception:  # noqa: BLE001 - a publish racing SIGINT/SIGTERM fails once the context is gone
            if self.context.ok():
                raise
            return
        self._stop.wait(LINGER_S)
        rclpy.try_shutdown(context=self.context)

    def close(self) -> None:
        self._stop.set()
        if self._worker is not threading.current_thread():
            self._worker.join(timeout=5.0)
        self.player.close()


def main(args: list[str] | None = None) -> None:
    if run_nodes([CameraSourceNode], args):
        raise SystemExit(1)
