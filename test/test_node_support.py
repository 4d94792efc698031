"""Per-frame logging in the nodes: each key at most once per period, decided before rclpy is called."""
from __future__ import annotations

from teleop_common.node_support import ErrorReporter, ThrottledLog
from teleop_common.stats import EventCounter


def test_throttled_log_lets_each_key_through_once_per_period(ros_node) -> None:
    log = ThrottledLog(ros_node("throttled_log_test"), period_s=60.0)
    assert [log.due("left")] + [log.due("left") for _ in range(50)] == [True] + [False] * 50
    assert log.due("right")                       # keys are throttled apart


def test_error_reporter_counts_every_error_while_logging_throttled(ros_node) -> None:
    counters = EventCounter()
    report = ErrorReporter(ros_node("error_reporter_test"), counters, period_s=60.0)
    for _ in range(20):
        report("bad_image.decode", "not a JPEG")
    report("bad_camera_info", "K is all zeros")
    assert counters == {"error.bad_image.decode": 20, "error.bad_camera_info": 1}
