"""When two hand observations are one hand: the rule the body-joined and hand-only hand trackers share."""
from __future__ import annotations

import numpy as np

from teleop_common.layout import HAND

SAME_HAND = 0.5  # two hands whose wrists are closer than this many palm lengths are one hand


def palm_length(pixels: np.ndarray) -> float:
    """Wrist to middle knuckle of (21, 2) hand landmarks, in pixels (at least 1)."""
    return max(float(np.linalg.norm(pixels[HAND["middle_mcp"]] - pixels[HAND["wrist"]])), 1.0)


def same_hand(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether (21, 2) hand landmarks `a` and `b` are one hand (`b`'s palm is the yardstick)."""
    return float(np.linalg.norm(a[HAND["wrist"]] - b[HAND["wrist"]])) < SAME_HAND * palm_length(b)
