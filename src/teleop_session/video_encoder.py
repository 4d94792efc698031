"""MP4 video in H.264 or AV1 through PyAV's FFmpeg (libx264 / SVT-AV1), as LeRobot encodes its datasets.

OpenCV's bundled FFmpeg only writes MPEG-4 Part 2, which browsers and dataset viewers do not play.
yuv420p needs even sizes: an odd last row or column is dropped (`size` says what was written).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODECS = {"h264": "libx264", "av1": "libsvtav1"}
# SVT-AV1 prints its whole configuration at info level on every encoder it opens: errors only.
os.environ.setdefault("SVT_LOG", "1")


def rate_of(fps: float) -> Fraction:
    """Exact frame rate: 23.976 -> 24000/1001, 24 -> 24."""
    return Fraction(fps).limit_denominator(1001)


class VideoEncoder:
    """Writes BGR frames one at a time; the first frame fixes the size. `options`: encoder options
    (LeRobot's datasets use g=2 so any frame decodes quickly, and crf 30)."""

    def __init__(self, path: str | Path, fps: float, codec: str = "h264", options: dict[str, str] | None = None) -> None:
        if codec not in CODECS:
            raise ValueError(f"video codec {codec!r}: accepted values are {', '.join(CODECS)}")
        self.path, self.fps, self.codec = Path(path), fps, codec
        self.options = dict(options or {})
        self.frames = 0
        self.size: tuple[int, int] | None = None          # (width, height) written
        self._container = None
        self._stream = None

    def _open(self, width: int, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (width - width % 2, height - height % 2)
        self._container = av.open(str(self.path), mode="w")
        rate = rate_of(self.fps)
        self._stream = self._container.add_stream(CODECS[self.codec], rate=rate, options=self.options)
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = 1 / rate

    def write(self, frame_bgr: np.ndarray) -> None:
        if self._container is None:
            self._open(frame_bgr.shape[1], frame_bgr.shape[0])
        width, height = self.size
        if frame_bgr.shape[0] < height or frame_bgr.shape[1] < width:
            raise ValueError(f"frame {frame_bgr.shape[1]}x{frame_bgr.shape[0]} is smaller than the video's {width}x{height}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr[:height, :width]), format="bgr24")
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def file_size(self) -> int:
        """Bytes written so far (what the muxer flushed)."""
        return self.path.stat().st_size if self.path.exists() else 0

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None


@dataclass(frozen=True)
class VideoStream:
    width: int
    height: int
    codec: str          # FFmpeg's canonical name of the format ("av1", "h264"), not the encoder's
    pix_fmt: str
    fps: int


def probe_video(path: str | Path) -> VideoStream:
    """The first video stream of a written file, as a reader sees it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return VideoStream(stream.width, stream.height, stream.codec.canonical_name, stream.pix_fmt,
                           int(stream.base_rate))
