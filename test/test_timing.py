"""Stage timing core: consecutive laps, stages from a DDS sample's times, rolling percentiles."""
from __future__ import annotations

import time

import pytest

from teleop_common.timing import StageClock, StageStats, dds_stages


def test_laps_cover_consecutive_stages_and_repeat_names_accumulate():
    started = time.perf_counter()
    clock = StageClock(started)
    time.sleep(0.02)
    clock.lap("a")
    time.sleep(0.01)
    clock.lap("b")
    time.sleep(0.01)
    clock.restart()            # time since the last lap belongs to no stage
    time.sleep(0.01)
    ended = clock.lap("a")
    assert list(clock.stages) == ["a", "b"]
    assert clock.stages["a"] >= 30.0 and clock.stages["b"] >= 10.0
    total = (ended - started) * 1e3
    assert sum(clock.stages.values()) <= total and total - sum(clock.stages.values()) >= 10.0


def test_dds_stages_from_message_info():
    stamp = 1_000_000_000
    info = {"source_timestamp": stamp + 3_000_000, "received_timestamp": stamp + 4_500_000}
    assert dds_stages(stamp, info, stamp + 6_500_000) == pytest.approx({"encode": 3.0, "transport": 1.5, "queue": 2.0})
    assert dds_stages(stamp, None, stamp) == {}
    assert dds_stages(stamp, {"source_timestamp": 0, "received_timestamp": stamp + 1_000_000}, stamp + 1_000_000) == {
        "queue": 0.0}


def test_stage_stats_percentiles_per_stage():
    stats = StageStats(window=100)
    for i in range(100):
        stats.add({"decode": float(i), "body": 10.0}, i / 30.0)
    figures = stats.figures()
    assert figures["stage.decode_ms_p50"] == pytest.approx(49.5)
    assert figures["stage.decode_ms_p99"] == pytest.approx(98.01)
    assert figures["stage.body_ms_p50"] == figures["stage.body_ms_p99"] == 10.0
