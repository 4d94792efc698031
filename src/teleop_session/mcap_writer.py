"""Episode files: chunked MCAP in the ROS 2 profile (CDR messages, ros2msg schemas), no rclpy.

Readable by `ros2 bag` (MCAP storage) and Foxglove: every schema carries the full definition of its
type, so a reader that has never seen our messages can decode them.  Each finished chunk is flushed
and fsync'ed, and the writer closes the open chunk once it is `chunk_max_s` old, so a killed recorder
leaves on disk all but the last second or so; `recover` (also `python -m teleop_session.mcap_writer
recover IN OUT`, or `recover-dir FOLDER` for every unfinished episode of a folder) rewrites such a
file into a valid one.
"""
from __future__ import annotations

import argparse
import os
import struct
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcap.exceptions import McapError
from mcap.records import Channel, Header, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap.well_known import MessageEncoding, SchemaEncoding
from mcap.writer import CompressionType, Writer

from teleop_session.episode_stats import EpisodeStats, header_stamp_ns, starts_with_header
from teleop_session.ros2msg import full_definition

COMPRESSION = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}
LIBRARY = "whole_body_teleop episode_recorder"
STATS_METADATA = "episode_stats"


class EpisodeWriter:
    """Appends serialized (CDR) ROS 2 messages to one MCAP file; not thread-safe (one writer thread)."""

    def __init__(self, path: str | Path, compression: str = "zstd", chunk_size: int = 1 << 20) -> None:
        self.path = Path(path)
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed by close(); never overwrites an episode
        try:
            self._writer = Writer(self._file, chunk_size=chunk_size, compression=COMPRESSION[compression])
            self._writer.start(profile="ros2", library=LIBRARY)
            self._schemas: dict[str, int] = {}
            self._channels: dict[str, int] = {}
            self.stamped: dict[str, bool] = {}       # topic -> its messages start with a std_msgs/Header
            self.counts: Counter[str] = Counter()
            self._synced = -1
            self._chunk_opened: float | None = None  # monotonic time of the open chunk's first message
            self._sync()
        except BaseException:
            self.abandon()
            raise

    def _sync(self) -> None:
        """Flush and fsync whatever the MCAP writer emitted (a header, a finished chunk, metadata)."""
        position = self._file.tell()
        if position != self._synced:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._synced = position

    def add_topic(self, topic: str, type_name: str) -> None:
        """Register a topic of ROS type 'pkg/msg/Type' (idempotent)."""
        if topic in self._channels:
            return
        text = full_definition(type_name)
        if type_name not in self._schemas:
            self._schemas[type_name] = self._writer.register_schema(type_name, SchemaEncoding.ROS2, text.encode())
        self.stamped[topic] = starts_with_header(text)
        self._channels[topic] = self._writer.register_channel(topic, MessageEncoding.CDR, self._schemas[type_name])
        self._sync()

    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        """Append one CDR message of a registered topic."""
        self._writer.add_message(channel_id=self._channels[topic], log_time=log_time_ns, data=data,
                                 publish_time=log_time_ns if publish_time_ns is None else publish_time_ns,
                                 sequence=self.counts[topic])
        self.counts[topic] += 1
        if self._file.tell() != self._synced:   # the message filled the chunk: it is written
            self._chunk_opened = None
            self._sync()
        elif self._chunk_opened is None:
            self._chunk_opened = time.monotonic()

    def chunk_age_s(self) -> float:
        """How long the open chunk has held messages (0 when it holds none)."""
        return 0.0 if self._chunk_opened is None else time.monotonic() - self._chunk_opened

    def flush_chunk(self) -> None:
        """Write the open chunk now (bounds what a kill loses to its age)."""
        self._writer.flush()
        self._chunk_opened = None
        self._sync()

    def add_metadata(self, name: str, values: Mapping[str, str]) -> None:
        self._writer.add_metadata(name, {str(k): str(v) for k, v in values.items()})
        self._sync()

    def close(self) -> None:
        """Write the last chunk, the indexes and the summary; the file is then complete."""
        if self._file.closed:
            return
        try:
            self._writer.finish()
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Close the file as far as it was written (after a write error): what is on disk stays recoverable."""
        try:
            self._file.close()      # flushing the rest fails again on a full disk; the descriptor is closed anyway
        except OSError:
            pass


@dataclass
class Recovery:
    messages: int
    complete: bool            # the source already had its footer (nothing was lost)
    stopped_at: str           # why reading stopped ('' when complete)


def recover(source: str | Path, target: str | Path, image_topic: str | None = None) -> Recovery:
    """Copy every intact record of a (possibly truncated) MCAP file into a new, valid one.

    Episode statistics are recomputed from the recovered messages when the source lacks them.
    """
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    metadata: list[Metadata] = []
    messages = 0
    stopped_at, complete = "", False
    with open(source, "rb") as stream, open(target, "wb") as out:
        writer = Writer(out, compression=CompressionType.ZSTD)
        started = False
        ids: dict[int, int] = {}
        stats = EpisodeStats(image_topic)
        try:
            for record in StreamReader(stream, validate_crcs=True).records:
                if isinstance(record, Header):
                    writer.start(profile=record.profile, library=record.library)
                    started = True
                elif isinstance(record, Schema) and record.id not in schemas:
                    schemas[record.id] = record
                elif isinstance(record, Channel) and record.id not in channels:
                    channels[record.id] = record
                elif isinstance(record, Metadata):
                    metadata.append(record)
                elif isinstance(record, Message) and record.channel_id in channels:
                    channel = channels[record.channel_id]
                    if channel.id not in ids:
                        schema = schemas[channel.schema_id]
                        schema_id = writer.register_schema(schema.name, schema.encoding, schema.data)
                        ids[channel.id] = writer.register_channel(channel.topic, channel.message_encoding,
                                                                  schema_id, channel.metadata)
                    writer.add_message(ids[channel.id], record.log_time, record.data, record.publish_time,
                                       record.sequence)
                    stamped = starts_with_header(schemas[channel.schema_id].data.decode())
                    stats.add(channel.topic, record.log_time, header_stamp_ns(record.data) if stamped else None)
                    messages += 1
            complete = True
        except (McapError, struct.error, ValueError, EOFError) as error:
            stopped_at = f"{type(error).__name__}: {error}"
        if not started:
            raise McapError(f"{source}: no MCAP header (not an MCAP file)")
        for record in metadata:
            writer.add_metadata(record.name, record.metadata)
        if not any(record.name == STATS_METADATA for record in metadata):
            writer.add_metadata(STATS_METADATA, {**stats.figures(), "recovered": "true"})
        writer.finish()
    return Recovery(messages, complete, stopped_at)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recover the intact part of an interrupted MCAP episode.")
    sub = parser.add_subparsers(dest="command", required=True)
    command = sub.add_parser("recover", help="write the intact records of SOURCE into a valid TARGET")
    command.add_argument("source")
    command.add_argument("target")
    command.add_argument("--image-topic", help="image topic for the recomputed episode statistics")
    folder = sub.add_parser("recover-dir", help="recover every unfinished episode_NNNN.mcap of FOLDER in place "
                            "(the original is kept as episode_NNNN.mcap.unfinished), as the recorder does at start-up")
    folder.add_argument("folder", type=Path)
    folder.add_argument("--image-topic", help="image topic for the recomputed episode statistics")
    args = parser.parse_args(argv)
    if args.command == "recover-dir":
        from teleop_session.episode_folder import recover_unfinished

        results = recover_unfinished(args.folder, args.image_topic)
        for item in results:
            print(f"{item.path}: " + (f"{item.messages} messages recovered ({item.detail})" if item.messages >= 0
                                      else f"not recoverable: {item.detail}"))
        print(f"{args.folder}: {len(results)} unfinished episodes")
        return 1 if any(item.messages < 0 for item in results) else 0
    result = recover(args.source, args.target, args.image_topic)
    print(f"{args.target}: {result.messages} messages recovered"
          + ("" if result.complete else f" (source truncated: {result.stopped_at})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
