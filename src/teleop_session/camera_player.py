"""The camera source's session, without ROS: which frame goes out when, with which calibration.

A file or folder plays at its own rate (or `fps`) on an absolute schedule, so a slow frame delays
one publication instead of shifting every later one; a frame that falls a whole period behind is
counted as late and the schedule restarts (no burst).  A live camera paces itself.  A frame that
does not decode is counted and its slot passes.  camera_node only turns frames into messages.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from teleop_common.frame_sources import BadFrameError, FrameSource, open_source
from teleop_common.image_codec import BadImageError
from teleop_common.stats import EventCounter
from teleop_session.camera_config import CameraSourceConfig
from teleop_session.camera_info import Calibration, load_calibration

DEFAULT_FILE_FPS = 30.0        # image folders and files that do not state a rate


class CameraPlayer:
    """Opens the configured source at once (CameraSourceError says why it cannot be used)."""

    def __init__(self, config: CameraSourceConfig, counters: EventCounter,
                 report: Callable[[str, str], None], stop: threading.Event) -> None:
        self.config, self.counters, self.report, self._stop = config, counters, report, stop
        self.source: FrameSource = open_source(config.source, config.backend, config.width, config.height, config.fps)
        self.calibration = load_calibration(config.calibration_file) if config.calibration_file else None
        self.rate_hz = config.fps or self.source.fps or DEFAULT_FILE_FPS

    def calibration_for(self, frame: np.ndarray) -> Calibration:
        """The calibration file's (rescaled to the frame) or, without one, the `fov_deg` pinhole."""
        height, width = frame.shape[:2]
        if self.calibration is None or (self.calibration.width, self.calibration.height) != (width, height):
            base = self.calibration or Calibration.from_fov(width, height, self.config.fov_deg)
            self.calibration = base.scaled_to(width, height)
        return self.calibration

    def next_frame(self) -> np.ndarray | None:
        """The next frame, rewinding a looping finite source; None at the end."""
        frame = self.source.read()
        if frame is None and self.config.loop:
            self.source.rewind()
            frame = self.source.read()
        return frame

    def play(self, publish: Callable[[np.ndarray], None]) -> bool:
        """Hand every frame to `publish` on schedule, after `start_delay_s`; True at the end of the
        source (or `max_frames`), False when stopped first.  CameraSourceError: the source broke."""
        if self._stop.wait(self.config.start_delay_s):
            return False
        period = 1.0 / self.rate_hz
        deadline = time.monotonic()
        while not self._stop.is_set():
            if self.config.max_frames and self.counters["frames"] >= self.config.max_frames:
                return True
            try:
                frame = self.next_frame()
            except BadFrameError as error:
                self.report("bad_frame", str(error))
                if self._stop.wait(period):         # its slot passes: a folder of bad files does not spin
                    return False
                continue
            if frame is None:
                return True
            if not self.source.paced:
                if self._stop.wait(max(0.0, deadline - time.monotonic())):
                    return False
                deadline += period
                if time.monotonic() - deadline > period:     # fell behind: count it, do not burst
                    self.counters["late_frames"] += 1
                    deadline = time.monotonic()
            try:
                publish(frame)
            except BadImageError as error:       # JPEG encoding failed
                self.report("bad_frame", str(error))
                continue
            self.counters["frames"] += 1
        return False

    def close(self) -> None:
        self.source.close()
