"""A robot description derived from its model and, per arm, three names: base link, end-effector link
and (optionally) gripper joints.  Every key already present in the description is kept (an override);
only missing keys are derived:

- `joints`: the hinge/slide joints on the path from the base link to the end-effector link; limits are
  the model's; `max_velocity` the URDF's `<limit velocity>`, else a conservative default (an MJCF has no
  velocity limit); `max_acceleration` ACCELERATION_PER_VELOCITY times it;
- gripper `closed` / `open`: the end of each joint's range nearer to zero is closed; fingers tied to a
  listed joint by a joint equality (a URDF <mimic>) become its `mimic` followers;
- `exclude_contacts`: body pairs touching in almost every sampled configuration (overlapping hulls at a
  joint): adjacent links are already excluded by MuJoCo;
- `max_reach` / `reach`: from the farthest end-effector distance to the shoulder over sampled configurations;
- `home`: the sampled-then-refined configuration with the end effector where an operator's relaxed hand
  lands, near the middle of the joint ranges, well-conditioned and clear of contacts;
- `anchor` and `hand_to_ee_rpy`: so that a relaxed operator arm (hand forward, palm down) maps onto home;
- `geom_groups` / `collision_pairs`: each arm's wrist and hand against its base and first link, against
  the environment (bodies that belong to no arm), and against the other arms;
- `jacobian_length`, `singularity_slow` / `singularity_stop`: from the Jacobian condition numbers of the
  sampled configurations and of home.
"""
from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass, field

import mujoco
import numpy as np

from robot_model.config import Attachment, RobotConfig
from robot_model.load import build_model, compose
from robot_model.sources import urdf_velocity_limits
from teleop_common.config import ConfigError, from_mapping

# How an operator stands (pose_retarget's defaults): camera axes in the robot's base frame, a relaxed
# hand's wrist relative to its shoulder (camera frame: x right, y down, z away; right arm; 'inward' is +x),
# and the operator arm length the synthetic operator uses.
MOUNTING_RPY = (-1.5707963, 0.0, 3.1415927)
RELAXED_HAND = np.array([0.08, 0.09, -0.34])
OPERATOR_ARM_M = 0.57
HAND_NEUTRAL = np.column_stack([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # fingers forward, back up
DEFAULT_VELOCITY = {int(mujoco.mjtJoint.mjJNT_HINGE): 2.0, int(mujoco.mjtJoint.mjJNT_SLIDE): 0.5}
ACCELERATION_PER_VELOCITY = 6.0     # rad/s^2 per rad/s
SAMPLES = 400
ALWAYS_TOUCHING = 0.95              # fraction of samples in contact that makes a pair excluded
HOME_CLEARANCE_M = 0.05              # > the 3 cm synthetic trajectories keep, so they can start at home
REACH_FRACTION, MAX_REACH_FRACTION = 0.9, 0.95


class NameNotFound(ConfigError):
    """A link or joint name that the model does not have; `candidates` are the nearest it has."""

    def __init__(self, key: str, name: str, kind: str, names: list[str]) -> None:
        close = difflib.get_close_matches(name, names, n=6, cutoff=0.4) or names[:12]
        super().__init__(key, name, f"a {kind} of the model, e.g. {', '.join(close)}")
        self.candidates = close


@dataclass
class Derivation:
    values: dict                                 # the full description (derived keys filled in)
    derived: list[str] = field(default_factory=list)   # keys that were derived, not given
    home_condition: dict[str, float] = field(default_factory=dict)
    home_clearance_m: dict[str, float] = field(default_factory=dict)   # nearest watched pair at home (1.0: none within 1 m)


def rpy_to_matrix(rpy) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_euler2Quat(quat, np.asarray(rpy, dtype=float), "XYZ")
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, quat)
    return matrix.reshape(3, 3)


def matrix_to_rpy(matrix: np.ndarray) -> list[float]:
    """Inverse of rpy_to_matrix: R = Rz(yaw) Ry(pitch) Rx(roll), as mink's SO3.from_rpy_radians."""
    m = matrix
    pitch = math.asin(max(-1.0, min(1.0, -m[2, 0])))
    roll = math.atan2(m[2, 1], m[2, 2])
    yaw = math.atan2(m[1, 0], m[0, 0])
    return [round(roll, 4), round(pitch, 4), round(yaw, 4)]


def _names(model: mujoco.MjModel, kind: mujoco.mjtObj, count: int) -> list[str]:
    return [mujoco.mj_id2name(model, kind, i) or "" for i in range(count)]


def _find(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str, key: str) -> int:
    index = mujoco.mj_name2id(model, kind, name)
    if index < 0:
        count = model.nbody if kind == mujoco.mjtObj.mjOBJ_BODY else model.njnt
        what = "link (body)" if kind == mujoco.mjtObj.mjOBJ_BODY else "joint"
        raise NameNotFound(key, name, what, [n for n in _names(model, kind, count) if n])
    return index


def chain(model: mujoco.MjModel, base: int, ee: int, key: str) -> list[int]:
    """Hinge/slide joints from `base` to `ee`, base first."""
    bodies = []
    body = ee
    while body != base:
        if body == 0:
            raise ConfigError(key, mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, ee),
                              f"a link below the base link {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, base)!r}")
        bodies.append(body)
        body = int(model.body_parentid[body])
    found = []
    for body in reversed(bodies):
        start, count = model.body_jntadr[body], model.body_jntnum[body]
        found += [j for j in range(start, start + count)
                  if int(model.jnt_type[j]) in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))]
    if not found:
        raise ConfigError(key, mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, ee), "a link moved by joints below the base link")
    return found


def _subtree(model: mujoco.MjModel, root: int) -> list[int]:
    bodies = [root]
    for body in range(root + 1, model.nbody):
        if model.body_parentid[body] in bodies:
            bodies.append(body)
    return bodies


def _colliding(model: mujoco.MjModel, body: int) -> bool:
    geoms = np.flatnonzero(model.geom_bodyid == body)
    return bool(np.any(model.geom_contype[geoms] | model.geom_conaffinity[geoms]))


def _body_name(model: mujoco.MjModel, body: int) -> str:
    return mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, body)


def _joint_name(model: mujoco.MjModel, joint: int) -> str:
    return mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, joint)


def _bounds(model: mujoco.MjModel, joints: list[int]) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = model.jnt_range[joints, 0].copy(), model.jnt_range[joints, 1].copy()
    unlimited = ~model.jnt_limited[joints].astype(bool) | (upper <= lower)
    lower[unlimited], upper[unlimited] = -math.pi, math.pi
    return np.maximum(lower, -math.pi), np.minimum(upper, math.pi)   # continuous joints: one turn


def _gripper(model: mujoco.MjModel, arm: dict, key: str, derived: list[str]) -> None:
    gripper = arm.setdefault("gripper", {})
    names = list(gripper.get("joints") or [])
    ids = [_find(model, mujoco.mjtObj.mjOBJ_JOINT, n, f"{key}.gripper.joints") for n in names]
    if not names:
        return
    for label, pick in (("closed", 0), ("open", 1)):
        if label not in gripper:
            ends = []
            for j in ids:
                low, high = (float(v) for v in model.jnt_range[j])
                near, far = (low, high) if abs(low) <= abs(high) else (high, low)
                ends.append(round((near, far)[pick], 5))
            gripper[label] = ends
            derived.append(f"{key}.gripper.{label}")
    if "mimic" not in gripper:
        mimic = []
        for e in range(model.neq):
            if int(model.eq_type[e]) != int(mujoco.mjtEq.mjEQ_JOINT) or not model.eq_active0[e]:
                continue
            follower, leader = int(model.eq_obj1id[e]), int(model.eq_obj2id[e])
            if leader in ids and follower not in ids:
                mimic.append({"joint": _joint_name(model, follower), "leader": _joint_name(model, leader),
                              "multiplier": round(float(model.eq_data[e, 1]), 6), "offset": round(float(model.eq_data[e, 0]), 6)})
        if mimic:
            gripper["mimic"] = mimic
            derived.append(f"{key}.gripper.mimic")


class _Scratch:
    """Kinematics, contacts and Jacobians of one model."""

    def __init__(self, model: mujoco.MjModel, gripper_bodies: set[int]) -> None:
        self.model, self.data = model, mujoco.MjData(model)
        self.jacp, self.jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
        self.gripper_bodies = gripper_bodies

    def set(self, q: np.ndarray) -> None:
        self.data.qpos[:] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        mujoco.mj_collision(self.model, self.data)

    def touching(self) -> set[tuple[int, int]]:
        """Body pairs in penetrating contact (contacts inside one gripper left out)."""
        pairs = set()
        count = self.data.ncon
        for (g1, g2), dist in zip(self.data.contact.geom[:count], self.data.contact.dist[:count]):
            if dist < 0:
                b1, b2 = int(self.model.geom_bodyid[g1]), int(self.model.geom_bodyid[g2])
                if not (b1 in self.gripper_bodies and b2 in self.gripper_bodies):
                    pairs.add((min(b1, b2), max(b1, b2)))
        return pairs

    def condition(self, site: int, dofs: np.ndarray, length: float) -> float:
        mujoco.mj_jacSite(self.model, self.data, self.jacp, self.jacr, site)
        singular = np.linalg.svd(np.vstack([self.jacp[:, dofs], length * self.jacr[:, dofs]]), compute_uv=False)
        return float(singular[0] / singular[-1]) if singular[-1] > 1e-12 else float("inf")

    def clearance(self, geoms_a: list[int], geoms_b: list[int], limit: float) -> float:
        fromto, best = np.zeros(6), limit
        for a in geoms_a:
            for b in geoms_b:
                if a != b and self.model.geom_bodyid[a] != self.model.geom_bodyid[b]:
                    best = min(best, mujoco.mj_geomDistance(self.model, self.data, a, b, best, fromto))
        return best


def _colliding_geoms(model: mujoco.MjModel, bodies) -> list[int]:
    bodies = set(bodies)
    return [g for g in range(model.ngeom) if model.geom_bodyid[g] in bodies and (model.geom_contype[g] or model.geom_conaffinity[g])]


@dataclass
class _ArmInfo:
    name: str
    joints: list[int]
    qpos: np.ndarray
    dofs: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    site: int
    base: int
    shoulder: int
    moving: list[int]          # bodies moved by the arm (subtree of the first joint's body)
    proximal: list[int]        # base, first link
    distal: list[int]          # wrist and hand (subtree of the third-last joint's body)


def derive_values(values: dict, mounting_rpy=MOUNTING_RPY, seed: int = 0) -> Derivation:
    """Fill every missing key of a robot description (a YAML mapping) whose arms name their links."""
    values = copy.deepcopy(values)
    derived: list[str] = []
    given_home: set[str] = set()
    attach = tuple(from_mapping(Attachment, part, prefix=f"attach[{k}].") for k, part in enumerate(values.get("attach") or []))
    raw = compose(str(values.get("model", "")), attach, tuple(values.get("remove_bodies") or ())).compile()
    velocities = _velocity_limits(str(values.get("model", "")), attach)
    arms = values.get("arms") or []
    if not arms:
        raise ConfigError("arms", [], "at least one arm: name, base_frame (base link), ee_parent (end-effector link)")
    for k, arm in enumerate(arms):
        name = arm.setdefault("name", f"arm{k}" if len(arms) > 1 else "arm")
        key = f"arms.{name}"
        if "base_frame" not in arm or "ee_parent" not in arm:
            raise ConfigError(key, arm, "base_frame (the arm's base link) and ee_parent (its end-effector link)")
        base = _find(raw, mujoco.mjtObj.mjOBJ_BODY, arm["base_frame"], f"{key}.base_frame")
        ee = _find(raw, mujoco.mjtObj.mjOBJ_BODY, arm["ee_parent"], f"{key}.ee_parent")
        found = chain(raw, base, ee, f"{key}.ee_parent")
        _gripper(raw, arm, key, derived)
        velocity = [velocities.get(_joint_name(raw, j), DEFAULT_VELOCITY[int(raw.jnt_type[j])]) for j in found]
        for field_name, value in (
                ("joints", [_joint_name(raw, j) for j in found]),
                ("shoulder_frame", _body_name(raw, int(raw.jnt_bodyid[found[min(1, len(found) - 1)]]))),
                ("ee_frame", f"{name}_ee"),
                ("operator_side", "right" if len(arms) == 1 or k % 2 else "left"),
                ("max_velocity", velocity),
                ("max_acceleration", [round(ACCELERATION_PER_VELOCITY * v, 6) for v in velocity])):
            if field_name not in arm:
                arm[field_name] = value
                derived.append(f"{key}.{field_name}")
        ids = [_find(raw, mujoco.mjtObj.mjOBJ_JOINT, j, f"{key}.joints") for j in arm["joints"]]
        lower, upper = _bounds(raw, ids)
        if "home" in arm:
            given_home.add(name)
        arm.setdefault("home", [round(float(v), 4) for v in np.clip(0.0, lower, upper)])   # placeholder until derived
    provisional = from_mapping(RobotConfig, values)
    model = build_model(provisional)
    infos = [_arm_info(model, arm) for arm in provisional.arms]
    gripper_bodies = {b for info in infos for b in _subtree(model, int(model.site_bodyid[info.site]))}
    scratch = _Scratch(model, gripper_bodies)
    rng = np.random.default_rng(seed)
    q0 = model.qpos0.copy()
    for info, arm in zip(infos, provisional.arms):
        q0[info.qpos] = arm.home
    samples = np.repeat(q0[None], SAMPLES, axis=0)
    for info in infos:
        samples[:, info.qpos] = rng.uniform(info.lower, info.upper, (SAMPLES, len(info.qpos)))
    touching: dict[tuple[int, int], int] = {}
    extension = {info.name: 0.0 for info in infos}
    for q in samples:
        scratch.set(q)
        for pair in scratch.touching():
            touching[pair] = touching.get(pair, 0) + 1
        for info in infos:
            distance = float(np.linalg.norm(scratch.data.site_xpos[info.site] - scratch.data.xpos[info.shoulder]))
            extension[info.name] = max(extension[info.name], distance)
    if "exclude_contacts" not in values:
        values["exclude_contacts"] = sorted([_body_name(model, a), _body_name(model, b)]
                                            for (a, b), n in touching.items() if n >= ALWAYS_TOUCHING * SAMPLES)
        derived.append("exclude_contacts")
        if values["exclude_contacts"]:
            model = build_model(from_mapping(RobotConfig, values))
            scratch = _Scratch(model, gripper_bodies)
    longest = max(extension.values())
    if "jacobian_length" not in values:
        values["jacobian_length"] = round(0.25 * longest, 3)
        derived.append("jacobian_length")
    length = float(values["jacobian_length"])
    _groups(model, infos, values, derived)
    groups = {g["name"]: _colliding_geoms(model, [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, b) for b in g["bodies"]])
              for g in values.get("geom_groups", [])}
    watched = [(groups[a], groups[b]) for a, b in values.get("collision_pairs", []) if a in groups and b in groups]
    report = Derivation(values=values, derived=derived)
    mount = rpy_to_matrix(mounting_rpy)
    home_q = q0.copy()
    for k, (info, arm) in enumerate(zip(infos, arms)):
        key = f"arms.{info.name}"
        later = {b for other in infos[k + 1:] if other.name not in given_home for b in other.moving}
        for field_name, value in (("max_reach", round(MAX_REACH_FRACTION * extension[info.name], 3)),
                                  ("reach", round(REACH_FRACTION * extension[info.name], 3))):
            if field_name not in arm:
                arm[field_name] = value
                derived.append(f"{key}.{field_name}")
        side = 1.0 if arm["operator_side"] == "right" else -1.0
        relaxed = mount @ (RELAXED_HAND * np.array([side, 1.0, 1.0]))
        scale = float(arm["reach"]) / OPERATOR_ARM_M
        if info.name in given_home:
            home_q[info.qpos] = arm["home"]
        else:
            scratch.set(home_q)
            target = scratch.data.xpos[info.shoulder] + scale * relaxed
            home_q[info.qpos] = _search_home(scratch, info, home_q, target, extension[info.name], length, watched, rng, later)
            arm["home"] = [round(float(v), 4) for v in home_q[info.qpos]]
            derived.append(f"{key}.home")
        scratch.set(home_q)
        report.home_condition[info.name] = round(scratch.condition(info.site, info.dofs, length), 3)
        ee_position = scratch.data.site_xpos[info.site].copy()
        ee_rotation = scratch.data.site_xmat[info.site].reshape(3, 3)
        base_position, base_rotation = scratch.data.xpos[info.base], scratch.data.xmat[info.base].reshape(3, 3)
        if "anchor" not in arm:
            arm["anchor"] = [round(float(v), 4) for v in base_rotation.T @ (ee_position - scale * relaxed - base_position)]
            derived.append(f"{key}.anchor")
        if "hand_to_ee_rpy" not in arm:
            arm["hand_to_ee_rpy"] = matrix_to_rpy((mount @ HAND_NEUTRAL).T @ ee_rotation)
            derived.append(f"{key}.hand_to_ee_rpy")
    scratch.set(home_q)
    for info in infos:
        mine = [(a, b) for a, b in watched if set(a) & set(_colliding_geoms(model, info.moving)) or set(b) & set(_colliding_geoms(model, info.moving))]
        report.home_clearance_m[info.name] = round(min([scratch.clearance(a, b, 1.0) for a, b in mine] or [1.0]), 4)
    _singularity(scratch, infos, samples, home_q, length, values, derived, report)
    return report


def _velocity_limits(model: str, attach: tuple[Attachment, ...]) -> dict[str, float]:
    """Joint name (as in the composed model: attached parts prefixed) -> the URDF's velocity limit."""
    limits = urdf_velocity_limits(model) if model else {}
    for k, part in enumerate(attach):
        limits.update({part.prefix + name: v for name, v in urdf_velocity_limits(part.model, f"attach[{k}].model").items()})
    return limits


def _arm_info(model: mujoco.MjModel, arm) -> _ArmInfo:
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in arm.joints]
    lower, upper = _bounds(model, ids)
    base = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, arm.base_frame)
    bodies = [int(model.jnt_bodyid[j]) for j in ids]
    path, body = [], bodies[0]
    while body not in (base, 0):
        body = int(model.body_parentid[body])
        path.append(body)
    wrist = bodies[max(0, len(bodies) - 3)] if len(bodies) >= 5 else bodies[-1]
    return _ArmInfo(name=arm.name, joints=ids, qpos=model.jnt_qposadr[ids].copy(), dofs=model.jnt_dofadr[ids].copy(),
                    lower=lower, upper=upper, site=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, arm.ee_frame),
                    base=base, shoulder=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, arm.shoulder_frame),
                    moving=_subtree(model, bodies[0]), proximal=[base, *path, bodies[0]], distal=_subtree(model, wrist))


def _groups(model: mujoco.MjModel, infos: list[_ArmInfo], values: dict, derived: list[str]) -> None:
    """Wrist+hand vs base+first link, vs the environment, vs the other arms."""
    if "geom_groups" in values and "collision_pairs" in values:
        return
    robot = {b for info in infos for b in (*info.moving, info.base)}
    environment = [b for b in range(1, model.nbody) if b not in robot and _colliding(model, b)
                   and model.body_weldid[b] == 0]
    groups, pairs = [], []

    def group(name: str, bodies: list[int]) -> bool:
        bodies = [b for b in dict.fromkeys(bodies) if _colliding(model, b)]
        if bodies:
            groups.append({"name": name, "bodies": [_body_name(model, b) for b in bodies]})
        return bool(bodies)

    has_environment = group("environment", environment)
    for info in infos:
        distal, proximal = group(f"{info.name}_distal", info.distal), group(f"{info.name}_proximal", info.proximal)
        if distal and proximal:
            pairs.append([f"{info.name}_distal", f"{info.name}_proximal"])
        if distal and has_environment:
            pairs.append([f"{info.name}_distal", "environment"])
        group(f"{info.name}_all", info.moving)
    for a, b in zip(infos, infos[1:]):
        if any(g["name"] == f"{a.name}_all" for g in groups) and any(g["name"] == f"{b.name}_all" for g in groups):
            pairs.append([f"{a.name}_all", f"{b.name}_all"])
    used = {n for pair in pairs for n in pair}
    values.setdefault("geom_groups", [g for g in groups if g["name"] in used])
    values.setdefault("collision_pairs", pairs)
    derived += ["geom_groups", "collision_pairs"]


def _home_cost(scratch: _Scratch, info: _ArmInfo, target: np.ndarray, extension: float, length: float,
               watched: list, q_arm: np.ndarray, later: set[int]) -> float:
    """Lower is better; inf if in contact or closer than HOME_CLEARANCE_M on a watched pair (arms whose
    home comes later, bodies `later`, do not count)."""
    if any(a not in later and b not in later for a, b in scratch.touching()):
        return math.inf
    mine = set(_colliding_geoms(scratch.model, info.moving))
    skip = set(_colliding_geoms(scratch.model, later))
    for a, b in watched:
        a, b = [g for g in a if g not in skip], [g for g in b if g not in skip]
        if (mine & set(a) or mine & set(b)) and scratch.clearance(a, b, HOME_CLEARANCE_M) < HOME_CLEARANCE_M:
            return math.inf
    condition = scratch.condition(info.site, info.dofs, length)
    middle, half = 0.5 * (info.lower + info.upper), 0.5 * (info.upper - info.lower)
    comfort = float(np.mean(((q_arm - middle) / half) ** 2))
    distance = float(np.linalg.norm(scratch.data.site_xpos[info.site] - target)) / extension
    return 6.0 * distance + 2.0 * comfort + 0.5 * math.log(condition)


def _search_home(scratch: _Scratch, info: _ArmInfo, q: np.ndarray, target: np.ndarray, extension: float,
                 length: float, watched: list, rng: np.random.Generator, later: set[int]) -> np.ndarray:
    """Random candidates (the mid-range one first), then coordinate descent from the best."""
    q = q.copy()

    def cost(q_arm: np.ndarray) -> float:
        q[info.qpos] = q_arm
        scratch.set(q)
        return _home_cost(scratch, info, target, extension, length, watched, q_arm, later)

    candidates = [0.5 * (info.lower + info.upper), np.clip(0.0, info.lower, info.upper)]
    candidates += list(rng.uniform(info.lower, info.upper, (600, len(info.qpos))))
    scored = sorted(((cost(c), k) for k, c in enumerate(candidates)), key=lambda t: t[0])
    best_cost, best = scored[0][0], candidates[scored[0][1]].copy()
    if not math.isfinite(best_cost):
        raise ConfigError(f"arms.{info.name}.home", "none found", "a collision-free configuration: give home in the YAML")
    step = 0.2
    while step > 0.005:
        improved = False
        for j in range(len(best)):
            for sign in (1.0, -1.0):
                trial = best.copy()
                trial[j] = np.clip(trial[j] + sign * step, info.lower[j], info.upper[j])
                value = cost(trial)
                if value < best_cost - 1e-9:
                    best, best_cost, improved = trial, value, True
        if not improved:
            step *= 0.5
    return best


def _singularity(scratch: _Scratch, infos: list[_ArmInfo], samples: np.ndarray, home: np.ndarray, length: float,
                 values: dict, derived: list[str], report: Derivation) -> None:
    """slow: 4x the worst home condition, at least the samples' 75th percentile; stop: twice slow."""
    if "singularity_slow" in values and "singularity_stop" in values:
        return
    conditions = []
    for q in samples[: SAMPLES // 2]:
        scratch.set(q)
        conditions += [scratch.condition(info.site, info.dofs, length) for info in infos]
    finite = [c for c in conditions if math.isfinite(c)]
    slow = max(4.0 * max(report.home_condition.values()), float(np.percentile(finite, 75)) if finite else 0.0)
    values.setdefault("singularity_slow", round(slow, 1))
    values.setdefault("singularity_stop", round(2.0 * float(values["singularity_slow"]), 1))
    derived += ["singularity_slow", "singularity_stop"]
