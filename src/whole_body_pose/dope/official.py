"""Loader for the public DOPE checkpoints (DOPE_v1_0_0, DOPErealtime_v1_0_0 layout).

Those files are dictionaries with `state_dict` (a torchvision Faster R-CNN: ResNet-50 with frozen
batch norm, RPN head, RoI heads with a shared-ResNet block 4 and per-part predictors and anchor
poses), `dope_kwargs` (anchor counts, image sizes, RPN settings), `half` (weights stored in FP16)
and `<part>_ppi_kwargs` (settings of their proposal merging).  We map them onto `DopeNet`; the
architecture is read from the weights' shapes, which are authoritative.  The files themselves are
not redistributable here (CC BY-NC-SA) and nothing depends on them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from whole_body_pose.dope.anchors import HAND_SIDES
from whole_body_pose.dope.checkpoint import CheckpointError, load_weights, read
from whole_body_pose.dope.merge import MergeSettings
from whole_body_pose.dope.network import DopeNet, NetSpec
from whole_body_pose.dope.parts import PART_NAMES, PUBLIC, PartJoints

_BACKBONE = "backbone.resnet_backbone."
_HEAD = "roi_heads.dope_head.resnet_backbone."
_DROPPED = re.compile(r"^(backbone\.resnet_backbone\.(layer4|fc)\.|roi_heads\.dope_head\.resnet_backbone\.(?!layer4\.))")
_RPN_CONV = re.compile(r"^rpn\.head\.conv\.0\.0\.")       # newer torchvision wraps the RPN conv


@dataclass
class PublicModel:
    net: DopeNet
    merge: dict[str, MergeSettings]
    min_size: int | None          # short side the public model resizes images to
    max_size: int | None
    ignored: dict[str, Any]       # settings with no counterpart here (reported, not used)


def rename(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Public parameter names -> ours; the duplicated ResNet copies and the unused fc are dropped."""
    renamed = {}
    for key, value in state_dict.items():
        if _DROPPED.match(key):
            continue
        key = _RPN_CONV.sub("rpn.head.conv.", key)
        key = key.replace(_BACKBONE, "backbone.").replace(_HEAD, "roi_heads.dope_head.")
        renamed[key] = value
    for key in [k for k in renamed if k.endswith(".running_var")]:    # frozen BN has no counter
        renamed.setdefault(key.replace(".running_var", ".num_batches_tracked"), torch.tensor(0))
    return renamed


def _spec(state: dict[str, torch.Tensor], kwargs: dict[str, Any]) -> NetSpec:
    width = int(state["backbone.conv1.weight"].shape[0])
    blocks = tuple(1 + max(int(m.group(1)) for k in state if (m := re.match(rf"^.*\.layer{i}\.(\d+)\.", k)))
                   for i in (1, 2, 3, 4))
    counts, joints = {}, {}
    for part in PART_NAMES:
        k, j, _ = state[f"roi_heads.{part}_anchor_poses"].shape
        counts[part] = int(k)
        known = PUBLIC[part]
        joints[part] = known if known.num_joints == j else PartJoints(part, (-1,) * j, tuple(range(j)))
    defaults = NetSpec()
    weights = lambda name, default: {p: float(kwargs.get(name, {}).get(p, default[p])) for p in PART_NAMES}
    spec = NetSpec(width=width, blocks=blocks, num_anchor_poses=counts, joints=joints,
                   pre_nms_top_n=int(kwargs.get("rpn_pre_nms_top_n_test", defaults.pre_nms_top_n)),
                   post_nms_top_n=int(kwargs.get("rpn_post_nms_top_n_test", defaults.post_nms_top_n)),
                   nms_threshold=float(kwargs.get("rpn_nms_thresh", defaults.nms_threshold)),
                   reg_weight_2d=weights("pose2d_reg_weights", defaults.reg_weight_2d),
                   reg_weight_3d=weights("pose3d_reg_weights", defaults.reg_weight_3d))
    anchors_out = int(state["rpn.head.cls_logits.weight"].shape[0])
    if anchors_out != spec.num_rpn_anchors:
        raise CheckpointError(f"RPN predicts {anchors_out} anchors per location, expected {spec.num_rpn_anchors} "
                              f"({len(spec.rpn_sizes)} sizes x {len(spec.rpn_ratios)} ratios)")
    return spec


def _merge_settings(payload: dict[str, Any], spec: NetSpec, ignored: dict[str, Any]) -> dict[str, MergeSettings]:
    settings = {}
    for part in PART_NAMES:
        ppi = dict(payload.get(f"{part}_ppi_kwargs") or {})
        base = MergeSettings()
        score = ppi.pop("score_th", None)
        settings[part] = MergeSettings(min_score=base.min_score if score is None else float(score),
                                       iou=float(ppi.pop("th_iou", base.iou)), similarity_3d=base.similarity_3d)
        side_classes = ppi.pop("K", None)
        if part == "hand" and side_classes is not None and int(side_classes) * HAND_SIDES != spec.num_anchor_poses["hand"]:
            raise CheckpointError(f"hand_ppi_kwargs K={side_classes} does not split {spec.num_anchor_poses['hand']} "
                                  "hand classes into right and left halves")
        if ppi:
            ignored[f"{part}_ppi_kwargs"] = ppi
    return settings


def load_public(path: str | Path) -> PublicModel:
    """Our network with the public model's weights (FP32), its merge settings and image sizes."""
    return public_from_payload(read(path), str(path))


def public_from_payload(payload: dict, source: str) -> PublicModel:
    """`load_public` for an already read checkpoint; `source` names it in errors."""
    missing = [k for k in ("state_dict", "dope_kwargs") if k not in payload]
    if missing:
        raise CheckpointError(f"{source}: not a public DOPE checkpoint (no {', '.join(missing)})")
    kwargs = dict(payload["dope_kwargs"])
    state = rename(payload["state_dict"])
    try:
        spec = _spec(state, kwargs)
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{source}: cannot read the architecture from the weights: {error}") from error
    net = DopeNet(spec)
    load_weights(net, state, source)  # converts half-precision weights itself
    ignored = {k: v for k, v in kwargs.items() if k not in
               ("num_anchor_poses", "rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_test", "rpn_nms_thresh",
                "pose2d_reg_weights", "pose3d_reg_weights", "min_size", "max_size")}
    merge = _merge_settings(payload, spec, ignored)
    size = lambda key: int(kwargs[key]) if key in kwargs else None
    return PublicModel(net.eval(), merge, size("min_size"), size("max_size"), ignored)
