"""Feature statistics in LeRobot's episode-stats schema (meta/episodes stats/* columns, meta/stats.json).

LeRobot (datasets/compute_stats.py, `get_feature_stats` / `compute_episode_stats`) gives every
non-string feature, the index and timestamp columns included, the same ten statistics: min, max,
mean, std, count and the quantiles q01, q10, q50, q90, q99.  Image and video features are per RGB
channel in [0, 1], shaped (3, 1, 1); count is always shaped (1,).  Our columns must carry exactly
that key set: LeRobot reads the episodes files of a dataset as one table (resume, aggregate) and
refuses files whose columns differ, and QUANTILES normalisation needs q01/q99.
"""
from __future__ import annotations

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)
STAT_KEYS = ("min", "max", "mean", "std", "count", *QUANTILE_KEYS)
IMAGE_PIXEL_STEP = 4          # every 4th pixel of every frame: ~1/16 of the pixels, stable to 1e-3


def feature_stats(values: np.ndarray) -> dict[str, list]:
    """Per-dimension statistics of (n, d) or (n,) values; integer features keep integer min/max."""
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    as_float = values.astype(np.float64)
    stats = {"min": values.min(0).tolist(), "max": values.max(0).tolist(), "mean": as_float.mean(0).tolist(),
             "std": as_float.std(0).tolist(), "count": [int(values.shape[0])]}
    for key, value in zip(QUANTILE_KEYS, np.quantile(as_float, QUANTILES, axis=0)):
        stats[key] = value.tolist()
    return stats


def image_stats(frames: list[np.ndarray]) -> dict[str, list]:
    """Per-channel RGB statistics in [0, 1] of BGR frames, shaped (3, 1, 1); count = frames."""
    pixels = np.concatenate([f[::IMAGE_PIXEL_STEP, ::IMAGE_PIXEL_STEP, ::-1].reshape(-1, 3) for f in frames])
    flat = feature_stats(pixels.astype(np.float64) / 255.0)
    return {key: ([len(frames)] if key == "count" else [[[v]] for v in flat[key]]) for key in STAT_KEYS}


def aggregate(parts: list[dict[str, list]]) -> dict[str, list]:
    """Dataset statistics from per-episode ones, as LeRobot aggregates them: pooled mean and variance,
    extreme min/max, count-weighted quantiles (an approximation LeRobot also makes)."""
    counts = np.array([p["count"][0] for p in parts], np.float64)
    means = np.array([p["mean"] for p in parts], np.float64)
    weights = (counts / counts.sum()).reshape((-1,) + (1,) * (means.ndim - 1))
    mean = (weights * means).sum(0)
    variance = (weights * (np.array([p["std"] for p in parts], np.float64) ** 2 + (means - mean) ** 2)).sum(0)
    minimum, maximum = np.min([p["min"] for p in parts], 0), np.max([p["max"] for p in parts], 0)
    stats = {"min": minimum.tolist(), "max": maximum.tolist(), "mean": mean.tolist(),
             "std": np.sqrt(variance).tolist(), "count": [int(counts.sum())]}
    for key in QUANTILE_KEYS:
        stats[key] = (weights * np.array([p[key] for p in parts], np.float64)).sum(0).tolist()
    return stats
