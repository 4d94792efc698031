"""Distil the part experts into one DOPE network, trained on the user's own footage.

    python -m whole_body_pose.dope.distill IMAGES_OR_VIDEOS... --out DIR [--variant small] [--iterations N]

1. The experts (our estimator pipeline) run once over the frames; their poses are cached as pseudo
   ground truth in DIR/pseudo_gt.npz with the letterboxed frames, the anchor poses (k-means over
   the 3D poses) and the soft targets.  A later run with the same DIR reuses the cache.
2. Training minimises L_RPN + sum_parts (L_cls + L_reg + L_dist), learning rate divided by 10 at
   60 % and 90 % of the iterations (the paper's 30/45 of 50 epochs), weight decay 1e-4, with a
   progress bar showing the losses.  The paper's SGD (momentum 0.9, lr 0.02) is `--optimizer sgd`;
   the default AdamW converges faster from scratch (no ImageNet weights are available here).
3. DIR/last.pt is written every --checkpoint-every iterations and at the end (tensors and plain
   data only); --resume continues from it.  DIR/log.jsonl has the loss of every iteration.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from teleop_common.frame_sources import BadFrameError, CameraSourceError
from whole_body_pose.dope import checkpoint
from whole_body_pose.dope.batches import make_batch
from whole_body_pose.dope.frames import iter_frames
from whole_body_pose.dope.losses import LossSettings, dope_losses
from whole_body_pose.dope.network import DopeNet, NetSpec
from whole_body_pose.dope.parts import OURS, PART_NAMES
from whole_body_pose.dope.pseudo_gt import Expert, PseudoGT, PseudoGTError, attach_targets, collect
from whole_body_pose.dope.teacher import pipeline_teacher

CACHE_NAME = "pseudo_gt.npz"
LAST_NAME = "last.pt"
LOG_NAME = "log.jsonl"

# Backbone width and blocks per stage: ResNet-50 as in the paper, and a small one for CPU training/tests.
VARIANTS: dict[str, tuple[int, tuple[int, ...]]] = {"resnet50": (64, (3, 4, 6, 3)), "small": (16, (1, 1, 1, 1))}


DEFAULT_LR = {"adamw": 1e-3, "sgd": 0.02}


@dataclass
class TrainSettings:
    iterations: int = 2000
    batch_size: int = 4
    optimizer: str = "adamw"                      # "sgd" is the paper's (from ImageNet weights); from scratch
    lr: float = 1e-3                              # AdamW reached 10 px vs SGD's 15 px in 150 iterations here
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[float, ...] = (0.6, 0.9)   # fractions of the iterations where lr /= 10
    warmup: int = 100                             # iterations of linear warm-up (training from scratch)
    grad_clip: float = 10.0
    augment: float = 0.1
    checkpoint_every: int = 500
    seed: int = 0
    threads: int = 2


def make_spec(variant: str, anchors: dict[str, np.ndarray], **overrides) -> NetSpec:
    """Architecture for a variant whose anchor poses were fitted on the pseudo ground truth."""
    width, blocks = VARIANTS[variant]
    spec = NetSpec(width=width, blocks=blocks, num_anchor_poses={p: len(a) for p, a in anchors.items()},
                   joints=dict(OURS), rpn_sizes=(16, 32, 64, 128, 256), pre_nms_top_n=300, post_nms_top_n=50,
                   reg_weight_3d={"body": 5.0, "hand": 50.0, "face": 50.0})
    return dataclasses.replace(spec, **overrides)


def build_pseudo_gt(inputs: Sequence[str], expert: Expert, width: int, height: int, num_anchor_poses: dict[str, int],
                    video_step: int = 1, max_frames: int | None = None, progress: bool = True) -> tuple[PseudoGT, dict]:
    """Run the experts over the inputs and fit anchors and targets (the cached step)."""
    frames = iter_frames(inputs, video_step, max_frames)
    gt = collect(frames, expert, width, height, dict(OURS),
                 progress=lambda it: tqdm(it, desc="experts", unit="frame", disable=not progress))
    anchors = attach_targets(gt, num_anchor_poses)
    return gt, anchors


def _lr(settings: TrainSettings, iteration: int) -> float:
    decay = sum(iteration >= int(m * settings.iterations) for m in settings.milestones)
    warm = min(1.0, (iteration + 1) / max(settings.warmup, 1))
    return settings.lr * warm * 0.1 ** decay


def make_optimizer(net: DopeNet, settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum,
                               weight_decay=settings.weight_decay)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; accepted: sgd | adamw")


def new_network(spec: NetSpec, anchors: dict[str, np.ndarray], seed: int) -> DopeNet:
    torch.manual_seed(seed)
    net = DopeNet(spec)
    for part in PART_NAMES:
        net.roi_heads.anchor_poses(part).copy_(torch.from_numpy(anchors[part]))
    return net


def train(gt: PseudoGT, net: DopeNet, settings: TrainSettings, out_dir: Path, resume: bool = False,
          device: str = "cpu", progress: bool = True, loss_settings: LossSettings | None = None) -> list[float]:
    """Train `net` on the pseudo ground truth; returns the total loss of every iteration run."""
    torch.set_num_threads(settings.threads)
    loss_settings = loss_settings or LossSettings()
    out_dir.mkdir(parents=True, exist_ok=True)
    net.to(device).train()
    optimizer = make_optimizer(net, settings)
    start, history = 0, []
    last = out_dir / LAST_NAME
    if resume and last.exists():
        resumed, payload = checkpoint.load(last)
        if resumed.spec != net.spec:
            raise checkpoint.CheckpointError(f"{last}: trained with another architecture; use another --out")
        net.load_state_dict(resumed.state_dict())
        optimizer.load_state_dict(payload["optimizer"])
        start, history = int(payload["iteration"]), list(payload["losses"])
    frames_with_parts = np.unique(np.concatenate([gt.parts[p].frame for p in PART_NAMES]))
    if len(frames_with_parts) == 0:
        raise PseudoGTError("the experts found no body, hand or face in the training frames")
    log = (out_dir / LOG_NAME).open("a", buffering=1)   # line-buffered: follow it with tail -f
    bar = tqdm(range(start, settings.iterations), initial=start, total=settings.iterations, desc="distil",
               disable=not progress, dynamic_ncols=True)
    first_of_run = len(history)
    try:
        for iteration in bar:
            rng = np.random.default_rng((settings.seed, iteration))
            generator = torch.Generator(device=device).manual_seed(settings.seed * 1_000_003 + iteration)
            frames = rng.choice(frames_with_parts, size=settings.batch_size, replace=len(frames_with_parts) < settings.batch_size)
            batch = make_batch(gt, frames, rng, settings.augment).to(torch.device(device))
            lr = _lr(settings, iteration)
            for group in optimizer.param_groups:
                group["lr"] = lr
            terms = dope_losses(net, batch, loss_settings, generator)
            total = torch.stack(list(terms.values())).sum()
            if not torch.isfinite(total):
                raise FloatingPointError(f"non-finite loss at iteration {iteration}: "
                                         f"{ {k: float(v) for k, v in terms.items()} }; lower --lr")
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), settings.grad_clip)
            optimizer.step()
            values = {k: float(v.detach()) for k, v in terms.items()}
            history.append(float(total.detach()))
            log.write(json.dumps({"iteration": iteration, "loss": history[-1], "lr": lr, **values}) + "\n")
            bar.set_postfix(loss=f"{history[-1]:.3f}", rpn=f"{values['rpn_cls'] + values['rpn_box']:.3f}",
                            body=f"{values['body_reg']:.3f}", hand=f"{values['hand_reg']:.3f}", face=f"{values['face_reg']:.3f}")
            done = iteration + 1
            if done % settings.checkpoint_every == 0 or done == settings.iterations:
                checkpoint.save(last, net, optimizer=optimizer.state_dict(), iteration=done, losses=history,
                                train=_plain(dataclasses.asdict(settings)))
    finally:
        log.close()
        bar.close()
    return history[first_of_run:]


def _plain(value):
    """JSON-like data only (tuples to lists), so the checkpoint loads with weights_only=True."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(argv)
    except (checkpoint.CheckpointError, PseudoGTError, CameraSourceError, BadFrameError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m whole_body_pose.dope.distill", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="images, folders of images/videos, videos")
    parser.add_argument("--out", required=True, type=Path, help="output folder (cache, checkpoints, log)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="small")
    parser.add_argument("--input-size", type=int, nargs=2, default=(320, 240), metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--anchors", type=int, nargs=3, default=(10, 5, 5), metavar=("BODY", "HAND", "FACE"),
                        help="anchor poses per part (hands: per side)")
    parser.add_argument("--video-step", type=int, default=5, help="use every N-th video frame")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--expert-config", default=None, help="pose node parameter file for the experts")
    parser.add_argument("--iterations", type=int, default=TrainSettings.iterations)
    parser.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    parser.add_argument("--optimizer", choices=("sgd", "adamw"), default=TrainSettings.optimizer)
    parser.add_argument("--lr", type=float, default=None, help=f"default {DEFAULT_LR}")
    parser.add_argument("--augment", type=float, default=TrainSettings.augment)
    parser.add_argument("--checkpoint-every", type=int, default=TrainSettings.checkpoint_every)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resume", action="store_true", help=f"continue from OUT/{LAST_NAME}")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / CACHE_NAME
    num_anchors = dict(zip(PART_NAMES, args.anchors))
    width, height = args.input_size
    if cache.exists():
        gt = PseudoGT.load(cache)
        if gt.images.shape[1:3] != (height, width):
            parser.error(f"{cache} holds {gt.images.shape[2]}x{gt.images.shape[1]} frames; use that --input-size or another --out")
        anchors = gt.anchors
        if anchors is None or gt.anchor_request != num_anchors:
            anchors = attach_targets(gt, num_anchors)
            gt.save(cache)
    else:
        gt, anchors = build_pseudo_gt(args.inputs, pipeline_teacher(args.expert_config), width, height, num_anchors,
                                      args.video_step, args.max_frames, not args.no_progress)
        gt.save(cache)
    print(f"pseudo ground truth: {len(gt.images)} frames, " +
          ", ".join(f"{len(gt.parts[p])} {p}" for p in PART_NAMES), file=sys.stderr)
    settings = TrainSettings(iterations=args.iterations, batch_size=args.batch_size, optimizer=args.optimizer,
                             lr=args.lr or DEFAULT_LR[args.optimizer], augment=args.augment,
                             checkpoint_every=args.checkpoint_every, seed=args.seed, threads=args.threads)
    net = new_network(make_spec(args.variant, anchors), anchors, args.seed)
    started = time.monotonic()
    losses = train(gt, net, settings, args.out, args.resume, args.device, not args.no_progress)
    summary = {"iterations": settings.iterations, "seconds": round(time.monotonic() - started, 1),
               "loss_start": losses[0] if losses else None, "loss_end": float(np.mean(losses[-10:])) if losses else None,
               "checkpoint": str(args.out / LAST_NAME)}
    print(json.dumps(summary))
    return 0 if losses or args.resume else 1


if __name__ == "__main__":
    sys.exit(main())
