"""Box arithmetic shared by the RPN, the losses and the merging (x1, y1, x2, y2 in pixels)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

# Largest log-scale a box delta may apply (a box grows at most 1000/16 times), as in Faster R-CNN.
MAX_LOG_SCALE = math.log(1000.0 / 16)


def grid_anchors(feat_h: int, feat_w: int, stride: int, sizes: tuple[float, ...], ratios: tuple[float, ...],
                 device: torch.device | None = None) -> Tensor:
    """RPN anchors (feat_h * feat_w * A, 4): location-major, then ratio-major, then size.

    Anchors are centred on (x * stride, y * stride) and rounded, the layout the public DOPE RPN
    weights were trained with (A = len(ratios) * len(sizes) outputs per location).
    """
    size = torch.tensor(sizes, dtype=torch.float32, device=device)
    h_ratio = torch.tensor(ratios, dtype=torch.float32, device=device).sqrt()
    ws = ((1.0 / h_ratio)[:, None] * size[None, :]).reshape(-1)
    hs = (h_ratio[:, None] * size[None, :]).reshape(-1)
    base = (torch.stack((-ws, -hs, ws, hs), dim=1) / 2).round()
    xs = torch.arange(feat_w, dtype=torch.float32, device=device) * stride
    ys = torch.arange(feat_h, dtype=torch.float32, device=device) * stride
    shift_y, shift_x = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=-1).reshape(-1, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def decode(deltas: Tensor, anchors: Tensor) -> Tensor:
    """Apply (dx, dy, dw, dh) deltas (..., 4) to anchors (..., 4)."""
    widths = anchors[..., 2] - anchors[..., 0]
    heights = anchors[..., 3] - anchors[..., 1]
    cx = anchors[..., 0] + 0.5 * widths + deltas[..., 0] * widths
    cy = anchors[..., 1] + 0.5 * heights + deltas[..., 1] * heights
    w = widths * deltas[..., 2].clamp(max=MAX_LOG_SCALE).exp()
    h = heights * deltas[..., 3].clamp(max=MAX_LOG_SCALE).exp()
    return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def encode(boxes: Tensor, anchors: Tensor) -> Tensor:
    """Deltas that `decode` turns anchors into boxes with."""
    aw = (anchors[..., 2] - anchors[..., 0]).clamp(min=1e-3)
    ah = (anchors[..., 3] - anchors[..., 1]).clamp(min=1e-3)
    bw = (boxes[..., 2] - boxes[..., 0]).clamp(min=1e-3)
    bh = (boxes[..., 3] - boxes[..., 1]).clamp(min=1e-3)
    dx = (boxes[..., 0] + 0.5 * bw - anchors[..., 0] - 0.5 * aw) / aw
    dy = (boxes[..., 1] + 0.5 * bh - anchors[..., 1] - 0.5 * ah) / ah
    return torch.stack((dx, dy, (bw / aw).log(), (bh / ah).log()), dim=-1)


def area(boxes: Tensor) -> Tensor:
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def iou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise IoU (..., N, M) of boxes a (..., N, 4) and b (..., M, 4)."""
    top_left = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    bottom_right = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    union = area(a)[..., :, None] + area(b)[..., None, :] - inter
    return inter / union.clamp(min=1e-6)


def clip(boxes: Tensor, height: int, width: int) -> Tensor:
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)
