"""Operator poses whose right answer is known: the mapping run backwards from robot poses.

Tests and the benchmark move the robot model along a trajectory, take its end-effector poses,
and build the PersonPose (camera frame, full layout) that the mapping turns into exactly those
poses.  A correct retargeter must then track them.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from pose_retarget.config import GripperConfig, MappingConfig
from pose_retarget.mapping import HAND_PARTS, MIRROR, driving_side, rpy_matrix
from pose_retarget.robot import Robot
from teleop_common.layout import BODY, HAND_NAMES, Part, index
from teleop_common.pose import PersonPose, PoseFrame, empty_keypoints

Pose = tuple[np.ndarray, np.ndarray]   # world position (3,), rotation (3, 3)


@dataclass
class OperatorModel:
    """A person standing in front of the camera (camera frame: x right, y down, z forward)."""

    chest: tuple[float, float, float] = (0.0, 0.0, 2.0)
    shoulder_width: float = 0.38
    upper_arm: float = 0.30
    forearm: float = 0.27
    palm: float = 0.09          # wrist to middle_mcp (the hand size)
    palm_width: float = 0.08
    focal: float = 600.0
    centre: tuple[float, float] = (320.0, 240.0)

    @property
    def arm_length(self) -> float:
        return self.upper_arm + self.forearm

    def shoulder(self, side: str) -> np.ndarray:
        # Facing the camera, the person's left is on the image's right (+x).
        return np.array(self.chest) + np.array([0.5 * self.shoulder_width * (1 if side == "left" else -1), -0.2, 0.0])


def _hand_local(side: str, palm: float, width: float, pinch: float) -> dict[str, np.ndarray]:
    """Hand keypoints in the hand frame (x along fingers, z out of the back, y = z x x)."""
    s = 1.0 if side == "right" else -1.0       # +y is the thumb side of a right hand
    local = {"wrist": np.zeros(3)}
    for finger, lateral, mcp in (("index", 0.5, 1.0), ("middle", 0.0, 1.0), ("ring", -0.2, 0.95), ("pinky", -0.5, 0.9)):
        base = np.array([palm * mcp, s * lateral * width, 0.0])
        for k, joint in enumerate(("mcp", "pip", "dip", "tip")):
            local[f"{finger}_{joint}"] = base + np.array([0.025 * k, 0.0, -0.004 * k])
    direction = np.array([-0.3, s * 0.6, -0.74])
    local["thumb_tip"] = local["index_tip"] + pinch * direction / np.linalg.norm(direction)
    for k, joint in enumerate(("cmc", "mcp", "ip")):
        local[f"thumb_{joint}"] = (k + 1) / 4.0 * local["thumb_tip"] + np.array([0.0, s * 0.02, 0.0])
    return local


class SyntheticOperator:
    """Builds the PersonPose that maps onto given end-effector poses and gripper openings."""

    def __init__(self, robot: Robot, mapping: MappingConfig, gripper: GripperConfig,
                 person: OperatorModel | None = None) -> None:
        self.robot = robot
        self.person = person or OperatorModel()
        self.gripper = gripper
        self._mount = rpy_matrix(mapping.mounting_rpy)
        self._reflect = MIRROR if mapping.mirror else np.eye(3)
        self.mirror = mapping.mirror
        self._ee_to_hand = {arm.name: rpy_matrix(arm.config.hand_to_ee_rpy).T for arm in robot.arms}
        self._data = mujoco.MjData(robot.model)

    def pinch_ratio(self, opening: float) -> float:
        g = self.gripper
        return g.closed_ratio + float(opening) * (g.open_ratio - g.closed_ratio)

    def person_pose(self, poses: dict[str, Pose], openings: dict[str, float] | None = None,
                    track_id: int = 1) -> PersonPose:
        """Raises ValueError for a pose the operator's arm cannot represent."""
        p = self.person
        pixels, points, confidence = empty_keypoints()
        sides_done = set()
        for arm in self.robot.arms:
            if arm.name not in poses:
                continue
            position, rotation = poses[arm.name]
            side = driving_side(arm, self.mirror)
            anchor = self.robot.anchors[arm.name]
            scale = arm.config.reach / p.arm_length
            relative = self._reflect @ self._mount.T @ (position - anchor) / scale
            if np.linalg.norm(relative) >= p.arm_length * 0.999:
                raise ValueError(f"{arm.name}: pose needs an operator arm longer than {p.arm_length} m")
            shoulder = p.shoulder(side)
            wrist = shoulder + relative
            points[BODY[f"{side}_shoulder"]] = shoulder
            points[BODY[f"{side}_elbow"]] = self._elbow(shoulder, wrist)
            points[BODY[f"{side}_wrist"]] = wrist
            frame = self._mount.T @ rotation @ self._ee_to_hand[arm.name]
            pinch = self.pinch_ratio((openings or {}).get(arm.name, 1.0)) * p.palm
            local = _hand_local(arm.config.operator_side, p.palm, p.palm_width, pinch)
            mirrored_wrist = self._reflect @ wrist
            for name in HAND_NAMES:
                points[index(HAND_PARTS[side], name)] = self._reflect @ (mirrored_wrist + frame @ local[name])
            sides_done.add(side)
        for side in {"left", "right"} - sides_done:     # an arm that drives nothing hangs down
            shoulder = p.shoulder(side)
            points[BODY[f"{side}_shoulder"]] = shoulder
            points[BODY[f"{side}_elbow"]] = shoulder + [0.0, p.upper_arm, 0.0]
            points[BODY[f"{side}_wrist"]] = shoulder + [0.0, p.arm_length, 0.0]
        chest = np.array(p.chest)
        points[BODY["nose"]] = chest + [0.0, -0.45, -0.08]
        for side, sign in (("left", 1.0), ("right", -1.0)):
            points[BODY[f"{side}_hip"]] = chest + [sign * 0.14, 0.35, 0.0]
        valid = np.all(np.isfinite(points), axis=1)
        confidence[valid] = 0.9
        pixels[valid] = points[valid, :2] / points[valid, 2:] * p.focal + np.array(p.centre)
        box = np.r_[pixels[valid].min(axis=0), pixels[valid].max(axis=0)].astype(np.float32)
        present = {Part.BODY} | {HAND_PARTS[s] for s in sides_done}
        return PersonPose(track_id=track_id, score=0.9, box=box, pixels=pixels, points=points,
                          confidence=confidence, present=frozenset(present))

    def frame(self, q: np.ndarray, stamp_ns: int, openings: dict[str, float] | None = None) -> PoseFrame:
        """One camera frame with this operator posing the robot's configuration `q`."""
        return PoseFrame(stamp_ns=stamp_ns, frame_id="camera",
                         poses=[self.person_pose(self.robot.ee_poses(q, self._data), openings)])

    def _elbow(self, shoulder: np.ndarray, wrist: np.ndarray) -> np.ndarray:
        """Elbow of a two-link arm, bent downwards (camera +y) in the plane of the arm."""
        a_len, b_len = self.person.upper_arm, self.person.forearm
        axis = wrist - shoulder
        d = float(np.linalg.norm(axis))
        u = axis / d
        along = (a_len ** 2 - b_len ** 2 + d ** 2) / (2 * d)
        height = np.sqrt(max(a_len ** 2 - along ** 2, 0.0))
        down = np.array([0.0, 1.0, 0.0])
        normal = down - u * (down @ u)
        if np.linalg.norm(normal) < 1e-6:
            normal = np.array([1.0, 0.0, 0.0]) - u * u[0]
        return shoulder + along * u + height * normal / np.linalg.norm(normal)


def reachable_trajectory(robot: Robot, operator: SyntheticOperator, frames: int, fps: float, seed: int,
                         amplitude: float = 0.25, clearance_m: float = 0.03,
                         max_condition: float | None = None) -> np.ndarray:
    """Smooth joint trajectory (frames, nq) from home that the robot and the operator can both do:
    within joint limits, without contact, `clearance_m` apart on the watched collision pairs,
    below `max_condition` (default: half the robot's singularity slow-down threshold) and within
    the operator's reach."""
    model = robot.model
    data = mujoco.MjData(model)
    limit = max_condition or 0.5 * robot.config.singularity_slow
    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    rng = np.random.default_rng(seed)
    times = np.arange(frames) / fps
    ramp = np.minimum(times / 2.0, 1.0) ** 2           # start at home, ease in over 2 s
    for attempt in range(400):
        q = np.repeat(robot.home[None], frames, axis=0)
        for arm in robot.arms:
            n = len(arm.qpos)
            amp = amplitude * 0.8 ** (attempt // 100) * rng.uniform(0.3, 1.0, n)   # smaller if hard to find
            freq = rng.uniform(0.05, 0.2, n)
            phase = rng.uniform(0.0, 2 * np.pi, n)
            wave = np.sin(2 * np.pi * freq * times[:, None] + phase) - np.sin(phase)
            q[:, arm.qpos] = np.clip(arm.home + ramp[:, None] * amp * wave, arm.lower, arm.upper)
        if all(_feasible(robot, operator, data, jacp, jacr, qk, clearance_m, limit) for qk in q[::3]):
            return q
    raise RuntimeError("no feasible trajectory found; lower the amplitude or the duration")


def _feasible(robot: Robot, operator: SyntheticOperator, data: mujoco.MjData, jacp: np.ndarray,
              jacr: np.ndarray, q: np.ndarray, clearance: float, max_condition: float) -> bool:
    model = robot.model
    data.qpos[:] = q
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    mujoco.mj_collision(model, data)
    internal = [arm.gripper_geoms for arm in robot.arms]
    for g1, g2, dist in zip(data.contact.geom[:data.ncon, 0], data.contact.geom[:data.ncon, 1],
                            data.contact.dist[:data.ncon]):
        if dist < 0 and not any(g1 in geoms and g2 in geoms for geoms in internal):
            return False
    fromto = np.zeros(6)
    for group_a, group_b in robot.collision_pairs:
        for a in group_a:
            for b in group_b:
                if a != b and mujoco.mj_geomDistance(model, data, a, b, clearance, fromto) < clearance:
                    return False
    for arm in robot.arms:
        mujoco.mj_jacSite(model, data, jacp, jacr, arm.site)
        jacobian = np.vstack([jacp[:, arm.dofs], robot.config.jacobian_length * jacr[:, arm.dofs]])
        singular = np.linalg.svd(jacobian, compute_uv=False)
        if singular[0] > max_condition * singular[-1]:
            return False
    try:
        operator.person_pose(robot.ee_poses(q, data))
    except ValueError:
        return False
    return True
