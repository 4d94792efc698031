"""Batched rotated crops into reused input tensors.

Each crop is one cv2.warpAffine of the uint8 image straight into a slot of a preallocated uint8
batch (bilinear, like MediaPipe's ImageToTensorCalculator on CPU), then the whole batch is
scaled to the model's value range in one vectorised step into a reused float32 buffer.
"""
from __future__ import annotations

import cv2
import numpy as np


class CropBatch:
    """Grows-only buffers for crops of one model input size."""

    def __init__(self, size: int, value_range: tuple[float, float], zero_border: bool = False) -> None:
        self.size = size
        self._scale = (value_range[1] - value_range[0]) / 255.0
        self._offset = value_range[0]
        self._border = cv2.BORDER_CONSTANT if zero_border else cv2.BORDER_REPLICATE
        self._u8 = np.empty((0, size, size, 3), np.uint8)
        self._f32 = np.empty((0, size, size, 3), np.float32)

    def __call__(self, image: np.ndarray, affines: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) float32 crops; `affines` (N, 2, 3) map tensor pixels to image pixels.

        The returned array is a view of a reused buffer: valid until the next call.
        """
        n = len(affines)
        if n > len(self._u8):
            self._u8 = np.empty((n, self.size, self.size, 3), np.uint8)
            self._f32 = np.empty((n, self.size, self.size, 3), np.float32)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        for i in range(n):
            cv2.warpAffine(image, affines[i], (self.size, self.size), dst=self._u8[i], flags=flags,
                           borderMode=self._border, borderValue=0)
        out = self._f32[:n]
        np.multiply(self._u8[:n], np.float32(self._scale), out=out)
        if self._offset:
            out += np.float32(self._offset)
        return out
