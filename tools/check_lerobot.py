"""Run inside a LeRobot 0.6.1 venv (tools/check_lerobot.sh builds it): our export, used by LeRobot itself.

    python tools/check_lerobot.py EXPORT_DIR WORK_DIR [--install-s N]

1. load: LeRobotDataset opens the export; frame count and features as info.json says;
2. decode: every video frame is decoded by LeRobot (PyAV backend) at its timestamp;
3. resume: LeRobotDataset.resume appends an episode (frames of the export) and the result reloads;
4. aggregate: a dataset LeRobot records itself (LeRobotDataset.create, same features) aggregates with ours;
5. train: `lerobot-train` runs 10 steps of ACT on the export (CPU, backbone without downloaded weights).
Figures (seconds, counts, the training losses) as JSON on the last line; exit status 1 on a failed check.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from lerobot.datasets.aggregate import aggregate_datasets
from lerobot.datasets.lerobot_dataset import LeRobotDataset

BACKEND = "pyav"        # torchcodec needs system FFmpeg libraries
IMAGE_KEY = "observation.images.camera"


def _uint8_image(tensor) -> np.ndarray:  # noqa: ANN001 - a torch tensor (C, H, W) in [0, 1]
    return (tensor.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _frames(dataset: LeRobotDataset, count: int) -> list[dict]:
    """The first `count` frames of `dataset` as add_frame wants them."""
    frames = []
    for index in range(count):
        item = dataset[index]
        frames.append({IMAGE_KEY: _uint8_image(item[IMAGE_KEY]),
                       "observation.state": item["observation.state"].numpy().astype(np.float32),
                       "action": item["action"].numpy().astype(np.float32), "task": item["task"]})
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--install-s", type=float, default=float("nan"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    figures: dict = {"lerobot_venv_install_s": args.install_s}
    info = json.loads((args.export / "meta" / "info.json").read_text())

    started = time.perf_counter()
    ours = LeRobotDataset("local/teleop_export", root=args.export, video_backend=BACKEND)
    figures["load_s"] = time.perf_counter() - started
    assert len(ours) == info["total_frames"] and ours.meta.total_episodes == info["total_episodes"], len(ours)
    figures.update(frames=len(ours), episodes=ours.meta.total_episodes, fps=ours.fps,
                   video_codec=ours.meta.features[IMAGE_KEY]["info"]["video.codec"])

    started = time.perf_counter()
    height, width = info["features"][IMAGE_KEY]["shape"][:2]
    for index in range(len(ours)):
        image = ours[index][IMAGE_KEY]
        assert tuple(image.shape) == (3, height, width) and float(image.std()) > 0.01, (index, image.shape)
    figures["decode_all_s"] = time.perf_counter() - started
    figures["decode_fps"] = len(ours) / figures["decode_all_s"]

    # resume: a copy of the export gets one more episode (LeRobot's writer), then reloads whole
    resumed_root = args.work / "resumed"
    shutil.copytree(args.export, resumed_root)
    started = time.perf_counter()
    resumed = LeRobotDataset.resume("local/teleop_resumed", root=resumed_root, video_backend=BACKEND)
    extra = _frames(ours, 20)
    for frame in extra:
        resumed.add_frame(frame)
    resumed.save_episode()
    resumed.finalize()
    reloaded = LeRobotDataset("local/teleop_resumed", root=resumed_root, video_backend=BACKEND)
    figures["resume_s"] = time.perf_counter() - started
    assert reloaded.meta.total_episodes == ours.meta.total_episodes + 1 and len(reloaded) == len(ours) + 20
    assert tuple(reloaded[len(reloaded) - 1][IMAGE_KEY].shape) == (3, height, width)

    # a dataset LeRobot records itself, with the same features, aggregated with ours
    recorded_root = args.work / "recorded_by_lerobot"
    features = {key: {k: v for k, v in feature.items() if k != "info"} for key, feature in info["features"].items()
                if key in (IMAGE_KEY, "observation.state", "action")}
    recorded = LeRobotDataset.create("local/recorded_by_lerobot", fps=info["fps"], features=features,
                                     root=recorded_root, robot_type=info["robot_type"], use_videos=True)
    for frame in _frames(ours, 30):
        recorded.add_frame({**frame, "task": "recorded by LeRobot"})
    recorded.save_episode()
    recorded.finalize()
    figures["lerobot_recorded_codec"] = recorded.meta.features[IMAGE_KEY]["info"]["video.codec"]
    started = time.perf_counter()
    aggregated_root = args.work / "aggregated"
    aggregate_datasets(["local/teleop_export", "local/recorded_by_lerobot"], "local/aggregated",
                       roots=[args.export, recorded_root], aggr_root=aggregated_root)
    aggregated = LeRobotDataset("local/aggregated", root=aggregated_root, video_backend=BACKEND)
    figures["aggregate_s"] = time.perf_counter() - started
    assert aggregated.meta.total_episodes == ours.meta.total_episodes + 1 and len(aggregated) == len(ours) + 30
    assert tuple(aggregated[len(aggregated) - 1][IMAGE_KEY].shape) == (3, height, width)
    figures["aggregated_frames"] = len(aggregated)

    # 10 training steps of ACT
    lerobot_train = Path(sys.executable).parent / "lerobot-train"
    started = time.perf_counter()
    result = subprocess.run(
        [str(lerobot_train), "--dataset.repo_id=local/teleop_export", f"--dataset.root={args.export}",
         f"--dataset.video_backend={BACKEND}", "--policy.type=act", "--policy.device=cpu",
         "--policy.push_to_hub=false", "--policy.pretrained_backbone_weights=null", "--steps=10", "--batch_size=4",
         "--num_workers=0", "--log_freq=1", "--save_checkpoint=false", "--wandb.enable=false",
         f"--output_dir={args.work / 'train_act'}"],
        capture_output=True, text=True, timeout=3600)
    figures["train_act_10_steps_s"] = time.perf_counter() - started
    log = result.stdout + result.stderr
    losses = [float(v) for v in re.findall(r"\bloss:([0-9.]+)", log)]
    figures["train_act_losses"] = losses
    if result.returncode != 0 or not losses or not all(np.isfinite(losses)):
        print(log[-4000:], file=sys.stderr)
        print(json.dumps({**figures, "ok": False}))
        return 1
    print(json.dumps({**figures, "ok": True}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
