"""What a pose message costs the retargeting node before the retargeting itself, by people per message.

  PYTHONPATH=src .venv/bin/python bench/pose_input.py [--repeats 30]

The node takes pose messages serialized and reads at most input.max_people people
(node_support.deserialize_capped), converts them (pose_msgs.msg_to_frame) and checks the contract
(input_check.frame_problem).  Timed here on the bytes rclpy hands the callback, for 1, 16 and 1000
people, with the reference measured in the same run: the full deserialization and conversion the
node did before (every person).  Median wall ms over --repeats; last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from whole_body_teleop.msg import WholeBodyPoseArray

from pose_retarget.config import InputConfig
from pose_retarget.input_check import frame_problem
from pose_retarget.node import _POSE_BYTES
from teleop_common.layout import NUM_KEYPOINTS
from teleop_common.node_support import deserialize_capped
from teleop_common.pose import PersonPose, PoseFrame
from teleop_common.pose_msgs import frame_to_msg, msg_to_frame


def person(track_id: int, rng: np.random.Generator) -> PersonPose:
    points = rng.uniform(-1.0, 1.0, (NUM_KEYPOINTS, 3)).astype(np.float32)
    points[:, 2] += 2.5
    return PersonPose(track_id=track_id, score=0.9, box=np.array([0, 0, 100, 200], np.float32),
                      pixels=rng.uniform(0, 640, (NUM_KEYPOINTS, 2)).astype(np.float32), points=points,
                      confidence=np.full(NUM_KEYPOINTS, 0.9, np.float32))


def median_ms(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1e3)
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    cap = InputConfig().max_people
    rng = np.random.default_rng(0)
    figures: dict[str, float] = {"max_people": cap}
    for people in (1, 16, 1000):
        raw = serialize_message(frame_to_msg(PoseFrame(1, "camera", [person(i + 1, rng) for i in range(people)])))

        def now_path() -> None:
            msg, _ = deserialize_capped(raw, WholeBodyPoseArray, cap, _POSE_BYTES)
            frame_problem(msg_to_frame(msg), 1, 0.05)

        def before_path() -> None:
            frame_problem(msg_to_frame(deserialize_message(raw, WholeBodyPoseArray)), 1, 0.05)

        figures[f"people_{people}_mb"] = round(len(raw) / 1e6, 2)
        figures[f"people_{people}_ms"] = median_ms(now_path, args.repeats)
        figures[f"people_{people}_uncapped_ms"] = median_ms(before_path, max(3, args.repeats // 5))
        print(f"{people} people ({len(raw) / 1e6:.2f} MB): {figures[f'people_{people}_ms']} ms capped, "
              f"{figures[f'people_{people}_uncapped_ms']} ms uncapped", flush=True)
    figures["people_1000_vs_uncapped"] = round(figures["people_1000_ms"] / figures["people_1000_uncapped_ms"], 4)
    figures["people_1000_vs_16"] = round(figures["people_1000_ms"] / figures["people_16_ms"], 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
