"""Reading recorded episodes: metadata, topics and messages of an MCAP episode file (no rclpy node)."""
from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcap.reader import make_reader
from rclpy.serialization import deserialize_message


class EpisodeError(ValueError):
    """A file that is not a readable episode (missing, truncated, no image channel...)."""


def message_class(type_name: str) -> type:
    """'pkg/msg/Type' -> the installed Python message class."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


@dataclass(frozen=True)
class EpisodeMessage:
    topic: str
    log_time_ns: int
    message: Any


class Episode:
    """One MCAP episode: `metadata` by record name, `topics` -> ROS type, messages in log-time order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise EpisodeError(f"{self.path}: no such episode file")
        with open(self.path, "rb") as stream:
            try:
                reader = make_reader(stream)
                summary = reader.get_summary()
                self.metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
            except Exception as error:  # noqa: BLE001 - the mcap reader raises several kinds on a bad file
                raise EpisodeError(f"{self.path}: not a complete MCAP file ({error}); "
                                   "run `python -m teleop_session.mcap_writer recover` on it") from None
        if summary is None:
            raise EpisodeError(f"{self.path}: MCAP file without summary; recover it first")
        self.topics = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
        counts = summary.statistics.channel_message_counts if summary.statistics else {}
        self.counts = {summary.channels[i].topic: n for i, n in counts.items()}

    @property
    def task(self) -> str:
        return self.metadata.get("episode", {}).get("task", "")

    def topics_of_type(self, type_name: str) -> list[str]:
        return sorted(t for t, kind in self.topics.items() if kind == type_name)

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[EpisodeMessage]:
        """Deserialize with the installed message classes, in log-time order."""
        wanted = set(self.topics if topics is None else topics)
        classes = {t: message_class(self.topics[t]) for t in wanted}
        with open(self.path, "rb") as stream:
            for _, channel, message in make_reader(stream).iter_messages(topics=sorted(wanted), log_time_order=True):
                yield EpisodeMessage(channel.topic, message.log_time,
                                     deserialize_message(message.data, classes[channel.topic]))
