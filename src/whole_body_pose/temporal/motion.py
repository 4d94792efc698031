"""Procedural motion for training: arm/torso/leg chains and hands, metric, vectorised over sequences.

No motion capture is used for training.  Every joint angle follows minimum-jerk moves between
random targets within joint limits (the velocity profile of human reaching), with pauses and
sinusoidal sweeps on top; bone lengths vary per sequence, and the torso sways, turns and travels.
Hands run open / close / pinch / point / relaxed gesture sequences with flexion and spread
coupled the way fingers are (DIP follows PIP, spread closes as the finger curls).
Everything is sampled on a fine 120 Hz grid; `sample_times` picks camera frames from it.
"""
from __future__ import annotations

import numpy as np

FINE_HZ = 120.0


def min_jerk(targets: np.ndarray, durations: np.ndarray, n: int) -> np.ndarray:
    """(B, n, D) path through (B, S, D) targets, segment s taking durations[:, s] seconds (fine grid)."""
    b, s, _ = targets.shape
    ends = np.cumsum(durations, axis=1)                       # (B, S)
    starts = ends - durations
    t = np.arange(n) / FINE_HZ
    seg = np.minimum((t[None, :, None] >= ends[:, None, :]).sum(-1), s - 1)   # (B, n)
    rows = np.arange(b)[:, None]
    start, dur = starts[rows, seg], durations[rows, seg]
    tau = np.clip((t[None] - start) / dur, 0.0, 1.0)[..., None]
    shape = tau ** 3 * (10 - 15 * tau + 6 * tau ** 2)
    prev = np.concatenate([targets[:, :1], targets[:, :-1]], axis=1)
    return prev[rows, seg] + (targets[rows, seg] - prev[rows, seg]) * shape


def random_track(rng: np.random.Generator, b: int, n: int, low: np.ndarray, high: np.ndarray,
                 move_s: tuple[float, float] = (0.3, 1.5), pause: float = 0.25, sweep: float = 0.3) -> np.ndarray:
    """(B, n, D) joint angles: min-jerk reaches between random targets, pauses, and sweeps."""
    low, high = np.asarray(low, float), np.asarray(high, float)
    d = len(low)
    s = int(np.ceil(n / FINE_HZ / move_s[0])) + 2
    targets = rng.uniform(low, high, size=(b, s, d))
    still = rng.random((b, s, 1)) < pause
    for i in range(1, s):  # a pause holds the previous target
        targets[:, i] = np.where(still[:, i], targets[:, i - 1], targets[:, i])
    durations = rng.uniform(*move_s, size=(b, s))
    durations[:, 0] = rng.uniform(0.0, move_s[1], size=b)   # start mid-move
    path = min_jerk(targets, durations, n)
    t = np.arange(n) / FINE_HZ
    amp = (high - low) * rng.uniform(0.0, 0.25, size=(b, 1, d)) * (rng.random((b, 1, d)) < sweep)
    freq = rng.uniform(0.2, 1.5, size=(b, 1, d))
    phase = rng.uniform(0, 2 * np.pi, size=(b, 1, d))
    return np.clip(path + amp * np.sin(2 * np.pi * freq * t[None, :, None] + phase), low, high)


def rot_x(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _apply(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", r, v)


def body_motion(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """(B, n, 12, 3) limb joints (skeleton.BODY_JOINTS order) in a person frame: x left, y up, z forward."""
    u = lambda lo, hi: rng.uniform(lo, hi, size=(b, 1))  # noqa: E731 - per-sequence constants
    size = u(0.85, 1.15)
    shoulder_w, hip_w = u(0.15, 0.22) * size, u(0.07, 0.12) * size
    torso, upper, fore = u(0.42, 0.56) * size, u(0.25, 0.33) * size, u(0.22, 0.30) * size
    thigh, shin = u(0.38, 0.48) * size, u(0.36, 0.46) * size
    t = np.arange(n) / FINE_HZ

    # Root: turns (sometimes large), small tilt (sometimes acrobatic), travel at 0-1.5 m/s, bob.
    wild = rng.random((b, 1, 1)) < 0.1
    yaw = random_track(rng, b, n, [-np.pi], [np.pi], move_s=(0.5, 2.0), pause=0.5)[..., 0]
    tilt = random_track(rng, b, n, [-0.35, -0.25], [0.35, 0.25], pause=0.4)
    tilt = np.where(wild, random_track(rng, b, n, [-np.pi, -np.pi], [np.pi, np.pi], move_s=(0.6, 1.5)), tilt)
    root_r = rot_y(yaw) @ rot_x(tilt[..., 0]) @ rot_z(tilt[..., 1])
    speed = random_track(rng, b, n, [-1.5, -1.5], [1.5, 1.5], move_s=(0.5, 1.5), pause=0.5) * (rng.random((b, 1, 1)) < 0.5)
    travel = np.cumsum(speed, axis=1) / FINE_HZ
    bob = u(0.0, 0.05)[:, :, None] * np.sin(2 * np.pi * u(0.5, 2.5)[:, :, None] * t[None, :, None] + u(0, 6)[:, :, None])
    pelvis = np.concatenate([travel[..., :1], bob[..., :1] + random_track(rng, b, n, [-0.3], [0.1], pause=0.7), travel[..., 1:]], -1)

    spine = random_track(rng, b, n, [-0.2, -0.25, -0.5], [0.6, 0.25, 0.5], pause=0.4)
    chest_r = root_r @ rot_x(spine[..., 0]) @ rot_z(spine[..., 1]) @ rot_y(spine[..., 2])
    up = np.zeros((b, n, 3))
    up[..., 1] = torso
    neck = pelvis + _apply(chest_r, up)

    joints = np.zeros((b, n, 12, 3))
    for side, sign in ((0, 1.0), (1, -1.0)):  # 0 = left (+x), 1 = right
        offset = np.zeros((b, n, 3))
        offset[..., 0] = sign * shoulder_w
        shoulder = neck + _apply(chest_r, offset)
        arm = random_track(rng, b, n, [-0.8, -0.3, -1.2, 0.0], [3.0, 2.8, 1.2, 2.6])
        upper_r = chest_r @ rot_z(sign * arm[..., 1]) @ rot_x(-arm[..., 0]) @ rot_y(sign * arm[..., 2])
        bone = np.zeros((b, n, 3))
        bone[..., 1] = -upper
        elbow = shoulder + _apply(upper_r, bone)
        bone[..., 1] = -fore
        wrist = elbow + _apply(upper_r @ rot_x(-arm[..., 3]), bone)

        offset[..., 0] = sign * hip_w
        hip = pelvis + _apply(root_r, offset)
        leg = random_track(rng, b, n, [-0.4, -0.2, 0.0], [1.8, 0.7, 2.3], pause=0.5)
        gait = rng.random((b, 1)) < 0.3
        freq, phase = u(0.7, 1.6), np.pi * side
        swing = np.stack([0.5 * np.sin(2 * np.pi * freq * t + phase), np.zeros_like(t * freq),
                          0.6 * (1 + np.sin(2 * np.pi * freq * t + phase + 1.2))], -1)
        leg = np.where(gait[..., None], swing, leg * (rng.random((b, 1, 1)) < 0.6))
        thigh_r = root_r @ rot_z(sign * leg[..., 1]) @ rot_x(-leg[..., 0])
        bone[..., 1] = -thigh
        knee = hip + _apply(thigh_r, bone)
        bone[..., 1] = -shin
        ankle = knee + _apply(thigh_r @ rot_x(leg[..., 2]), bone)
        for row, point in zip((0, 2, 4, 6, 8, 10), (shoulder, elbow, wrist, hip, knee, ankle)):
            joints[:, :, row + side] = point
    return joints


# Right hand at rest, palm toward +z, fingers along +y (metres); chains of 4 joints after the wrist.
_FINGER_BASE = np.array([[-0.022, 0.085, 0.0], [0.0, 0.088, 0.0], [0.02, 0.082, 0.0], [0.038, 0.072, 0.0]])
_FINGER_LEN = np.array([[0.040, 0.024, 0.020], [0.044, 0.028, 0.022], [0.041, 0.026, 0.021], [0.032, 0.019, 0.018]])
_THUMB_CMC = np.array([-0.025, 0.022, 0.01])
_THUMB_LEN = np.array([0.040, 0.032, 0.027])
_SPREAD = np.array([-0.18, 0.0, 0.12, 0.25])

# Gestures: per finger (index, middle, ring, pinky) MCP and PIP flexion; thumb opposition and flexion.
GESTURES = {
    "open": ([0.0] * 4, [0.0] * 4, 0.1, 0.0),
    "relaxed": ([0.3, 0.35, 0.4, 0.45], [0.35, 0.4, 0.45, 0.5], 0.3, 0.2),
    "fist": ([1.45] * 4, [1.7] * 4, 0.9, 0.8),
    "point": ([0.0, 1.45, 1.45, 1.45], [0.0, 1.7, 1.7, 1.7], 0.9, 0.8),
    "pinch": ([0.55, 0.35, 0.4, 0.45], [0.65, 0.4, 0.45, 0.5], 1.0, 0.45),
    "grasp": ([0.8] * 4, [0.9] * 4, 0.9, 0.4),
}


def _hand_targets(rng: np.random.Generator, b: int, s: int) -> np.ndarray:
    """(B, S, 10) gesture targets with per-finger variation: 4 MCP, 4 PIP, thumb opposition, flexion."""
    presets = np.array([[*m, *p, o, f] for m, p, o, f in GESTURES.values()])
    pick = rng.integers(0, len(presets) + 1, size=(b, s))
    uniform = rng.uniform([0] * 8 + [0, 0], [1.6] * 4 + [1.9] * 4 + [1.2, 0.9], size=(b, s, 10))
    chosen = np.where((pick == len(presets))[..., None], uniform, presets[np.minimum(pick, len(presets) - 1)])
    return np.clip(chosen + rng.normal(0, 0.12, size=chosen.shape), 0.0, [1.7] * 4 + [2.0] * 4 + [1.3, 1.0])


def hand_motion(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """(B, n, 21, 3) right-hand joints relative to the wrist (layout.HAND_NAMES order), rotating."""
    s = int(np.ceil(n / FINE_HZ / 0.25)) + 2
    targets = _hand_targets(rng, b, s)
    hold = rng.random((b, s, 1)) < 0.3
    for i in range(1, s):
        targets[:, i] = np.where(hold[:, i], targets[:, i - 1], targets[:, i])
    durations = rng.uniform(0.25, 1.2, size=(b, s))
    durations[:, 0] = rng.uniform(0.0, 1.0, size=b)
    q = min_jerk(targets, durations, n)                               # (B, n, 10)
    size = rng.uniform(0.8, 1.2, size=(b, 1, 1, 1))
    joints = np.zeros((b, n, 21, 3))
    for f in range(4):
        mcp, pip = q[..., f], q[..., 4 + f]
        dip = 0.67 * pip
        spread = rng.uniform(0.5, 1.3, size=(b, 1)) * _SPREAD[f] * np.clip(1 - mcp / 1.5, 0, 1)
        base = size[:, :, 0] * _FINGER_BASE[f]
        point = np.broadcast_to(base, (b, n, 3)).copy()
        joints[:, :, 5 + 4 * f] = point
        flex = np.zeros_like(mcp)
        for k, angle in enumerate((mcp, pip, dip)):
            flex = flex + angle
            step = np.zeros((b, n, 3))
            step[..., 1] = size[:, :, 0, 0] * _FINGER_LEN[f, k]
            point = point + _apply(rot_z(spread) @ rot_x(flex), step)
            joints[:, :, 6 + 4 * f + k] = point
    opp, tflex = q[..., 8], q[..., 9]
    point = np.broadcast_to(size[:, :, 0] * _THUMB_CMC, (b, n, 3)).copy()
    joints[:, :, 1] = point
    direction = np.array([-0.7, 0.7, 0.0]) / np.sqrt(0.98)
    for k in range(3):
        step = size[:, :, 0, 0, None] * _THUMB_LEN[k] * direction
        r = rot_y(-opp) @ rot_z(-(k + 1) * 0.6 * tflex)
        point = point + _apply(r, np.broadcast_to(step, (b, n, 3)))
        joints[:, :, 2 + k] = point
    angles = random_track(rng, b, n, [-np.pi, -1.2, -1.2], [np.pi, 1.2, 1.2], move_s=(0.4, 1.5), pause=0.4)
    orient = rot_z(angles[..., 0]) @ rot_x(angles[..., 1]) @ rot_y(angles[..., 2])
    return np.einsum("bnij,bnkj->bnki", orient, joints)


def to_camera(rng: np.random.Generator, joints: np.ndarray, distance: tuple[float, float] = (1.2, 4.0)) -> np.ndarray:
    """Person-frame (x left, y up, z forward) joints seen by a camera in front: x right, y down, z depth."""
    b = joints.shape[0]
    view = rot_y(rng.uniform(-1.2, 1.2, b)) @ rot_x(rng.uniform(-0.35, 0.35, b)) @ rot_z(rng.uniform(-0.15, 0.15, b))
    flip = np.diag([1.0, -1.0, -1.0])
    centred = joints - joints[:, :1, :2].mean(axis=2, keepdims=True)
    cam = np.einsum("ij,bjk,bnmk->bnmi", flip, view, centred)
    cam[..., 2] += rng.uniform(*distance, size=(b, 1, 1))
    return cam


def sample_times(rng: np.random.Generator, b: int, t: int, n: int, fps: tuple[float, float] = (15.0, 30.0),
                 jitter: float = 0.2) -> np.ndarray:
    """(B, T) camera frame times (seconds, increasing, within the fine grid): 15-30 fps with jitter."""
    rate = rng.uniform(*fps, size=(b, 1))
    steps = (1.0 / rate) * (1 + rng.uniform(-jitter, jitter, size=(b, t)))
    steps[:, 0] = 0.0
    times = np.cumsum(steps, axis=1)
    span = (n - 1) / FINE_HZ
    start = rng.uniform(0, np.maximum(span - times[:, -1:], 0.0))
    return start + np.minimum(times, span)


def at_times(path: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(B, T, ...) values of fine-grid paths (B, n, ...) at `times`, linearly interpolated."""
    x = times * FINE_HZ
    i0 = np.clip(np.floor(x).astype(int), 0, path.shape[1] - 2)
    w = (x - i0).reshape(*x.shape, *([1] * (path.ndim - 2)))
    rows = np.arange(path.shape[0])[:, None]
    return path[rows, i0] * (1 - w) + path[rows, i0 + 1] * w
