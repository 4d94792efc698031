"""ResNet-50 (bottleneck) written in plain torch, split where DOPE splits it.

torchvision cannot be installed beside our torch, so the backbone is ours.  Module and parameter
names follow torchvision's ResNet (conv1, bn1, layer1..4, downsample.0/1) so public DOPE weights
map onto it by prefix.  `width` (64 in ResNet-50) and `blocks` ((3, 4, 6, 3)) shrink it for tests
and CPU training.
"""
from __future__ import annotations

from torch import Tensor, nn

EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride), 1x1 expand, plus a projected shortcut when shapes change."""

    def __init__(self, in_channels: int, mid_channels: int, stride: int) -> None:
        super().__init__()
        out_channels = mid_channels * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


def make_layer(in_channels: int, mid_channels: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(in_channels, mid_channels, stride)]
    layers += [Bottleneck(mid_channels * EXPANSION, mid_channels, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetTrunk(nn.Module):
    """Stem and blocks 1-3: stride 16 features with 16 * width channels (1024 for ResNet-50)."""

    def __init__(self, width: int = 64, blocks: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_layer(width, width, blocks[0], 1)
        self.layer2 = make_layer(width * EXPANSION, width * 2, blocks[1], 2)
        self.layer3 = make_layer(width * 2 * EXPANSION, width * 4, blocks[2], 2)
        self.out_channels = width * 4 * EXPANSION

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))


class ResNetHead(nn.Module):
    """Block 4 applied to pooled regions, then global average pooling (2048 features for ResNet-50)."""

    def __init__(self, width: int = 64, blocks: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.layer4 = make_layer(width * 4 * EXPANSION, width * 8, blocks[3], 2)
        self.out_channels = width * 8 * EXPANSION

    def forward(self, x: Tensor) -> Tensor:
        return self.layer4(x).mean(dim=(2, 3))
