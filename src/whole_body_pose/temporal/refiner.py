"""Online refinement with the exported models, through the inference runtime protocol (no torch).

A `Streams` object keeps the last T frames of every stream (a person's body, one of their hands)
and refines the current frame of many streams in one batched run.  The current frame may be
missing (a missed detection): the model then fills it from the past.
"""
from __future__ import annotations

import json
from collections import deque
from collections.abc import Hashable
from pathlib import Path

import numpy as np

from whole_body_pose.models import sha256_of
from whole_body_pose.runtime import InferenceSession, RuntimeOptions, open_session
from whole_body_pose.temporal.prepare import Prepared, body_window, hand_window

PAD_AGE = 1.0 / 30.0  # age step of padding frames before a stream's first frame
# The shipped models and their manifest (written by export.py; read here without importing torch, whose
# ~10^5 objects would make each full garbage collection of the node cost ~190 ms).
WEIGHTS_DIR = Path(__file__).with_name("weights")
MANIFEST = WEIGHTS_DIR / "manifest.json"


class ModelFileError(RuntimeError):
    """The prepared temporal model is missing or is not the file the manifest names."""


def model_path(model: str, weights_dir: Path = WEIGHTS_DIR) -> tuple[Path, dict]:
    """Path and manifest entry of the shipped model `body` or `hand`, checked against its sha256."""
    manifest = weights_dir / MANIFEST.name
    try:
        entry = json.loads(manifest.read_text())[model]
    except (OSError, KeyError, ValueError) as error:
        raise ModelFileError(f"no temporal model {model!r} in {manifest}: {error}") from error
    path = weights_dir / entry["file"]
    if not path.is_file():
        raise ModelFileError(f"temporal model file missing: {path} (reproduce it with: {entry['command']})")
    digest = sha256_of(path)
    if digest != entry["sha256"]:
        raise ModelFileError(f"{path} has sha256 {digest}, manifest says {entry['sha256']}")
    return path, entry


class Streams:
    """Histories of many streams and one batched model run over the ones that need a frame."""

    def __init__(self, model: str, backend: str = "onnxruntime", options: RuntimeOptions | None = None,
                 weights_dir: Path = WEIGHTS_DIR) -> None:
        path, entry = model_path(model, weights_dir)
        self.model = model
        self.window, self.joints = entry["spec"]["window"], entry["spec"]["joints"]
        self.session: InferenceSession = open_session(backend, path, options or RuntimeOptions(threads=1))
        self._prepare = body_window if model == "body" else hand_window
        self._history: dict[Hashable, deque] = {}

    def push(self, key: Hashable, t: float, points: np.ndarray | None, valid: np.ndarray | None) -> None:
        """Record stream `key`'s frame at time t: (J, 3) metres (None = missed) and (J,) validity."""
        if points is None or valid is None:
            points, valid = np.full((self.joints, 3), np.nan), np.zeros(self.joints, bool)
        valid = valid & np.isfinite(points).all(axis=1)
        history = self._history.setdefault(key, deque(maxlen=self.window))
        history.append((t, np.where(valid[:, None], points, np.nan), valid))

    def forget(self, keep: set[Hashable]) -> None:
        """Drop the histories of streams not in `keep` (tracks that ended)."""
        for key in [k for k in self._history if k not in keep]:
            del self._history[key]

    def seen(self, key: Hashable) -> bool:
        history = self._history.get(key)
        return bool(history) and any(v.any() for _, _, v in history)

    def refine(self, keys: list[Hashable]) -> dict[Hashable, np.ndarray]:
        """Refined current frame (J, 3) metres of each stream in `keys` that has a usable window."""
        keys = [k for k in keys if self.seen(k)]
        if not keys:
            return {}
        points = np.full((len(keys), self.window, self.joints, 3), np.nan)
        valid = np.zeros((len(keys), self.window, self.joints), bool)
        times = np.zeros((len(keys), self.window))
        for i, key in enumerate(keys):
            history = self._history[key]
            n = len(history)
            times[i, -n:] = [t for t, _, _ in history]
            times[i, :-n] = times[i, -n] - PAD_AGE * np.arange(self.window - n, 0, -1)
            points[i, -n:] = [p for _, p, _ in history]
            valid[i, -n:] = [v for _, _, v in history]
        prepared: Prepared = self._prepare(points, valid, times)
        out = self.session.run(prepared.inputs())["refined"][:, -1:]
        metres = prepared.to_metres(out)[:, 0]
        return {key: metres[i] for i, key in enumerate(keys) if prepared.usable[i]}
