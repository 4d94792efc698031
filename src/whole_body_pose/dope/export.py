"""Export a DOPE network to ONNX for the inference runtimes (ONNX Runtime, TensorRT).

The graph takes fixed-size images (batch, 3, H, W), float RGB in [0, 1], and contains everything up
to the per-part best-class poses (proposals, parallel NMS, RoIAlign as MatMuls, decoding);
merging and the pose module run in the shared numpy post-processing.  The network description
(`NetSpec`) travels in the file's metadata, so a model file alone is enough to run it.

    python -m whole_body_pose.dope.export CHECKPOINT --out dope.onnx [--size 320 240] [--proposals 50]
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from whole_body_pose.dope.loading import load_network
from whole_body_pose.dope.network import OUTPUT_NAMES, DopeNet, NetSpec, with_proposals
from whole_body_pose.models import BATCH_DIM, INPUT_NAME, OPSET

SPEC_KEY = "dope_spec"


class ModelMetadataError(ValueError):
    """An ONNX file without (valid) DOPE metadata."""


def export_onnx(net: DopeNet, path: str | Path, width: int, height: int, num_proposals: int | None = None) -> Path:
    """Write `net` (optionally with another proposal count) as ONNX at `path`."""
    path = Path(path)
    exported = net if num_proposals is None else with_proposals(net, num_proposals)
    exported.eval()
    spec = exported.spec
    dummy = torch.rand(1, 3, height, width)
    with torch.no_grad(), warnings.catch_warnings():
        # the trace fixes the input size on purpose (static shapes for TensorRT); silence its notices
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(exported, (dummy,), str(path), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          opset_version=OPSET, dynamo=False, do_constant_folding=True,
                          dynamic_axes={name: {0: BATCH_DIM} for name in (INPUT_NAME, *OUTPUT_NAMES)})
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = SPEC_KEY, json.dumps(spec.to_meta())
    onnx.save(model, str(path))
    return path


def read_spec(path: str | Path) -> tuple[NetSpec, int, int]:
    """The network description and input (width, height) of an exported model."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:   # onnx raises several unrelated types for unreadable files
        raise ModelMetadataError(f"{path}: not a readable ONNX file ({error})") from error
    meta = {p.key: p.value for p in model.metadata_props}
    if SPEC_KEY not in meta:
        raise ModelMetadataError(f"{path}: no '{SPEC_KEY}' metadata; export it with whole_body_pose.dope.export")
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return NetSpec.from_meta(json.loads(meta[SPEC_KEY])), int(dims[3]), int(dims[2])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m whole_body_pose.dope.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="our training checkpoint or a public DOPE checkpoint")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--proposals", type=int, default=None, help="proposals kept per image (default: the checkpoint's)")
    args = parser.parse_args(argv)
    net = load_network(args.checkpoint)
    export_onnx(net, args.out, *args.size, args.proposals)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
