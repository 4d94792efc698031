"""The DOPE network: ResNet blocks 1-3, RPN, RoIAlign, block 4, and per part a classifier over
anchor poses (+ background, class 0) and a class-specific 2D+3D pose regressor.

`DopeNet.forward` is the whole inference graph (what ONNX exports): it normalises the image,
proposes boxes (top-k, then a parallel NMS so the graph stays static), pools them and decodes, for
each part, the best anchor class's pose.  Training reuses the pieces (`features`, `rpn`, `heads`).
Parameter names follow the public models (backbone / rpn.head / roi_heads.dope_predictor) so the
checkpoint loader maps them by prefix.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whole_body_pose.dope import boxes as box_ops
from whole_body_pose.dope.parts import OURS, PART_NAMES, PartJoints
from whole_body_pose.dope.resnet import ResNetHead, ResNetTrunk
from whole_body_pose.dope.roi_align import roi_align

STRIDE = 16
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


@dataclass
class NetSpec:
    """Architecture of one DOPE network (stored in checkpoints as plain data)."""

    width: int = 64
    blocks: tuple[int, ...] = (3, 4, 6, 3)
    num_anchor_poses: dict[str, int] = field(default_factory=lambda: {"body": 20, "hand": 20, "face": 10})
    joints: dict[str, PartJoints] = field(default_factory=lambda: dict(OURS))
    rpn_sizes: tuple[float, ...] = (32, 64, 128, 256, 512)
    rpn_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    pre_nms_top_n: int = 1000
    post_nms_top_n: int = 1000
    nms_threshold: float = 0.7
    min_box_size: float = 1e-3
    roi_size: int = 7
    sampling_ratio: int = 2
    roi_aligned: bool = False
    reg_weight_2d: dict[str, float] = field(default_factory=lambda: {p: 5.0 for p in PART_NAMES})
    reg_weight_3d: dict[str, float] = field(default_factory=lambda: {p: 5.0 for p in PART_NAMES})

    def to_meta(self) -> dict:
        meta = dataclasses.asdict(self)
        meta["joints"] = {p: j.to_meta() for p, j in self.joints.items()}
        meta["blocks"], meta["rpn_sizes"], meta["rpn_ratios"] = list(self.blocks), list(self.rpn_sizes), list(self.rpn_ratios)
        return meta

    @staticmethod
    def from_meta(meta: dict) -> "NetSpec":
        known = {f.name for f in dataclasses.fields(NetSpec)}
        unknown = set(meta) - known
        if unknown:
            raise ValueError(f"unknown network settings {sorted(unknown)}")
        values = dict(meta)
        if "joints" in values:
            values["joints"] = {p: PartJoints.from_meta(j) for p, j in values["joints"].items()}
        for key in ("blocks", "rpn_sizes", "rpn_ratios"):
            if key in values:
                values[key] = tuple(values[key])
        return NetSpec(**values)

    @property
    def num_rpn_anchors(self) -> int:
        return len(self.rpn_sizes) * len(self.rpn_ratios)


class RPNHead(nn.Module):
    """3x3 conv, then per location A objectness logits and 4A box deltas."""

    def __init__(self, channels: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(channels, num_anchors * 4, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Objectness (B, H*W*A) and deltas (B, H*W*A, 4), location-major like `grid_anchors`."""
        x = F.relu(self.conv(x))
        batch, _, height, width = x.shape
        logits = self.cls_logits(x).permute(0, 2, 3, 1).reshape(batch, -1)
        deltas = self.bbox_pred(x).reshape(batch, -1, 4, height, width).permute(0, 3, 4, 1, 2).reshape(batch, -1, 4)
        return logits, deltas


class DopePredictor(nn.Module):
    """Per part: classification over K anchor poses + background, and K * J * 5 pose offsets."""

    def __init__(self, channels: int, spec: NetSpec) -> None:
        super().__init__()
        for part in PART_NAMES:
            k, j = spec.num_anchor_poses[part], spec.joints[part].num_joints
            setattr(self, f"{part}_cls_score", nn.Linear(channels, k + 1))
            setattr(self, f"{part}_pose_pred", nn.Linear(channels, k * j * 5))

    def forward(self, x: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        return {p: (getattr(self, f"{p}_cls_score")(x), getattr(self, f"{p}_pose_pred")(x)) for p in PART_NAMES}


class RoIHeads(nn.Module):
    """Block 4 on pooled regions, the predictor, and each part's anchor poses (K, J, 5)."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.dope_head = ResNetHead(spec.width, spec.blocks)
        self.dope_predictor = DopePredictor(self.dope_head.out_channels, spec)
        for part in PART_NAMES:
            anchors = torch.zeros(spec.num_anchor_poses[part], spec.joints[part].num_joints, 5)
            anchors[..., :2] = 0.5
            self.register_buffer(f"{part}_anchor_poses", anchors)

    def anchor_poses(self, part: str) -> Tensor:
        return getattr(self, f"{part}_anchor_poses")


class DopeNet(nn.Module):
    """Whole-body DOPE.  Images are float RGB in [0, 1], (B, 3, H, W)."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = ResNetTrunk(spec.width, spec.blocks)
        self.rpn = nn.Module()
        self.rpn.head = RPNHead(self.backbone.out_channels, spec.num_rpn_anchors)
        self.roi_heads = RoIHeads(spec)
        self.register_buffer("image_mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)

    # -- pieces -------------------------------------------------------------------------------
    def features(self, images: Tensor) -> Tensor:
        return self.backbone((images - self.image_mean) / self.image_std)

    def rpn_outputs(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Objectness logits (B, N), deltas (B, N, 4) and anchors (N, 4) for every RPN anchor."""
        logits, deltas = self.rpn.head(features)
        anchors = box_ops.grid_anchors(features.shape[2], features.shape[3], STRIDE, self.spec.rpn_sizes,
                                       self.spec.rpn_ratios, features.device)
        return logits, deltas, anchors

    def propose(self, logits: Tensor, deltas: Tensor, anchors: Tensor, height: int, width: int,
                pre_n: int, post_n: int) -> tuple[Tensor, Tensor]:
        """Top `post_n` boxes per image after a parallel NMS (B, post_n, 4) and their objectness.

        The NMS drops a box that overlaps any higher-scoring candidate beyond the threshold
        (the "fast NMS" variant): static shapes, no loop, exportable.  Fewer survivors than
        post_n leaves suppressed boxes at the end with objectness 0.
        """
        logits = logits.detach()
        pre_n = min(pre_n, logits.shape[1])
        top_logits, order = logits.topk(pre_n, dim=1)
        proposals = box_ops.clip(box_ops.decode(deltas.detach().gather(1, order[..., None].expand(-1, -1, 4)),
                                                anchors[order]), height, width)
        scores = top_logits.sigmoid()
        small = ((proposals[..., 2] - proposals[..., 0]) < self.spec.min_box_size) | \
                ((proposals[..., 3] - proposals[..., 1]) < self.spec.min_box_size)
        rank = torch.arange(pre_n, device=logits.device)
        higher = (rank[:, None] < rank[None, :]).to(proposals.dtype)     # [i, j]: i scores higher than j
        overlap = (box_ops.iou(proposals, proposals) * higher).amax(dim=1)
        keep = (overlap <= self.spec.nms_threshold) & ~small
        ranked = torch.where(keep, scores, scores - 2.0)     # suppressed ones rank after all kept ones
        post_n = min(post_n, pre_n)
        best, picked = ranked.topk(post_n, dim=1)
        return proposals.gather(1, picked[..., None].expand(-1, -1, 4)), best.clamp(min=0.0)

    def heads(self, features: Tensor, rois: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """Per part class logits (B, R, K+1) and pose offsets (B, R, K, J, 5) for rois (B, R, 4)."""
        batch, count = rois.shape[:2]
        pooled = roi_align(features, rois, 1.0 / STRIDE, self.spec.roi_size, self.spec.sampling_ratio,
                           self.spec.roi_aligned)
        outputs = self.roi_heads.dope_predictor(self.roi_heads.dope_head(pooled))
        result = {}
        for part, (logits, reg) in outputs.items():
            k, j = self.spec.num_anchor_poses[part], self.spec.joints[part].num_joints
            reg = reg.reshape(batch, count, k, 5 * j)
            reg = torch.cat((reg[..., :2 * j].reshape(batch, count, k, j, 2),
                             reg[..., 2 * j:].reshape(batch, count, k, j, 3)), dim=-1)
            result[part] = (logits.reshape(batch, count, k + 1), reg)
        return result

    def decode_poses(self, part: str, rois: Tensor, reg: Tensor, anchors: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """2D pixels (..., K, J, 2) and part-centred 3D (..., K, J, 3) of offsets `reg` (..., K, J, 5)
        applied to `anchors` (default: all of the part's anchor poses) in `rois` (..., 4)."""
        anchors = self.roi_heads.anchor_poses(part) if anchors is None else anchors
        offset = rois[..., None, None, :2]
        scale = (rois[..., 2:] - rois[..., :2])[..., None, None, :]
        pose2d = offset + (anchors[..., :2] + reg[..., :2] / self.spec.reg_weight_2d[part]) * scale
        pose3d = anchors[..., 2:] + reg[..., 2:] / self.spec.reg_weight_3d[part]
        return pose2d, pose3d

    # -- inference graph ----------------------------------------------------------------------
    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """Boxes (B, N, 4), then per part (body, hand, face): score (B, N), anchor class (B, N,
        0-based, int32), 2D pose (B, N, J, 2) in pixels and 3D pose (B, N, J, 3) centred on the part.
        """
        height, width = images.shape[2], images.shape[3]
        features = self.features(images)
        logits, deltas, anchors = self.rpn_outputs(features)
        rois, _ = self.propose(logits, deltas, anchors, height, width, self.spec.pre_nms_top_n, self.spec.post_nms_top_n)
        outputs: list[Tensor] = [rois]
        for part, (cls_logits, reg) in self.heads(features, rois).items():
            score, label = cls_logits.softmax(dim=-1)[..., 1:].max(dim=-1)
            index = label[..., None, None, None].expand(-1, -1, 1, reg.shape[3], 5)
            best = reg.gather(2, index)                                   # (B, N, 1, J, 5)
            anchor = self.roi_heads.anchor_poses(part)[label][:, :, None]  # (B, N, 1, J, 5)
            pose2d, pose3d = self.decode_poses(part, rois, best, anchor)
            outputs += [score, label.to(torch.int32), pose2d[:, :, 0], pose3d[:, :, 0]]
        return tuple(outputs)


def with_proposals(net: DopeNet, count: int) -> DopeNet:
    """The same network keeping `count` proposals per image (the real-time setting uses ~50)."""
    if count == net.spec.post_nms_top_n:
        return net
    other = DopeNet(dataclasses.replace(net.spec, post_nms_top_n=count))
    other.load_state_dict(net.state_dict())
    return other.train(net.training)


OUTPUT_NAMES: tuple[str, ...] = ("boxes",) + tuple(f"{p}_{k}" for p in PART_NAMES for k in ("scores", "labels", "pose2d", "pose3d"))
