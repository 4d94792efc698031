"""Follow, don't freeze, on real footage: the demo clip (a man swinging both arms, turning sideways for
a moment) through the real estimator, then the retargeting core with the robot's plant in the loop, in
the clip's own time (teleop_session.fidelity.replay, as bench/fidelity_core.py).  Before issue 20's
item 5 the robot disengaged when the man turned (his squeezed shoulders refused him as the operator),
a third of the arm-frames held on a missed keypoint, and the arms moved at a quarter speed for ever."""
from __future__ import annotations

import dataclasses

import pytest

from pose_retarget.config import RetargetNodeConfig
from teleop_common.paths import CACHE_DIR
from teleop_session.fidelity import figures_of, replay

CLIP = CACHE_DIR / "media" / "operator_arms.mp4"     # cut by `make setup` (tools/make_demo_clip.py)
FRAMES = 240                                          # 8 s: the turn (frames 45-85) and two sweeps
LATENCY_NS = 60_000_000


@pytest.fixture(scope="module")
def traces():
    import cv2

    from teleop_common.config import load
    from teleop_session.graph import CONFIG_DIR, WHOLE_BODY_POSE
    from whole_body_pose.pipeline import build_estimator

    estimator = build_estimator(load(WHOLE_BODY_POSE.load_config_class(), CONFIG_DIR / WHOLE_BODY_POSE.config_file))
    capture = cv2.VideoCapture(str(CLIP))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while len(frames) < FRAMES:
        ok, bgr = capture.read()
        assert ok or frames, f"cannot read {CLIP}"
        if not ok:
            break
        frames.append(estimator.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), round(len(frames) * 1e9 / fps),
                                        "camera", None))
    base = RetargetNodeConfig()
    config = dataclasses.replace(base, engage=dataclasses.replace(base.engage, mode="sync"))
    return len(frames), replay(config, frames, LATENCY_NS)


def test_the_robot_stays_engaged_while_the_operator_turns(traces) -> None:
    frames, arms = traces
    assert all(len(arm.reasons) >= frames - 2 for arm in arms), [len(arm.reasons) for arm in arms]


def test_arms_rarely_hold_on_a_missed_keypoint_and_follow(traces) -> None:
    _, arms = traces
    for arm in arms:
        figures = figures_of(arm)
        print(arm.name, figures)
        assert figures["reasons"].get("INPUT_INVALID", 0.0) <= 0.12, figures     # bridged: was 0.25-0.37
        assert figures["follow_fraction"] >= 0.55, figures                        # was 0.48-0.56
        assert figures["clamped_fraction"] > 0.1                                  # the table and reach clamp
