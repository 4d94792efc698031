"""Train the temporal models on procedural motion and export them to ONNX.

    python -m whole_body_pose.temporal.train --model body --steps 3000 [--device cuda] [--export]

Batches are generated on the fly (worker processes; no data set on disk).  A checkpoint is written
every `--save-every` steps and at the end, and training resumes from it (same run directory) when
started again.  `--export` writes <weights>/posebert_<model>.onnx and records its sha256, spec and
the command in weights/manifest.json.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from whole_body_pose.temporal import data
from whole_body_pose.temporal.export import export, write_manifest
from whole_body_pose.temporal.refiner import WEIGHTS_DIR
from whole_body_pose.temporal.model import ModelSpec, PoseBert

REPO = Path(__file__).resolve().parents[3]
ACCEL_WEIGHT = 1.0   # second differences matter: the robot follows them


REUSE = 4            # batches drawn from one motion draw (new camera, times and corruption each)


def _producer(model: str, size: int, seed: int, queue: mp.Queue) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    while True:
        path = data.paths(rng, model, size)
        for _ in range(REUSE):
            queue.put(data.batch(rng, model, size, path=path))


class Batches:
    """Training batches from `workers` processes (or inline when workers is 0)."""

    def __init__(self, model: str, size: int, workers: int, seed: int) -> None:
        self.model, self.size = model, size
        self.rng = np.random.default_rng(seed)
        self.procs: list[mp.Process] = []
        if workers:
            ctx = mp.get_context("fork")
            self.queue = ctx.Queue(maxsize=4 * workers)
            for w in range(workers):
                proc = ctx.Process(target=_producer, args=(model, size, seed * 1000 + w + 1, self.queue), daemon=True)
                proc.start()
                self.procs.append(proc)

    def next(self) -> dict[str, np.ndarray]:
        return self.queue.get() if self.procs else data.batch(self.rng, self.model, self.size)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()


def learning_rate(peak: float, progress: float) -> float:
    """Warm-up over the first 3 % of the run, then cosine decay to 2 % of the peak."""
    if progress < 0.03:
        return peak * (0.1 + 0.9 * progress / 0.03)
    return float(peak * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * (progress - 0.03) / 0.97))))


def loss_fn(out: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Position error (L1 per joint, later frames weighted more) and acceleration error."""
    t = out.shape[1]
    position = weight * torch.linspace(0.5, 1.0, t, device=out.device)
    err = (out - target).norm(dim=-1).mean(-1)                          # (B, T)
    pos = (err * position).sum() / position.sum().clamp(min=1)
    acc_out = out[:, 2:] - 2 * out[:, 1:-1] + out[:, :-2]
    acc_tgt = target[:, 2:] - 2 * target[:, 1:-1] + target[:, :-2]
    w3 = weight[:, 2:] * weight[:, :-2]
    acc = ((acc_out - acc_tgt).norm(dim=-1).mean(-1) * w3).sum() / w3.sum().clamp(min=1)
    return pos, acc


def train(args: argparse.Namespace) -> PoseBert:
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    spec = ModelSpec(joints=data.JOINTS[args.model], window=args.window, width=args.width, layers=args.layers)
    net = PoseBert(spec).to(device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    run_dir = args.run_dir / args.model
    ckpt = run_dir / "checkpoint.pt"
    step, spent = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        if state["spec"] != spec.to_dict():
            sys.exit(f"{ckpt} holds a model of spec {state['spec']}, not {spec.to_dict()}: use another --run-dir")
        net.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, spent = int(state["step"]), float(state["seconds"])
        print(f"resuming {args.model} from step {step} ({ckpt})")
    run_dir.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        torch.save({"model": net.state_dict(), "optimiser": optimiser.state_dict(),
                    "step": step, "seconds": spent + time.time() - started, "spec": spec.to_dict()}, ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)

    batches = Batches(args.model, args.batch, args.workers, args.seed + step)
    bar = tqdm(total=args.steps, initial=step, desc=f"train {args.model}", unit="step", file=sys.stdout,
               mininterval=2.0)
    started = time.time()
    try:
        while True:
            progress = step / args.steps
            if args.max_minutes:
                progress = max(progress, (spent + time.time() - started) / (args.max_minutes * 60))
            if progress >= 1.0:
                break
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(args.lr, progress)
            b = {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batches.next().items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = net(b["poses"], b["valid"], b["age"])
            pos, acc = loss_fn(out.float(), b["target"], b["weight"])
            loss = pos + ACCEL_WEIGHT * acc
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
            step += 1
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(pos=f"{pos.item():.4f}", acc=f"{acc.item():.4f}")
            if step % args.save_every == 0:
                save()
        save()
    finally:
        bar.close()
        batches.close()
    return net


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m whole_body_pose.temporal.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=data.MODELS, required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="batch-generating processes (0 = inline)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="also end after this much training time (the learning-rate schedule follows "
                             "whichever of steps and time runs out first); 0 = steps only")
    parser.add_argument("--run-dir", type=Path, default=REPO / ".cache" / "temporal")
    parser.add_argument("--export", action="store_true", help="write the ONNX model and its manifest entry")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    net = train(args)
    if args.export:
        path = args.weights_dir / f"posebert_{args.model}.onnx"
        digest = export(net, path)
        command = "python -m whole_body_pose.temporal.train " + shlex.join(argv if argv is not None else sys.argv[1:])
        if args.weights_dir == WEIGHTS_DIR:
            write_manifest({args.model: {"file": path.name, "sha256": digest, "spec": net.spec.to_dict(),
                                         "command": command}})
        print(f"exported {path} sha256 {digest}")


if __name__ == "__main__":
    main()
