"""Configuration of episode_recorder_node (its section of config/session.yaml)."""
from __future__ import annotations

from dataclasses import dataclass

from teleop_common.config import ConfigError, Validated, bounded, choice

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

    output_dir: str = "out/episodes"                  # fixed at start-up: a writable folder, no '..', not /proc
    task: str = "teleoperation"
    # Camera base topics: JPEG `<topic>/compressed` is recorded as is; raw `<topic>` is compressed
    # by the recorder and stored as `<topic>/compressed` (one image channel per camera).
    image_topics: tuple[str, ...] = DEFAULT_IMAGE_TOPICS
    topics: tuple[str, ...] = DEFAULT_TOPICS          # recorded as published (CDR), any type
    jpeg_quality: int = bounded(90, 1, 100)
    compression: str = choice("zstd", "lz4", "none")  # MCAP chunk compression
    chunk_size_kib: int = bounded(1024, 16, 16384)    # a killed recorder loses at most the open chunk
    chunk_max_s: float = bounded(1.0, 0.1, 10.0)      # ... which is written once it is this old
    min_free_mib: int = bounded(256, 0, 1 << 20)      # no episode starts, and one stops, below this free space (0: off)
    recover_on_start: bool = True                     # rewrite unfinished episodes of output_dir at start-up
    max_queue: int = bounded(256, 1, 100000)          # messages waiting for the writer; more are dropped (counted)
    discovery_period_s: float = bounded(0.5, 0.05, 60.0)

    def check(self) -> None:
        """The guard keeps room for the open chunk and the summary that closing an episode writes."""
        if 0 < self.min_free_mib * 1024 < 2 * self.chunk_size_kib:
            raise ConfigError("min_free_mib", self.min_free_mib,
                              f"0 (off) or at least twice chunk_size_kib ({-(-2 * self.chunk_size_kib // 1024)} MiB)")
