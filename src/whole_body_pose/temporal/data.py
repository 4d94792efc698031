"""Training batches: procedural motion -> camera -> frame times -> corruption -> normalised windows."""
from __future__ import annotations

import numpy as np

from whole_body_pose.temporal import motion
from whole_body_pose.temporal.corrupt import Corruption, corrupt
from whole_body_pose.temporal.prepare import Prepared, body_window, hand_window
from whole_body_pose.temporal.skeleton import mirror

MODELS = ("body", "hand")
JOINTS = {"body": 12, "hand": 20}
FINE_FRAMES = 200  # 1.67 s of fine-grid motion per sequence: a 16-frame window at 15 fps with jitter


def paths(rng: np.random.Generator, model: str, b: int) -> np.ndarray:
    """(B, FINE_FRAMES, J, 3) fine-grid motion: bodies in the person frame, hands wrist-relative."""
    if model == "body":
        return motion.body_motion(rng, b, FINE_FRAMES)
    return motion.hand_motion(rng, b, FINE_FRAMES)[:, :, 1:]


def batch(rng: np.random.Generator, model: str, b: int, window: int = 16,
          corruption: Corruption | None = None, path: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One training batch: model inputs, clean targets in the same normalised frame, and loss weights.

    `path` (from `paths`) lets several batches share one motion draw, each with its own camera,
    frame times and corruption (motion is the costly part).
    """
    corruption = corruption or Corruption.measured(model)
    path = paths(rng, model, b) if path is None else path.copy()
    if model == "body":
        path = motion.to_camera(rng, path)
    flip = rng.random(b) < 0.5  # both chiralities: mirrored skeletons, and left hands
    path[flip] = mirror(path[flip])
    times = motion.sample_times(rng, b, window, FINE_FRAMES)
    clean = motion.at_times(path, times)
    noisy, valid = corrupt(rng, clean, corruption)
    if model == "hand":
        frame = valid.all(axis=2, keepdims=True)
        valid = np.broadcast_to(frame, valid.shape).copy()
    prepared: Prepared = (body_window if model == "body" else hand_window)(noisy, valid, times)
    target = (clean - prepared.centre) / prepared.scale
    seen = np.maximum.accumulate(valid.any(axis=2), axis=1) & prepared.usable[:, None]
    return {**prepared.inputs(), "target": target.astype(np.float32), "weight": seen.astype(np.float32)}
