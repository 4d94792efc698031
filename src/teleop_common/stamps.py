"""builtin_interfaces/Time <-> integer nanoseconds: the one conversion every node uses (no other
message types, so the robot process can use it without our pose messages)."""
from __future__ import annotations

from builtin_interfaces.msg import Time


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))
