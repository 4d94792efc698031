"""Metric 3D in the camera frame (x right, y down, z forward, metres).

The landmark models give each part's shape in metres but not where it is: body world landmarks
are centred on the hips, hand world landmarks on the hand.  The body is placed by the root
translation that best reprojects its 3D keypoints onto its 2D ones (a linear least-squares
problem, re-weighted twice by 1/depth to approach the reprojection error); hands keep their own
metric shape at the depth of the body's wrist, shifted sideways to reproject onto their 2D points;
the face mesh is back-projected at the depth of the body's nose using its relative depths.
"""
from __future__ import annotations

import numpy as np

from teleop_common.camera import CameraIntrinsics

MIN_DEPTH = 0.1  # metres; a root solved closer than this is treated as unsolvable


def solve_translation(world: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                      camera: CameraIntrinsics, iterations: int = 3) -> np.ndarray | None:
    """Translation t (3,) such that world + t projects onto pixels; None if ill-posed.

    For each point: X + tx = a (Z + tz) and Y + ty = b (Z + tz) with (a, b) the pixel's ray, i.e.
    two linear equations in t.  Weighting each by w / (Z + tz) turns the algebraic error into an
    image-plane error in the next iteration.
    """
    ok = (weights > 0) & np.isfinite(pixels).all(axis=1) & np.isfinite(world).all(axis=1)
    if ok.sum() < 3:
        return None
    X, rays, w = world[ok], camera.pixels_to_rays(pixels[ok].astype(np.float64)), weights[ok]
    a, b = rays[:, 0], rays[:, 1]
    n = len(X)
    A = np.zeros((2 * n, 3))
    A[:n, 0], A[:n, 2] = 1.0, -a
    A[n:, 1], A[n:, 2] = 1.0, -b
    rhs = np.concatenate([a * X[:, 2] - X[:, 0], b * X[:, 2] - X[:, 1]])
    t = None
    scale = np.ones(n)
    for _ in range(iterations):
        sw = np.sqrt(np.concatenate([w * scale, w * scale]))
        solution, *_ = np.linalg.lstsq(A * sw[:, None], rhs * sw, rcond=None)
        depth = X[:, 2] + solution[2]
        if not np.all(np.isfinite(solution)) or np.median(depth) < MIN_DEPTH:
            return t
        t = solution
        scale = 1.0 / np.maximum(depth, MIN_DEPTH) ** 2
    return t


def place_hand(world: np.ndarray, pixels: np.ndarray, anchor_depth: float, camera: CameraIntrinsics) -> np.ndarray:
    """Hand world landmarks (21, 3) placed with their wrist at `anchor_depth`, reprojecting on pixels."""
    tz = anchor_depth - world[0, 2]
    rays = camera.pixels_to_rays(pixels.astype(np.float64))
    depth = world[:, 2] + tz
    tx = np.mean(rays[:, 0] * depth - world[:, 0])
    ty = np.mean(rays[:, 1] * depth - world[:, 1])
    return world + np.array([tx, ty, tz])


def back_project(pixels: np.ndarray, relative_depth_px: np.ndarray, anchor_index: int, anchor_depth: float,
                 camera: CameraIntrinsics) -> np.ndarray:
    """(K, 3) points from pixels and depths relative to the anchor point, in image-pixel units."""
    metres_per_pixel = anchor_depth / camera.fx
    depth = anchor_depth + (relative_depth_px - relative_depth_px[anchor_index]) * metres_per_pixel
    rays = camera.pixels_to_rays(pixels.astype(np.float64))
    return np.concatenate([rays * depth[:, None], depth[:, None]], axis=1)
