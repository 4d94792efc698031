"""Configuration of episode_recorder_node (its section of config/session.yaml)."""
from __future__ import annotations

from dataclasses import dataclass

from teleop_common.config import Validated, bounded, choice

# Topics of the teleop graph (camera, pose node, retargeting node) recorded by default.
DEFAULT_IMAGE_TOPICS = ("/camera/image_raw",)
DEFAULT_TOPICS = ("/camera/camera_info", "/poses", "/teleop_status", "/joint_states")


@dataclass
class RecorderConfig(Validated):
    """What is recorded and how; `task` labels the next episode and may be changed between episodes.

    Episodes start and stop through the `~/start_episode` and `~/stop_episode` services
    (std_srvs/Trigger).  The task label is this node's `task` parameter, read when an episode
    starts: `ros2 param set /episode_recorder task "hand over the cube"`.  Topics are read at
    start-up; a topic is subscribed as soon as it appears on the graph, with its publisher's type.
    """

    output_dir: str = "out/episodes"
    task: str = "teleoperation"
    # Camera base topics: JPEG `<topic>/compressed` is recorded as is; raw `<topic>` is compressed
    # by the recorder and stored as `<topic>/compressed` (one image channel per camera).
    image_topics: tuple[str, ...] = DEFAULT_IMAGE_TOPICS
    topics: tuple[str, ...] = DEFAULT_TOPICS          # recorded as published (CDR), any type
    jpeg_quality: int = bounded(90, 1, 100)
    compression: str = choice("zstd", "lz4", "none")  # MCAP chunk compression
    chunk_size_kib: int = bounded(1024, 16, 1 << 20)  # a killed recorder loses at most the open chunk
    max_queue: int = bounded(256, 1, 100000)          # messages waiting for the writer; more are dropped (counted)
    discovery_period_s: float = bounded(0.5, 0.05, 60.0)
