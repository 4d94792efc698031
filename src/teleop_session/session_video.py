"""The session video: camera frame with the skeleton | MuJoCo render of the robot, written to MP4.

Offscreen MuJoCo rendering needs an OpenGL backend before mujoco is imported: set MUJOCO_GL
(osmesa renders on the CPU with Debian's libosmesa6; egl uses a GPU).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import mujoco
import numpy as np

VIDEO_FOURCC = "mp4v"       # MPEG-4 Part 2: encoded by OpenCV's bundled FFmpeg (no H.264 encoder there)
TEXT_COLOR = (255, 255, 255)
STRIP_HEIGHT = 56


class RobotView:
    """Renders a MuJoCo model posed from named joint positions, from a fixed free camera."""

    def __init__(self, model: mujoco.MjModel, home: np.ndarray, width: int, height: int,
                 lookat: Sequence[float] = (0.0, 0.0, 0.35), distance: float = 1.0,
                 azimuth: float = 90.0, elevation: float = -25.0) -> None:
        """The default view is the operator's: from -y, looking along +y (see config/robots/aloha.yaml)."""
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self.model = model
        self.data = mujoco.MjData(model)
        self.data.qpos[:] = home
        self.renderer = mujoco.Renderer(model, height, width)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.lookat[:] = lookat
        self.camera.distance, self.camera.azimuth, self.camera.elevation = distance, azimuth, elevation
        self._qpos: dict[str, int] = {}

    def _address(self, name: str) -> int:
        if name not in self._qpos:
            joint = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
            self._qpos[name] = int(self.model.jnt_qposadr[joint]) if joint >= 0 else -1
        return self._qpos[name]

    def render(self, names: Sequence[str], positions: Sequence[float]) -> np.ndarray:
        """RGB image of the robot with the named joints at `positions` (unknown names ignored)."""
        for name, position in zip(names, positions):
            address = self._address(name)
            if address >= 0:
                self.data.qpos[address] = position
        mujoco.mj_kinematics(self.model, self.data)
        self.renderer.update_scene(self.data, camera=self.camera)
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False      # 2x faster on the CPU
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        return self.renderer.render()

    def close(self) -> None:
        self.renderer.close()


def side_by_side(camera_bgr: np.ndarray, robot_rgb: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Camera | robot at the camera's height, with a text strip under both (BGR, even size)."""
    height = camera_bgr.shape[0]
    scale = height / robot_rgb.shape[0]
    robot = cv2.resize(robot_rgb, (int(round(robot_rgb.shape[1] * scale)), height))[..., ::-1]
    top = np.hstack([camera_bgr, robot])
    strip = np.zeros((STRIP_HEIGHT, top.shape[1], 3), np.uint8)
    for row, line in enumerate(lines[:2]):
        cv2.putText(strip, line, (10, 22 + 24 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.6, TEXT_COLOR, 1, cv2.LINE_AA)
    frame = np.vstack([top, strip])
    return frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]


class VideoFile:
    """MP4 writer that opens on the first frame (its size fixes the video's)."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame_bgr: np.ndarray) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = frame_bgr.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), self.fps, (width, height))
            if not self._writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {VIDEO_FOURCC} video to {self.path}")
        self._writer.write(frame_bgr)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
