"""ROS 2 node: camera images in, whole-body 3D poses out (thin wrapper around the core estimator).

Callbacks never block: they only keep the latest image (teleop_common.frame_slot); one worker
thread runs the estimator on it, so a slow frame drops stale ones (counted) instead of building a
backlog, and by default (`frame_policy: fresh`) skips one that already waited too long.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.node import Node
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray
from whole_body_teleop.msg import WholeBodyPoseArray

from teleop_common.camera import MIN_INFO_PX, CameraError, CameraIntrinsics
from teleop_common.frame_slot import FrameSlot
from teleop_common.image_codec import BadImageError, decode_compressed, decode_raw
from teleop_common.node_support import (SENSOR_QOS, STATE_QOS, Diagnostics, ErrorReporter, StageTimes, declare_config,
                                        run_node)
from teleop_common.pose_msgs import frame_to_msg, stamp_to_ns
from teleop_common.stats import EventCounter, RollingStats
from teleop_common.text import printable
from teleop_common.timing import StageClock, dds_stages
from whole_body_pose.config import PoseNodeConfig
from whole_body_pose.draw import draw_poses
from whole_body_pose.markers import frame_to_markers
from whole_body_pose.pipeline import InvalidImageError, build_estimator


class WholeBodyPoseNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("whole_body_pose", **kwargs)
        self.config = declare_config(self, PoseNodeConfig)
        self.estimator = build_estimator(self.config)
        self.counters = EventCounter()
        self.report = ErrorReporter(self, self.counters)
        self.latency = RollingStats()
        self.camera: CameraIntrinsics | None = None
        self._frames: FrameSlot[tuple[Image | CompressedImage, MessageInfo | None]] = FrameSlot(self.config.frame_policy)

        self.create_subscription(Image, "image", self._on_image, SENSOR_QOS)
        self.create_subscription(CompressedImage, "image/compressed", self._on_image, SENSOR_QOS)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, STATE_QOS)
        self.pose_pub = self.create_publisher(WholeBodyPoseArray, "poses", STATE_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "pose_markers", STATE_QOS)
        self.annotated_pub = (self.create_publisher(Image, "image_annotated", SENSOR_QOS)
                              if self.config.publish_annotated_image else None)
        self.stage_times = StageTimes(self)
        self.diagnostics = Diagnostics(self, "whole-body pose", self._figures, self.counters)
        self._worker = threading.Thread(target=self._work, name="pose_worker", daemon=True)
        self._worker.start()
        image_topic = self.resolve_topic_name("image")
        self.get_logger().info(f"estimator {printable(self.config.estimator)} on {printable(self.config.runtime)} "
                               f"ready; waiting for images on {printable(image_topic)} (or /compressed)")

    def _figures(self) -> dict[str, Any]:
        return {"fps": self.latency.rate_hz(), "latency_ms_p50": self.latency.percentile(50),
                "latency_ms_p99": self.latency.percentile(99), "estimator": self.config.estimator, "runtime": self.config.runtime,
                "stale_frame_waits": self._frames.stale_waits,
                **self.stage_times.stats.figures(),
                **dict(getattr(self.estimator, "stats", {}))}  # e.g. phantom_bodies rejected

    def _on_camera_info(self, msg: CameraInfo) -> None:
        """A CameraInfo that cannot be a real camera (focal lengths giving a field of view outside
        10-170 degrees, or smaller than MIN_INFO_PX, which rescaling would blow up) is refused; the
        last good one stays."""
        try:
            camera = CameraIntrinsics.from_k(msg.k, msg.width, msg.height).checked()
            if min(camera.width, camera.height) < MIN_INFO_PX:
                raise CameraError(f"{camera.width}x{camera.height} is smaller than {MIN_INFO_PX} px a side")
            self.camera = camera
        except CameraError as error:
            self.report("bad_camera_info", f"ignoring CameraInfo: {error}")

    def _on_image(self, msg: Image | CompressedImage, info: MessageInfo) -> None:
        if self._frames.put((msg, info)):
            self.counters["dropped_frames"] += 1

    def _work(self) -> None:
        while (taken := self._frames.take()) is not None:
            (msg, info), received = taken
            try:
                self._process(msg, received, info)
            except BadImageError as error:
                self.report(f"bad_image.{error.kind}", str(error))
            except InvalidImageError as error:  # decoded, but not an image the estimator takes
                self.report("bad_image.bad_size", str(error))
            except Exception as error:  # noqa: BLE001 - the node keeps serving; the error is counted
                self.report("estimator", repr(error))

    def _process(self, msg: Image | CompressedImage, received: float, info: MessageInfo | None) -> None:
        stamp_ns = stamp_to_ns(msg.header.stamp)
        clock = StageClock()
        clock.stages.update(dds_stages(stamp_ns, info, time.time_ns()))
        if isinstance(msg, Image):
            image = decode_raw(msg.encoding, msg.width, msg.height, msg.step, msg.data)
        else:
            image = decode_compressed(msg.data)
        clock.lap("decode")
        frame = self.estimator.process(image, stamp_ns, msg.header.frame_id, self.camera)
        clock.stages.update(frame.stage_ms)
        clock.restart()
        frame.latency_ms = (time.monotonic() - received) * 1e3
        self.pose_pub.publish(frame_to_msg(frame))
        clock.lap("publish")
        self.stage_times.publish(msg.header.stamp, clock.stages)
        self.counters["frames"] += 1
        self.latency.add(frame.latency_ms, time.monotonic())
        # Markers cost several ms of the worker's time per person (one Point per keypoint): only for a listener.
        if self.config.publish_markers and self.marker_pub.get_subscription_count():
            self.marker_pub.publish(frame_to_markers(frame, msg.header))
        if self.annotated_pub is not None and self.annotated_pub.get_subscription_count():
            annotated = draw_poses(image, frame)
            out = Image(header=msg.header, height=annotated.shape[0], width=annotated.shape[1],
                        encoding="rgb8", step=annotated.shape[1] * 3)
            out.data = annotated.tobytes()
            self.annotated_pub.publish(out)

    def close(self) -> None:
        self._frames.close()
        self._worker.join(timeout=5.0)


def main(args: list[str] | None = None) -> None:
    run_node(WholeBodyPoseNode, args)
