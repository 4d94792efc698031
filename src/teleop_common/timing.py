"""Per-frame stage timing of the camera -> command chain (pure Python, no ROS).

Each node times the stages a frame goes through inside it with a StageClock; the durations
travel with the frame's stamp (the image's capture stamp, copied onto poses and statuses) on the
node's `~/timing` topic, and their rolling p50/p99 go to /diagnostics (StageStats).  Stages
between processes come from the DDS sample's own times: `encode` is image stamp -> camera
publication (capture stamp to source timestamp), `transport` is source timestamp -> reception.
"""
from __future__ import annotations

import time

from teleop_common.stats import RollingStats

# The chain in order; each node reports the stages it sees (pose node, then retargeting node).
POSE_STAGES = ("encode", "transport", "queue", "decode", "detect", "body", "hands", "face", "temporal", "publish")
RETARGET_STAGES = ("transport", "queue", "map", "ik", "check", "command")


class StageClock:
    """Durations (ms) of consecutive stages of one frame: `lap(name)` closes the stage running since
    the previous lap (or start) under `name`; a name lapped twice accumulates."""

    def __init__(self, start: float | None = None) -> None:
        self._last = time.perf_counter() if start is None else start
        self.stages: dict[str, float] = {}

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.add(name, (now - self._last) * 1e3)
        self._last = now
        return now

    def add(self, name: str, ms: float) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + ms

    def restart(self) -> None:
        """Start the next stage now (time since the last lap belongs to no stage)."""
        self._last = time.perf_counter()


def dds_stages(stamp_ns: int, message_info: dict | None, callback_ns: int) -> dict[str, float]:
    """encode (stamp -> publication), transport (publication -> reception) and queue (reception ->
    `callback_ns`) in ms, from a sample's MessageInfo; stages whose times are unknown are left out."""
    if not message_info:
        return {}
    source, received = message_info.get("source_timestamp", 0), message_info.get("received_timestamp", 0)
    stages = {}
    if source and stamp_ns:
        stages["encode"] = (source - stamp_ns) / 1e6
    if source and received:
        stages["transport"] = (received - source) / 1e6
    if received:
        stages["queue"] = (callback_ns - received) / 1e6
    return stages


class StageStats:
    """Rolling p50/p99 of every stage seen, for diagnostics: {"stage.<name>_ms_p50": ...}."""

    def __init__(self, window: int = 300) -> None:
        self._window = window
        self._stats: dict[str, RollingStats] = {}

    def add(self, stages: dict[str, float], time_s: float) -> None:
        for name, ms in stages.items():
            self._stats.setdefault(name, RollingStats(self._window)).add(ms, time_s)

    def figures(self) -> dict[str, float]:
        figures = {}
        for name, stats in self._stats.items():
            figures[f"stage.{name}_ms_p50"] = stats.percentile(50)
            figures[f"stage.{name}_ms_p99"] = stats.percentile(99)
        return figures
