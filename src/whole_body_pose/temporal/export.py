"""Export a trained temporal model to ONNX (dynamic batch, fixed window) with its sha256 and spec."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from whole_body_pose.models import sha256_of
from whole_body_pose.temporal.model import INPUTS, OUTPUTS, PoseBert
from whole_body_pose.temporal.refiner import MANIFEST


def export(net: PoseBert, path: Path) -> str:
    """Write `net` as ONNX at `path` (checked against torch on a random batch); returns its sha256."""
    net = net.eval().cpu()
    spec = net.spec
    example = (torch.randn(2, spec.window, spec.joints, 3), torch.ones(2, spec.window, spec.joints),
               torch.linspace(0.5, 0.0, spec.window).repeat(2, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, example, str(path), input_names=list(INPUTS), output_names=list(OUTPUTS),
                          dynamic_axes={name: {0: "batch"} for name in (*INPUTS, *OUTPUTS)},
                          opset_version=17, dynamo=False)
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: t.numpy() for name, t in zip(INPUTS, example)})[0]
    with torch.no_grad():
        want = net(*example).numpy()
    if not np.allclose(got, want, atol=1e-4):
        raise RuntimeError(f"ONNX export of {path.name} disagrees with torch by {np.abs(got - want).max():.2e}")
    return sha256_of(path)


def write_manifest(entries: dict[str, dict]) -> None:
    """Merge `entries` ({model: {file, sha256, spec, command, ...}}) into weights/manifest.json."""
    current = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    current.update(entries)
    MANIFEST.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
