"""What robot_check reports about a robot description: how much of a standard operator motion set the
arms reach, whether home is collision-free, the singularity margin at home, and a picture.

The motion set is a fixed grid of wrist positions relative to the operator's shoulder (camera frame,
within 95 % of an operator arm), mapped as pose_retarget maps them (anchor + reach scale, mounting);
a target counts as reachable when a position-only damped least-squares IK from home gets within 1 cm
inside the joint limits and without contact.
"""
from __future__ import annotations

import itertools
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from robot_model.config import RobotConfig
from robot_model.derive import MOUNTING_RPY, OPERATOR_ARM_M, _Scratch, _subtree, rpy_to_matrix
from robot_model.load import build_model, joints, model_id

REACHED_M = 0.01


def operator_motion_set() -> np.ndarray:
    """Wrist minus shoulder (camera frame, right arm: +x inward), metres: forward, sideways, up and down."""
    grid = np.array(list(itertools.product((-0.2, -0.1, 0.0, 0.1, 0.2), (-0.25, -0.1, 0.05, 0.2),
                                           (-0.15, -0.25, -0.35, -0.45))))
    return grid[np.linalg.norm(grid, axis=1) <= 0.95 * OPERATOR_ARM_M]


@dataclass
class CheckReport:
    reachable_fraction: dict[str, float]
    home_collision_free: bool
    home_contacts: list[str]
    home_condition: dict[str, float]
    singularity_margin: dict[str, float]     # singularity_slow / condition at home (> 1: home is clear of it)
    targets: dict[str, np.ndarray]           # world targets per arm
    reached: dict[str, np.ndarray]           # bool per target


class RobotCheck:
    def __init__(self, config: RobotConfig, mounting_rpy=MOUNTING_RPY) -> None:
        self.config = config
        self.model = build_model(config)
        self.mount = rpy_to_matrix(mounting_rpy)
        self.arms = []
        home = self.model.qpos0.copy()
        for arm in config.arms:
            found = joints(self.model, arm.joints, f"arms.{arm.name}.joints")
            grip = joints(self.model, arm.gripper.joints, f"arms.{arm.name}.gripper.joints")
            home[found.qpos] = arm.home
            home[grip.qpos] = arm.gripper.open
            for mimic in arm.gripper.mimic:
                follower = joints(self.model, (mimic.joint,), "mimic", actuated=False)
                home[follower.qpos] = mimic.multiplier * arm.gripper.open[arm.gripper.joints.index(mimic.leader)] + mimic.offset
            site = model_id(self.model, mujoco.mjtObj.mjOBJ_SITE, arm.ee_frame, f"arms.{arm.name}.ee_frame")
            self.arms.append((arm, found, site))
        self.home = home
        grippers = {b for _, _, site in self.arms for b in _subtree(self.model, int(self.model.site_bodyid[site]))}
        self.scratch = _Scratch(self.model, grippers)

    def targets(self, arm, site: int) -> np.ndarray:
        data = self.scratch.data
        self.scratch.set(self.home)
        base = model_id(self.model, mujoco.mjtObj.mjOBJ_BODY, arm.base_frame, "base_frame")
        anchor = data.xpos[base] + data.xmat[base].reshape(3, 3) @ np.asarray(arm.anchor)
        side = np.array([1.0 if arm.operator_side == "right" else -1.0, 1.0, 1.0])
        scale = arm.reach / OPERATOR_ARM_M
        return np.array([anchor + scale * self.mount @ (v * side) for v in operator_motion_set()])

    def reach(self, found, site: int, target: np.ndarray) -> bool:
        scratch, q = self.scratch, self.home.copy()
        for _ in range(150):
            scratch.set(q)
            error = target - scratch.data.site_xpos[site]
            if np.linalg.norm(error) < 0.5 * REACHED_M:
                break
            mujoco.mj_jacSite(self.model, scratch.data, scratch.jacp, scratch.jacr, site)
            jac = scratch.jacp[:, found.dofs]
            step = jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(3), error)
            q[found.qpos] = np.clip(q[found.qpos] + np.clip(step, -0.2, 0.2), found.lower, found.upper)
        scratch.set(q)
        return bool(np.linalg.norm(target - scratch.data.site_xpos[site]) < REACHED_M and not scratch.touching())

    def run(self) -> CheckReport:
        targets, reached, conditions, margins = {}, {}, {}, {}
        for arm, found, site in self.arms:
            targets[arm.name] = self.targets(arm, site)
            reached[arm.name] = np.array([self.reach(found, site, t) for t in targets[arm.name]])
        self.scratch.set(self.home)
        contacts = sorted({f"{self._body(a)}/{self._body(b)}" for a, b in self.scratch.touching()})
        for arm, found, site in self.arms:
            conditions[arm.name] = round(self.scratch.condition(site, found.dofs, self.config.jacobian_length), 3)
            margins[arm.name] = round(self.config.singularity_slow / conditions[arm.name], 3) if conditions[arm.name] else math.inf
        return CheckReport(reachable_fraction={n: round(float(np.mean(r)), 4) for n, r in reached.items()},
                           home_collision_free=not contacts, home_contacts=contacts, home_condition=conditions,
                           singularity_margin=margins, targets=targets, reached=reached)

    def _body(self, body: int) -> str:
        return mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, body)

    def render(self, report: CheckReport, path: Path, width: int = 640, height: int = 480) -> None:
        """PNG of the robot at home, the motion set's targets as dots (green reached, red not)."""
        data = mujoco.MjData(self.model)
        data.qpos[:] = self.home
        mujoco.mj_forward(self.model, data)
        camera = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(self.model, camera)
        points = np.concatenate(list(report.targets.values()))
        camera.lookat[:] = 0.5 * (points.mean(axis=0) + data.xpos[1:].mean(axis=0))
        camera.distance = 2.2 * max(float(np.ptp(points, axis=0).max()), 0.5)
        camera.azimuth, camera.elevation = 135.0, -25.0
        with mujoco.Renderer(self.model, height, width) as renderer:
            renderer.update_scene(data, camera)
            scene = renderer.scene
            for name, positions in report.targets.items():
                for position, ok in zip(positions, report.reached[name]):
                    if scene.ngeom >= scene.maxgeom:
                        break
                    mujoco.mjv_initGeom(scene.geoms[scene.ngeom], mujoco.mjtGeom.mjGEOM_SPHERE, np.array([0.012, 0, 0]),
                                        position, np.eye(3).ravel(), np.array([0.1, 0.8, 0.2, 1] if ok else [0.9, 0.2, 0.2, 1], dtype=np.float32))
                    scene.ngeom += 1
            write_png(path, renderer.render())


def write_png(path: Path, rgb: np.ndarray) -> None:
    """An 8-bit RGB PNG (zlib and a CRC are all the format needs)."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].astype(np.uint8).tobytes() for row in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
                           + chunk(b"IEND", b""))
