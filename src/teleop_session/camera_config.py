"""Configuration of camera_source_node (what config/camera_source.yaml holds)."""
from __future__ import annotations

from dataclasses import dataclass

from teleop_common.config import Validated, bounded, choice


@dataclass
class CameraSourceConfig(Validated):
    """Where frames come from and how they are published.

    `transport` follows image_transport's naming: "raw" publishes sensor_msgs/Image on `image`,
    "compressed" publishes JPEG sensor_msgs/CompressedImage on `<image>/compressed` (the base name
    after remapping, as image_transport does).  Compressed is the default because Fast DDS' default
    transports do not deliver best-effort raw frames above ~0.5 MB (shared-memory segment size):
    0 of 120 720x528 frames arrived in a measurement here, 120 of 120 as JPEG.
    """

    source: str = ""                      # video file, image folder or /dev/videoN
    backend: str = choice("auto", "file", "folder", "v4l2")   # auto: from the form of `source`
    loop: bool = False                    # restart at the end of a file or folder instead of exiting
    fps: float = bounded(0.0, 0.0, 240.0)  # 0 = the file's own rate (folders: 30); V4L2: requested rate
    max_frames: int = bounded(0, 0)        # stop after this many frames (0 = no limit)
    wait_for_subscribers: int = bounded(0, 0, 100)    # hold the first frame until this many image subscribers match
    start_delay_s: float = bounded(0.0, 0.0, 600.0)   # then wait this long before the first frame
    frame_id: str = "camera_optical"       # header.frame_id of images and CameraInfo
    fov_deg: float = bounded(60.0, 1.0, 179.0)         # horizontal field of view when no calibration
    calibration_file: str = ""            # ROS camera calibration YAML (camera_calibration_parsers format)
    transport: str = choice("compressed", "raw")
    jpeg_quality: int = bounded(90, 1, 100)
    width: int = bounded(0, 0, 8192)       # V4L2 requested size (0 = driver default)
    height: int = bounded(0, 0, 8192)
