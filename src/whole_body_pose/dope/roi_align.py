"""RoIAlign as two small matrix products, so it exports to ONNX (MatMul) and runs fast everywhere.

RoIAlign averages, in each output bin, sampling_ratio x sampling_ratio bilinear samples taken at
regular positions inside the bin.  Bilinear interpolation and the bin average are separable along
y and x, so for each region the pooled map is Wy @ F @ Wx^T, where Wy (output rows x H) and
Wx (output cols x W) hold the interpolation weights.  This is exact (same clamping as the usual
implementation: samples beyond one cell outside the map read zero, others are clamped to the map)
and, unlike GridSample, it is a plain batched MatMul for ONNX Runtime and TensorRT; it was 20 ms
of a 35 ms small-network inference with GridSample in ONNX Runtime.
`aligned=False` is the original Mask R-CNN convention (the public DOPE models): no half-pixel
shift, boxes at least one feature cell wide.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _weights(start: Tensor, length: Tensor, size: int, output_size: int, sampling_ratio: int) -> Tensor:
    """Interpolation weights (B, R, output_size, size) of regions starting at `start` (B, R) with
    `length` (B, R), both in feature cells, along one axis of `size` cells."""
    n = output_size * sampling_ratio
    steps = (torch.arange(n, dtype=start.dtype, device=start.device) + 0.5) / n
    coords = start[..., None] + length[..., None] * steps                    # (B, R, n) sample positions
    inside = ((coords >= -1.0) & (coords <= size)).to(start.dtype)
    coords = coords.clamp(0, size - 1)
    cells = torch.arange(size, dtype=start.dtype, device=start.device)
    hat = (1.0 - (coords[..., None] - cells).abs()).clamp(min=0.0) * inside[..., None]   # (B, R, n, size)
    return hat.reshape(*hat.shape[:2], output_size, sampling_ratio, size).mean(dim=3)


def roi_align(features: Tensor, boxes: Tensor, spatial_scale: float, output_size: int = 7,
              sampling_ratio: int = 2, aligned: bool = False) -> Tensor:
    """Pool `boxes` (B, R, 4: x1, y1, x2, y2 in image pixels) from `features` (B, C, H, W).

    Returns (B * R, C, output_size, output_size), image-major.  Every image has the same number
    of boxes R, which keeps the graph static.
    """
    batch, channels, height, width = features.shape
    rois = boxes.shape[1]
    boxes = boxes.to(features.dtype)
    offset = 0.5 if aligned else 0.0
    x1 = boxes[..., 0] * spatial_scale - offset
    y1 = boxes[..., 1] * spatial_scale - offset
    box_w = boxes[..., 2] * spatial_scale - offset - x1
    box_h = boxes[..., 3] * spatial_scale - offset - y1
    if not aligned:
        box_w = box_w.clamp(min=1.0)
        box_h = box_h.clamp(min=1.0)
    wy = _weights(y1, box_h, height, output_size, sampling_ratio)            # (B, R, P, H)
    wx = _weights(x1, box_w, width, output_size, sampling_ratio)             # (B, R, P, W)
    rows = torch.matmul(wy[:, :, None], features[:, None])                   # (B, R, C, P, W)
    pooled = torch.matmul(rows, wx[:, :, None].transpose(-1, -2))            # (B, R, C, P, P)
    return pooled.reshape(batch * rois, channels, output_size, output_size)
