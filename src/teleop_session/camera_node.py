"""ROS 2 node: a video file, image folder or V4L2 webcam published as a camera.

Publishes `image` (raw) or `<image>/compressed` (JPEG, image_transport's naming) and `camera_info`
with the same header.  A file plays at its own rate (or `fps`) on an absolute schedule, so a slow
frame delays one publication instead of shifting every later one; at the end the node exits with
status 0 unless `loop` is set.  A source that cannot be opened stops the node at start-up (status 2).
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

from teleop_common.frame_sources import BadFrameError, CameraSourceError, open_source
from teleop_common.image_codec import BadImageError, encode_jpeg
from teleop_common.node_support import SENSOR_QOS, STATE_QOS, Diagnostics, ErrorReporter, declare_config, run_nodes
from teleop_common.stats import EventCounter, RollingStats
from teleop_session.camera_config import CameraSourceConfig
from teleop_session.camera_info import Calibration, load_calibration

DEFAULT_FILE_FPS = 30.0        # image folders and files that do not state a rate
LINGER_S = 0.5                 # let subscribers take the last frame before the process exits
SUBSCRIBER_POLL_S = 0.05


class CameraSourceNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("camera_source", **kwargs)
        self.config = declare_config(self, CameraSourceConfig)
        c = self.config
        self.source = open_source(c.source, c.backend, c.width, c.height, c.fps)
        self.calibration = load_calibration(self.config.calibration_file) if self.config.calibration_file else None
        self.rate_hz = self.config.fps or self.source.fps or DEFAULT_FILE_FPS
        self.counters = EventCounter()
        self.report = ErrorReporter(self, self.counters)
        self.published = RollingStats()
        self.failed = False
        self._stop = threading.Event()

        if self.config.transport == "raw":
            self.image_pub = self.create_publisher(Image, "image", SENSOR_QOS)
        else:
            self.image_pub = self.create_publisher(
                CompressedImage, self.resolve_topic_name("image") + "/compressed", SENSOR_QOS)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", STATE_QOS)
        self.diagnostics = Diagnostics(self, "camera source", self._figures, self.counters)
        self.get_logger().info(
            f"{self.config.source}: {self.rate_hz:.2f} fps, {self.config.transport} on {self.image_pub.topic_name}")
        self._worker = threading.Thread(target=self._run, name="camera_source", daemon=True)
        self._worker.start()

    def _figures(self) -> dict[str, Any]:
        return {"fps": self.published.rate_hz(), "source": self.config.source}

    def _calibration(self, frame: np.ndarray) -> Calibration:
        height, width = frame.shape[:2]
        if self.calibration is None or (self.calibration.width, self.calibration.height) != (width, height):
            base = self.calibration or Calibration.from_fov(width, height, self.config.fov_deg)
            self.calibration = base.scaled_to(width, height)
        return self.calibration

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
        self.info_pub.publish(self._calibration(frame).to_msg(header))
        self.counters["frames"] += 1
        self.published.add(0.0, time.monotonic())

    def _next_frame(self) -> np.ndarray | None:
        """The next frame, rewinding a looping finite source; None at the end."""
        frame = self.source.read()
        if frame is None and self.config.loop:
            self.source.rewind()
            frame = self.source.read()
        return frame

    def _run(self) -> None:
        while self.image_pub.get_subscription_count() < self.config.wait_for_subscribers:
            if self._stop.wait(SUBSCRIBER_POLL_S):
                return
        if self._stop.wait(self.config.start_delay_s):
            return
        period = 1.0 / self.rate_hz
        deadline = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.config.max_frames and self.counters["frames"] >= self.config.max_frames:
                    break
                try:
                    frame = self._next_frame()
                except BadFrameError as error:
                    self.report("bad_frame", str(error))
                    if self._stop.wait(period):         # its slot passes: a folder of bad files does not spin
                        return
                    continue
                if frame is None:
                    break
                if not self.source.paced:
                    if self._stop.wait(max(0.0, deadline - time.monotonic())):
                        return
                    deadline += period
                    if time.monotonic() - deadline > period:     # fell behind: count it, do not burst
                        self.counters["late_frames"] += 1
                        deadline = time.monotonic()
                try:
                    self._publish(frame)
                except BadImageError as error:       # JPEG encoding failed
                    self.report("bad_frame", str(error))
            self.get_logger().info(f"end of {self.config.source} after {self.counters['frames']} frames")
        except CameraSourceError as error:
            self.get_logger().error(str(error))
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
        self.source.close()


def main(args: list[str] | None = None) -> None:
    if run_nodes([CameraSourceNode], args):
        raise SystemExit(1)
