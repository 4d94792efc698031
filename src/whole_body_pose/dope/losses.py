"""DOPE's training loss: L = L_RPN + sum over parts of (L_cls + L_reg + L_dist).

- L_RPN: objectness (binary cross-entropy) and box regression (smooth L1) on sampled anchors.
- L_cls / L_reg: on regions sampled from the proposals (plus jittered copies of the experts' boxes,
  so positives exist from the first iteration): cross-entropy over anchor classes + background,
  and an L1 loss on the offsets of the matched instance's anchor class, weighted per joint by the
  expert's confidence.
- L_dist: on the experts' own boxes (added to the proposals), the soft-label cross-entropy against
  the cached soft targets, and an L1 loss on the offsets of every anchor class weighted by its soft
  probability (the experts' pose expressed relative to each anchor).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from whole_body_pose.dope import boxes as box_ops
from whole_body_pose.dope.batches import Batch, PartTargets
from whole_body_pose.dope.network import DopeNet
from whole_body_pose.dope.parts import PART_NAMES


@dataclass
class LossSettings:
    rpn_batch: int = 256            # anchors sampled per image
    rpn_positive_fraction: float = 0.5
    rpn_fg_iou: float = 0.7
    rpn_bg_iou: float = 0.3
    pre_nms_top_n: int = 1000       # proposal generation while training
    post_nms_top_n: int = 200
    rois_per_image: int = 64
    roi_positive_fraction: float = 0.25
    roi_fg_iou: float = 0.5         # a region is an instance of a part above this IoU
    jitter_copies: int = 4          # jittered copies of each expert box added to the proposals
    jitter: float = 0.1             # relative shift and log-scale of those copies


def _weighted_l1(diff: Tensor, weight: Tensor) -> Tensor:
    """sum(weight * |diff|) / sum(weight) over joints, diff (..., J, C) and weight (..., J)."""
    return (diff.abs().sum(-1) * weight).sum() / weight.sum().clamp(min=1.0)


def _all_boxes(batch: Batch) -> tuple[Tensor, Tensor]:
    return (torch.cat([batch.parts[p].boxes for p in PART_NAMES], dim=1),
            torch.cat([batch.parts[p].valid for p in PART_NAMES], dim=1))


def rpn_loss(logits: Tensor, deltas: Tensor, anchors: Tensor, gt: Tensor, valid: Tensor, settings: LossSettings,
             generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Objectness and box losses of the RPN for every part's boxes (B, G, 4)."""
    ious = box_ops.iou(anchors[None].expand(gt.shape[0], -1, -1), gt)            # (B, A, G)
    ious = torch.where(valid[:, None, :], ious, torch.full_like(ious, -1.0))
    best, matched = ious.max(dim=2)
    labels = torch.full_like(best, -1.0)
    labels[best < settings.rpn_bg_iou] = 0.0
    labels[best >= settings.rpn_fg_iou] = 1.0
    gt_best = ious.max(dim=1, keepdim=True).values                               # best anchor of each instance
    labels[((ious == gt_best) & (gt_best > 0) & valid[:, None, :]).any(dim=2)] = 1.0
    cls_terms, box_terms, sampled = [], [], 0
    for b in range(gt.shape[0]):
        pos = torch.nonzero(labels[b] == 1).flatten()
        neg = torch.nonzero(labels[b] == 0).flatten()
        pos = pos[torch.randperm(len(pos), generator=generator, device=pos.device)[:int(settings.rpn_batch * settings.rpn_positive_fraction)]]
        neg = neg[torch.randperm(len(neg), generator=generator, device=neg.device)[:settings.rpn_batch - len(pos)]]
        chosen = torch.cat([pos, neg])
        cls_terms.append(F.binary_cross_entropy_with_logits(logits[b, chosen], labels[b, chosen], reduction="sum"))
        target = box_ops.encode(gt[b, matched[b, pos]], anchors[pos])
        box_terms.append(F.smooth_l1_loss(deltas[b, pos], target, beta=1.0 / 9, reduction="sum"))
        sampled += len(chosen)
    return torch.stack(cls_terms).sum() / max(sampled, 1), torch.stack(box_terms).sum() / max(sampled, 1)


def _jittered(gt: Tensor, valid: Tensor, settings: LossSettings, height: int, width: int,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """`jitter_copies` randomly shifted and scaled copies of every expert box (B, G * copies, 4)."""
    copies = gt.repeat_interleave(settings.jitter_copies, dim=1)
    noise = torch.rand(copies.shape, generator=generator, device=gt.device) * 2 - 1
    size = copies[..., 2:] - copies[..., :2]
    centre = (copies[..., :2] + copies[..., 2:]) / 2 + noise[..., :2] * settings.jitter * size
    size = size * (noise[..., 2:] * settings.jitter).exp()
    boxes = box_ops.clip(torch.cat([centre - size / 2, centre + size / 2], dim=-1), height, width)
    return boxes, valid.repeat_interleave(settings.jitter_copies, dim=1)


def sample_rois(candidates: Tensor, usable: Tensor, parts: dict[str, PartTargets], settings: LossSettings,
                generator: torch.Generator | None) -> tuple[Tensor, dict[str, tuple[Tensor, Tensor]]]:
    """Sample `rois_per_image` regions (B, R, 4) and, per part, their foreground mask and matched instance."""
    matches = {}
    for part, t in parts.items():
        ious = box_ops.iou(candidates, t.boxes)
        ious = torch.where(t.valid[:, None, :], ious, torch.full_like(ious, -1.0))
        best, index = ious.max(dim=2)
        matches[part] = (best >= settings.roi_fg_iou, index)
    positive = torch.stack([fg for fg, _ in matches.values()]).any(dim=0) & usable
    rois_n, max_pos = settings.rois_per_image, int(settings.rois_per_image * settings.roi_positive_fraction)
    chosen = []
    for b in range(candidates.shape[0]):
        pos = torch.nonzero(positive[b]).flatten()
        neg = torch.nonzero(usable[b] & ~positive[b]).flatten()
        pos = pos[torch.randperm(len(pos), generator=generator, device=pos.device)[:max_pos]]
        neg = neg[torch.randperm(len(neg), generator=generator, device=neg.device)[:rois_n - len(pos)]]
        pick = torch.cat([pos, neg])
        if len(pick) < rois_n:   # too few candidates: repeat some
            extra = torch.randint(len(pick), (rois_n - len(pick),), generator=generator, device=pick.device)
            pick = torch.cat([pick, pick[extra]])
        chosen.append(pick)
    index = torch.stack(chosen)                                                    # (B, R)
    rois = candidates.gather(1, index[..., None].expand(-1, -1, 4))
    return rois, {p: (fg.gather(1, index), m.gather(1, index)) for p, (fg, m) in matches.items()}


def _offsets(net: DopeNet, part: str, rois: Tensor, pose2d: Tensor, pose3d: Tensor, anchors: Tensor) -> Tensor:
    """Regression targets (..., K, J, 5) that turn `anchors` (..., K, J, 5) into the given pose in `rois`."""
    spec = net.spec
    offset = rois[..., None, None, :2]
    scale = (rois[..., 2:] - rois[..., :2]).clamp(min=1e-3)[..., None, None, :]
    t2d = ((pose2d[..., None, :, :] - offset) / scale - anchors[..., :2]) * spec.reg_weight_2d[part]
    t3d = (pose3d[..., None, :, :] - anchors[..., 2:]) * spec.reg_weight_3d[part]
    return torch.cat([t2d, t3d], dim=-1)


def _gather(t: Tensor, index: Tensor) -> Tensor:
    """t (B, G, ...) indexed by index (B, R) -> (B, R, ...)."""
    shape = index.shape + t.shape[2:]
    return t.gather(1, index.reshape(index.shape + (1,) * (t.dim() - 2)).expand(shape))


def dope_losses(net: DopeNet, batch: Batch, settings: LossSettings,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """All loss terms (scalars) of one training batch; their sum is the training objective."""
    images = batch.images
    height, width = images.shape[2:]
    features = net.features(images)
    logits, deltas, anchors = net.rpn_outputs(features)
    gt_all, valid_all = _all_boxes(batch)
    losses = {}
    losses["rpn_cls"], losses["rpn_box"] = rpn_loss(logits, deltas, anchors, gt_all, valid_all, settings, generator)

    proposals, _ = net.propose(logits, deltas, anchors, height, width, settings.pre_nms_top_n, settings.post_nms_top_n)
    jittered, jitter_valid = _jittered(gt_all, valid_all, settings, height, width, generator)
    candidates = torch.cat([proposals, jittered], dim=1)
    usable = torch.cat([torch.ones(proposals.shape[:2], dtype=torch.bool, device=images.device), jitter_valid], dim=1)
    rois, matches = sample_rois(candidates, usable, batch.parts, settings, generator)
    count = rois.shape[1]
    outputs = net.heads(features, torch.cat([rois, gt_all], dim=1))

    start = count
    for part in PART_NAMES:
        t = batch.parts[part]
        part_anchors = net.roi_heads.anchor_poses(part)
        cls_logits, reg = outputs[part]
        fg, matched = matches[part]
        # L_cls and L_reg on the sampled regions
        label = torch.where(fg, t.label.gather(1, matched), torch.zeros_like(matched))
        losses[f"{part}_cls"] = F.cross_entropy(cls_logits[:, :count].flatten(0, 1), label.flatten())
        if fg.any():
            cls = (label - 1).clamp(min=0)
            pred = reg[:, :count].gather(2, cls[..., None, None, None].expand(-1, -1, 1, *reg.shape[3:]))[:, :, 0]
            target = _offsets(net, part, rois, _gather(t.pose2d, matched), _gather(t.pose3d, matched),
                              part_anchors[cls][:, :, None])[:, :, 0]
            diff = (pred - target)[fg]
            losses[f"{part}_reg"] = (_weighted_l1(diff[..., :2], _gather(t.conf, matched)[fg])
                                     + _weighted_l1(diff[..., 2:], _gather(t.conf3d, matched)[fg]))
        else:
            losses[f"{part}_reg"] = reg.sum() * 0.0
        # L_dist on the experts' boxes
        groups = t.boxes.shape[1]
        d_logits, d_reg = cls_logits[:, start:start + groups], reg[:, start:start + groups]
        start += groups
        if t.valid.any():
            soft_ce = -(t.soft * d_logits.log_softmax(-1)).sum(-1)
            target = _offsets(net, part, t.boxes, t.pose2d, t.pose3d, part_anchors)   # (B, G, K, J, 5)
            weight = t.soft[..., 1:] / t.soft[..., 1:].sum(-1, keepdim=True).clamp(min=1e-6)   # (B, G, K)
            diff = (d_reg - target)[t.valid]
            w = weight[t.valid][..., None]
            losses[f"{part}_dist"] = (soft_ce[t.valid].mean()
                                      + _weighted_l1(diff[..., :2], w * t.conf[t.valid][:, None])
                                      + _weighted_l1(diff[..., 2:], w * t.conf3d[t.valid][:, None]))
        else:
            losses[f"{part}_dist"] = d_logits.sum() * 0.0
    return losses
