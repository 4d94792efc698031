"""A small causal PoseBERT: a window of past poses in, every frame refined from its own past out.

Tokens are per frame: the pose (normalised, held through gaps), which joints were observed and the
frame's age in seconds (the frame rate varies).  A frame with no observed joint becomes the learned
mask token and is never attended to as a key (a frame always attends to itself, so no row is empty);
attention is causal, so output t only depends on frames <= t and the last output is the current frame.
Each output is a residual on the held input, so an untrained step degrades to the hold.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

INPUTS = ("poses", "valid", "age")
OUTPUTS = ("refined",)


@dataclass(frozen=True)
class ModelSpec:
    joints: int
    window: int = 16
    width: int = 128
    layers: int = 4
    heads: int = 4

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) * (d // self.heads) ** -0.5 + bias
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(attended)
        return x + self.mlp(self.norm2(x))


class PoseBert(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        j, d = spec.joints, spec.width
        self.embed = nn.Linear(4 * j + 1, d)
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.position = nn.Parameter(torch.zeros(spec.window, d))
        self.blocks = nn.ModuleList(Block(d, spec.heads) for _ in range(spec.layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 3 * j)
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        causal = torch.tril(torch.ones(spec.window, spec.window, dtype=torch.bool))
        self.register_buffer("causal", causal, persistent=False)
        self.register_buffer("eye", torch.eye(spec.window, dtype=torch.bool), persistent=False)

    def forward(self, poses: torch.Tensor, valid: torch.Tensor, age: torch.Tensor) -> torch.Tensor:
        """poses (B, T, J, 3) held through gaps, valid (B, T, J) 0/1, age (B, T) s -> refined (B, T, J, 3)."""
        b, t, j, _ = poses.shape
        observed = valid.amax(-1)                                            # (B, T)
        features = torch.cat([(poses * valid[..., None]).reshape(b, t, 3 * j), valid, age[..., None]], -1)
        x = self.embed(features)
        x = torch.where(observed[..., None] > 0.5, x, self.mask_token.expand(b, t, -1)) + self.position[:t]
        allowed = self.causal[:t, :t] & ((observed[:, None, :] > 0.5) | self.eye[:t, :t])   # (B, T, T)
        bias = torch.where(allowed, 0.0, -1e4)[:, None]
        for block in self.blocks:
            x = block(x, bias)
        return poses + self.head(self.norm(x)).reshape(b, t, j, 3)
