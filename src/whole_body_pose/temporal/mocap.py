"""Held-back real motion capture for evaluation: DeepMimic clips (PyPI pybullet, zlib licence).

pybullet ships 15 DeepMimic motion clips (`pybullet_data/data/motions/humanoid3d_*.txt`: root
position and orientation plus local joint rotations per frame) for its humanoid
(`pybullet_data/humanoid/humanoid.urdf`, loaded at 0.25 scale).  Forward kinematics here turns
them into the 12 limb joints of the body model, in metres.  They are never used for training.

    python -m whole_body_pose.temporal.mocap PYBULLET_DATA_DIR --out test/data/deepmimic_limbs.npz

writes the joint positions once (so neither tests nor the benchmark need pybullet installed).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SCALE = 0.25  # DeepMimic loads humanoid.urdf with globalScaling 0.25
# Joint origins from humanoid.urdf (parent frame, URDF units); "right" is +z, left mirrors it.
CHEST, NECK = np.array([0, 0.944604, 0]), np.array([0, 0.895576, 0])
HIP, KNEE, ANKLE = np.array([0, 0, 0.339548]), np.array([0, -1.686184, 0]), np.array([0, -1.63948, 0])
SHOULDER, ELBOW, WRIST = np.array([-0.0962, 0.974, 0.73244]), np.array([0, -1.099152, 0]), np.array([0, -1.035788, 0])
TARGET_FPS = 30.0  # 60 fps clips are taken every other frame (camera rates)
REPEATS = 3        # looping clips are played this many cycles (root carried over)


def quat(q: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations from (N, 4) quaternions stored w, x, y, z."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
                     np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
                     np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)


def hinge(angle: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(angle), np.sin(angle), np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def forward_kinematics(frames: np.ndarray) -> np.ndarray:
    """(N, 12, 3) limb joints (skeleton.BODY_JOINTS order), world y-up metres, from (N, 44) DeepMimic frames."""
    mv = lambda r, v: np.einsum("nij,j->ni", r, v * SCALE)  # noqa: E731
    root_p, root_r = frames[:, 1:4], quat(frames[:, 4:8])
    chest_p = root_p + mv(root_r, CHEST)
    chest_r = root_r @ quat(frames[:, 8:12])
    out = np.zeros((len(frames), 12, 3))
    # side: (column offset of hip quaternion, sign of z) for right (+z) and left (-z)
    for side, (base, sign) in {1: (16, 1.0), 0: (30, -1.0)}.items():
        flip = np.array([1.0, 1.0, sign])
        shoulder = chest_p + mv(chest_r, SHOULDER * flip)
        arm_r = chest_r @ quat(frames[:, base + 9:base + 13])
        elbow = shoulder + mv(arm_r, ELBOW)
        wrist = elbow + mv(arm_r @ hinge(frames[:, base + 13]), WRIST)
        hip = root_p + mv(root_r, HIP * flip)
        leg_r = root_r @ quat(frames[:, base:base + 4])
        knee = hip + mv(leg_r, KNEE)
        ankle = knee + mv(leg_r @ hinge(frames[:, base + 4]), ANKLE)
        for row, point in zip((0, 2, 4, 6, 8, 10), (shoulder, elbow, wrist, hip, knee, ankle)):
            out[:, row + side] = point
    return out


def load_clip(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(times (N,), joints (N, 12, 3)) of one clip at <= 30 fps, looping clips repeated."""
    document = json.loads(path.read_text())
    frames = np.array(document["Frames"], dtype=np.float64)
    if document.get("Loop") == "wrap":
        cycles = [frames.copy() for _ in range(REPEATS)]
        shift = frames[-1, 1:4] - frames[0, 1:4]
        shift[1] = 0.0
        for k in range(1, REPEATS):
            cycles[k][:, 1:4] += k * shift
            cycles[k] = cycles[k][1:]  # the last frame of a cycle is the first of the next
        frames = np.concatenate(cycles)
    step = max(1, int(round(1.0 / TARGET_FPS / frames[0, 0])))
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    return times[::step], forward_kinematics(frames)[::step]


def camera_view(world: np.ndarray, yaw: float, distance: float = 3.0, height: float = 1.0) -> np.ndarray:
    """World y-up joints seen by a level camera `distance` m from the clip's mean root, turned by `yaw`."""
    centre = world[:, [6, 7]].mean(axis=(0, 1))
    c, s = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    local = (world - centre) @ turn.T
    cam = np.stack([-local[..., 0], -(local[..., 1] + centre[1] - height), local[..., 2] + distance], -1)
    return cam


def load_npz(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{clip name: (times, world joints)} from the file `main` writes."""
    stored = np.load(path)
    names = sorted({key.rsplit("/", 1)[0] for key in stored.files})
    return {name: (stored[f"{name}/times"], stored[f"{name}/joints"].astype(np.float64)) for name in names}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m whole_body_pose.temporal.mocap", description=__doc__.split("\n\n")[0])
    parser.add_argument("pybullet_data", type=Path, help="the pybullet_data folder of the pybullet wheel")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    arrays = {}
    for path in sorted((args.pybullet_data / "data" / "motions").glob("humanoid3d_*.txt")):
        times, joints = load_clip(path)
        name = path.stem.removeprefix("humanoid3d_")
        arrays[f"{name}/times"], arrays[f"{name}/joints"] = times.astype(np.float32), joints.astype(np.float32)
        print(f"{name}: {len(times)} frames, {times[-1]:.1f} s")
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
