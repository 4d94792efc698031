"""Corrupt clean motion the way our expert pipeline does (statistics measured by `measure.py`).

`measured.json` holds what the unfiltered experts produced on the real clips of shared/media:
per-axis noise (depth about 2.6x the image-plane noise for the body, 1.4x for wrist-relative hands),
the rate of 5-sigma outliers (6 % body, 11 % hands) and the lengths of missed runs (hands: 27 % of
runs 1-3 frames, 59 % 4-8, 14 % 9-15).  Each training window draws its own noise level (0.5-3x:
distance and blur vary), a temporally correlated share, a common-mode depth jitter (the body's
depth is solved per frame), outliers, masked runs of 1-15 frames and joint dropouts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MEASURED = Path(__file__).with_name("measured.json")
GAP_BINS = ((1, 3), (4, 8), (9, 15))


@dataclass(frozen=True)
class Corruption:
    sigma: tuple[float, float, float]        # metres per axis (camera x, y, depth)
    outlier_rate: float                      # share of joint samples thrown far off
    gap_bin_weights: tuple[float, float, float] = (0.27, 0.59, 0.14)
    common_depth: float = 0.0                # common-mode depth jitter, as a share of sigma z
    joint_dropout: float = 0.0               # chance a window loses a joint group (e.g. legs off-frame)
    groups: tuple[tuple[int, ...], ...] = ()  # joint groups that drop together
    level: tuple[float, float] = (0.5, 3.0)  # noise multiplier range (log-uniform)
    gap_share: tuple[float, float] = (0.0, 0.35)  # masked share of frames range

    @classmethod
    def measured(cls, model: str) -> Corruption:
        stats = json.loads(MEASURED.read_text())[model]
        counts = np.array(json.loads(MEASURED.read_text())["hand"]["gap_run_hist_1_3_4_8_9_15_16plus"][:3], float)
        weights = tuple((counts / counts.sum()).tolist())
        if model == "body":  # legs leave an upper-body frame; a forearm leaves the image edge
            return cls(tuple(stats["noise_sigma_m_xyz"]), stats["outlier_rate_5sigma"], weights,
                       common_depth=1.0, joint_dropout=0.4,
                       groups=((6, 7, 8, 9, 10, 11), (8, 9, 10, 11), (4,), (5,), (2, 4), (3, 5)))
        return cls(tuple(stats["noise_sigma_m_xyz"]), stats["outlier_rate_5sigma"], weights)


def gap_mask(rng: np.random.Generator, b: int, t: int, c: Corruption) -> np.ndarray:
    """(B, T) True where the frame was missed: runs of 1-15 frames, ~12 % of frames on average."""
    missed = np.zeros((b, t), bool)
    share = rng.uniform(*c.gap_share, size=b)
    for i in range(b):
        budget = int(round(share[i] * t))
        while budget > 0:
            lo, hi = GAP_BINS[rng.choice(3, p=c.gap_bin_weights)]
            length = min(int(rng.integers(lo, hi + 1)), budget)
            start = int(rng.integers(0, t))
            missed[i, start:start + length] = True
            budget -= length
    return missed


def corrupt(rng: np.random.Generator, clean: np.ndarray, c: Corruption) -> tuple[np.ndarray, np.ndarray]:
    """(noisy with NaN where missed, valid (B, T, J)) from clean (B, T, J, 3) metric windows."""
    b, t, j, _ = clean.shape
    level = np.exp(rng.uniform(*np.log(c.level), size=(b, 1, 1, 1)))
    sigma = np.asarray(c.sigma) * level
    white = rng.normal(size=clean.shape)
    rho = rng.uniform(0.0, 0.8, size=(b, 1, 1, 1))
    colored = np.empty_like(white)
    colored[:, 0] = white[:, 0]
    for k in range(1, t):  # AR(1) with unit variance
        colored[:, k] = rho[:, 0] * colored[:, k - 1] + np.sqrt(1 - rho[:, 0] ** 2) * white[:, k]
    mix = rng.uniform(0, 1, size=(b, 1, 1, 1))
    noise = sigma * (np.sqrt(1 - mix) * rng.normal(size=clean.shape) + np.sqrt(mix) * colored)
    noise[..., 2] += c.common_depth * sigma[..., 2] * rng.normal(size=(b, t, 1))
    far = rng.random((b, t, j)) < c.outlier_rate * rng.uniform(0, 2, size=(b, 1, 1))
    direction = rng.normal(size=clean.shape)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    noise += far[..., None] * direction * rng.uniform(5, 20, size=(b, t, j, 1)) * sigma.mean(-1, keepdims=True)
    noisy = clean + noise
    valid = np.broadcast_to(~gap_mask(rng, b, t, c)[..., None], (b, t, j)).copy()
    for i in np.flatnonzero(rng.random(b) < c.joint_dropout):
        group = list(c.groups[rng.integers(len(c.groups))])
        start = int(rng.integers(0, t)) if rng.random() < 0.5 else 0
        valid[i, start:, group] = False
    noisy[~valid] = np.nan
    return noisy, valid
