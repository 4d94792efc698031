"""A DOPE network from any checkpoint we accept: one of ours, or a public DOPE checkpoint."""
from __future__ import annotations

from pathlib import Path

from whole_body_pose.dope import checkpoint
from whole_body_pose.dope.network import DopeNet
from whole_body_pose.dope.official import public_from_payload


def load_network(path: str | Path) -> DopeNet:
    """The network (eval mode) stored at `path`; the file is read once (a public one is a full ResNet-50)."""
    payload = checkpoint.read(path)
    if "dope_kwargs" in payload:
        return public_from_payload(payload, str(path)).net
    return checkpoint.from_payload(payload, str(path))
