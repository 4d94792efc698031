"""Per-episode frame-drop and synchronisation figures, written into the episode as MCAP metadata.

Computed from what the recorder saw (receive time and header stamp of every message), so the same
figures come out live and when a killed recording is recovered.  Every pose, status and command of
the teleop graph carries the stamp of the camera image it was computed from: a stamp that matches a
recorded image ties the message to its frame, and receive time minus stamp is the latency from the
camera to that message.
"""
from __future__ import annotations

import struct
from collections import Counter, defaultdict

import numpy as np

_CDR_LE = b"\x00\x01"
_HEADER_FIRST = ("std_msgs/Header header", "std_msgs/msg/Header header")


def starts_with_header(schema_text: str) -> bool:
    """True when a ros2msg schema's first field is a std_msgs/Header (its stamp leads the CDR data)."""
    for line in schema_text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return " ".join(line.split()[:2]) in _HEADER_FIRST
    return False


def header_stamp_ns(data: bytes) -> int | None:
    """Stamp of a CDR message whose first field is std_msgs/Header (sec, nanosec after the 4-byte encapsulation)."""
    if len(data) < 12:
        return None
    endian = "<" if data[:2] == _CDR_LE else ">"
    sec, nanosec = struct.unpack_from(endian + "iI", data, 4)
    return sec * 1_000_000_000 + nanosec


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class EpisodeStats:
    """Accumulates (topic, receive time, stamp) of an episode and reduces them to figures."""

    def __init__(self, image_topic: str | None) -> None:
        self.image_topic = image_topic
        self.log_ns: dict[str, list[int]] = defaultdict(list)
        self.stamps: dict[str, list[int]] = defaultdict(list)
        self.recorder_dropped: Counter[str] = Counter()

    def add(self, topic: str, log_ns: int, stamp_ns: int | None) -> None:
        self.log_ns[topic].append(log_ns)
        if stamp_ns is not None:
            self.stamps[topic].append(stamp_ns)

    def drop(self, topic: str) -> None:
        """A message that reached the recorder but could not be written (queue full, bad image)."""
        self.recorder_dropped[topic] += 1

    def _image_figures(self) -> dict[str, float]:
        stamps = np.sort(np.asarray(self.stamps.get(self.image_topic, []), np.int64))
        figures: dict[str, float] = {"image.frames": float(stamps.size)}
        if stamps.size < 3:
            return figures
        gaps = np.diff(stamps) / 1e9
        period = float(np.median(gaps))
        missing = np.maximum(np.rint(gaps / period) - 1, 0) if period > 0 else np.zeros_like(gaps)
        figures.update({"image.fps": 1.0 / period if period > 0 else 0.0,
                        "image.dropped_frames": float(missing.sum()),
                        "image.max_gap_ms": float(gaps.max() * 1e3)})
        return figures

    def _sync_figures(self) -> dict[str, float]:
        image_stamps = set(self.stamps.get(self.image_topic, []))
        figures: dict[str, float] = {}
        for topic in sorted(self.stamps):
            if topic == self.image_topic or not image_stamps:
                continue
            pairs = [(log, stamp) for log, stamp in zip(self.log_ns[topic], self.stamps[topic]) if stamp in image_stamps]
            latencies = [(log - stamp) / 1e6 for log, stamp in pairs]
            figures[f"sync.{topic}.matched"] = len(pairs) / len(self.stamps[topic])
            figures[f"sync.{topic}.latency_ms_p50"] = _percentile(latencies, 50)
            figures[f"sync.{topic}.latency_ms_p99"] = _percentile(latencies, 99)
        return figures

    def figures(self) -> dict[str, str]:
        """MCAP metadata values are strings: numbers are written with fixed precision."""
        first = min((v[0] for v in self.log_ns.values() if v), default=0)
        last = max((v[-1] for v in self.log_ns.values() if v), default=0)
        duration = (last - first) / 1e9
        figures: dict[str, float] = {"duration_s": duration}
        for topic, times in sorted(self.log_ns.items()):
            figures[f"messages.{topic}"] = float(len(times))
            figures[f"rate_hz.{topic}"] = (len(times) - 1) / duration if duration > 0 and len(times) > 1 else 0.0
        for topic, count in sorted(self.recorder_dropped.items()):
            figures[f"recorder_dropped.{topic}"] = float(count)
        if self.image_topic is not None:
            figures.update(self._image_figures())
            figures.update(self._sync_figures())
        return {key: (str(int(value)) if float(value).is_integer() else f"{value:.4f}") for key, value in figures.items()}
