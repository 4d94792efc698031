"""Recorded episodes open in Foxglove: every channel of the session's episode is decoded by Foxglove's
own parsers (@mcap/core, @foxglove/rosmsg, @foxglove/rosmsg2-serialization, run by node) from the
file's schemas alone, and every field of every message equals what the installed ROS types decode.
The schema text is laid out as rosbag2 writes it (dependency blocks named as the fields name them)."""
from __future__ import annotations

import functools
import json
import math
import operator
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO
from test_session_demo import run_demo

from teleop_session.episodes import Episode
from teleop_session.ros2msg import SEPARATOR, definition_text, full_definition

FOXGLOVE = REPO / "tools" / "foxglove"
LARGE = 64      # numeric arrays longer than this are compared by length, sum and head (as decode_mcap.mjs)


def _canonical(value):
    """A message decoded by rclpy in decode_mcap.mjs's canonical form (non-finite floats as JSON null)."""
    if hasattr(value, "get_fields_and_field_types"):
        return {name: _canonical(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if isinstance(value, (bytes, bytearray)):
        value = list(value)
    if isinstance(value, str):
        return value
    if hasattr(value, "__len__"):
        items = [v[0] if isinstance(v, bytes) else v for v in value]
        items = [v.item() if hasattr(v, "item") else v for v in items]
        if len(items) > LARGE and all(isinstance(v, (int, float)) for v in items):
            return {"len": len(items), "sum": _finite(functools.reduce(operator.add, items, 0)),
                    "head": [_finite(v) for v in items[:8]]}
        return [_canonical(v) for v in items]
    if hasattr(value, "item"):
        value = value.item()
    return _finite(value)


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _foxglove_decode(path: Path) -> dict:
    if shutil.which("node") is None or not (FOXGLOVE / "node_modules" / "@foxglove" / "rosmsg").is_dir():
        pytest.fail("Foxglove's parsers are not installed: run `make setup` (needs node and npm)")
    result = subprocess.run(["node", str(FOXGLOVE / "decode_mcap.mjs"), str(path)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_schema_text_is_laid_out_as_rosbag2_writes_it():
    """CameraInfo: its .msg verbatim, then its dependencies sorted, depth first, each once, named as fields name them."""
    expected = definition_text("sensor_msgs/msg/CameraInfo")
    for name in ("sensor_msgs/RegionOfInterest", "std_msgs/Header", "builtin_interfaces/Time"):
        expected += f"\n{SEPARATOR}\nMSG: {name}\n" + definition_text(name)
    assert full_definition("sensor_msgs/msg/CameraInfo") == expected
    assert "RegionOfInterest roi" in expected and "std_msgs/Header header" in expected
    # a type of our own package used by a field of another: named with its package, once
    text = full_definition("whole_body_teleop/msg/TeleopStatus")
    blocks = [line[5:] for line in text.splitlines() if line.startswith("MSG: ")]
    assert blocks == ["std_msgs/Header", "builtin_interfaces/Time", "whole_body_teleop/ArmStatus",
                      "geometry_msgs/Pose", "geometry_msgs/Point", "geometry_msgs/Quaternion"], blocks


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> Path:
    result, video = run_demo(str(tmp_path_factory.getbasetemp() / "demo"))
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(json.loads((video.parent / "summary.json").read_text())["episode"]["path"])


def test_every_channel_decodes_in_foxglove(episode):
    recorded = Episode(episode)
    decoded = _foxglove_decode(episode)
    assert decoded["profile"] == "ros2"
    topics = decoded["topics"]
    assert set(topics) == set(recorded.counts) and len(topics) >= 5, sorted(topics)
    assert {t: topics[t]["error"] for t in topics} == {t: None for t in topics}
    assert {t: len(topics[t]["messages"]) for t in topics} == recorded.counts
    by_topic: dict[str, list] = {}
    for item in recorded.messages():
        by_topic.setdefault(item.topic, []).append(_canonical(item.message))
    for topic, messages in by_topic.items():
        assert topics[topic]["schema"] == recorded.topics[topic]
        for index, (foxglove, rclpy_decoded) in enumerate(zip(topics[topic]["messages"], messages)):
            assert foxglove == rclpy_decoded, f"{topic} message {index}"
