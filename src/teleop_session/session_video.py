"""The session video: camera frame with the skeleton | MuJoCo render of the robot (written to an H.264
MP4 by video_encoder.VideoEncoder).

Offscreen MuJoCo rendering needs an OpenGL backend before mujoco is imported: set MUJOCO_GL
(osmesa renders on the CPU with Debian's libosmesa6; egl uses a GPU).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import mujoco
import numpy as np

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
