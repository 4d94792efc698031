"""Checkpoints in a safe format: tensors and plain metadata only, read with `weights_only=True`.

A checkpoint holds the network's architecture (`NetSpec` as plain data), its weights, and for
training checkpoints the optimizer state, iteration and loss history, so training resumes exactly.
Anything else (a corrupt file, a foreign pickle, weights that do not fit the architecture) is a
`CheckpointError` that says what is wrong.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from whole_body_pose.dope.network import DopeNet, NetSpec

FORMAT = "whole_body_pose.dope/1"


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the network it describes."""


def save(path: str | Path, net: DopeNet, **extra: Any) -> None:
    """Write atomically (a crash mid-write never leaves a truncated checkpoint behind)."""
    path = Path(path)
    payload = {"format": FORMAT, "spec": net.spec.to_meta(),
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}, **extra}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def read(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, loaded without executing code from the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, OSError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt, truncated or not saved with "
                              f"tensors and plain data only): {str(error).splitlines()[0]}") from error
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: expected a dictionary, got {type(payload).__name__}")
    return payload


def load_weights(net: DopeNet, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Load weights, naming every missing, unexpected or wrongly shaped tensor on failure."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state_dict[k].shape)} vs network {tuple(own[k].shape)}"
                    for k in set(own) & set(state_dict) if state_dict[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        parts = [f"{name} ({len(keys)}): {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                 for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)) if keys]
        raise CheckpointError(f"{source}: weights do not match the network; " + "; ".join(parts))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()})


def load(path: str | Path) -> tuple[DopeNet, dict[str, Any]]:
    """The network stored in one of our checkpoints (eval mode) and the checkpoint's contents."""
    payload = read(path)
    return from_payload(payload, str(path)), payload


def from_payload(payload: dict[str, Any], source: str) -> DopeNet:
    """The network (eval mode) of an already read checkpoint of ours; `source` names it in errors."""
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"{source}: format {payload.get('format')!r}, expected {FORMAT!r} "
                              "(public DOPE checkpoints load with whole_body_pose.dope.official)")
    try:
        spec = NetSpec.from_meta(payload["spec"])
        net = DopeNet(spec)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: invalid network description: {error}") from error
    load_weights(net, payload.get("state_dict", {}), source)
    return net.eval()
