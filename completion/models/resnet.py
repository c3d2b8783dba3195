"""ResNet-18/34 written by hand with torchvision's parameter names, so torchvision state dicts load as they are.

torchvision cannot be imported beside this torch build, and the project must not depend on it. Names follow
torchvision's `resnet.py`: `conv1, bn1, relu, maxpool, layer1..layer4` (each a Sequential of `BasicBlock` with
`conv1, bn1, conv2, bn2, downsample.0` (1x1 conv) `, downsample.1` (BN)), `avgpool, fc`. `width` scales every
channel count (64 gives torchvision's network; other widths only for models trained from scratch).
"""

from __future__ import annotations

import torch
from torch import nn

from completion.errors import ConfigError

__all__ = ["BasicBlock", "ResNet", "resnet18", "resnet34", "RESNET_LAYERS"]

RESNET_LAYERS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}


class BasicBlock(nn.Module):
    """Two 3x3 Conv-BN with an identity (or 1x1 conv + BN) shortcut; (B, in, H, W) -> (B, out, H/stride, W/stride)."""

    expansion = 1

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision-compatible ResNet with BasicBlocks.

    Args:
        layers: blocks per stage, (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for ResNet-34.
        width: channels of the stem and of layer1 (64 in torchvision); stages have width * (1, 2, 4, 8).
        num_classes: outputs of `fc`.
    """

    def __init__(self, layers: tuple[int, int, int, int], width: int = 64, num_classes: int = 1000) -> None:
        super().__init__()
        if width < 1 or len(layers) != 4:
            raise ConfigError(f"ResNet needs 4 stages and width >= 1, got layers={layers}, width={width}")
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        chans = [width, width * 2, width * 4, width * 8]
        in_ch = width
        for i, (n, ch) in enumerate(zip(layers, chans, strict=True)):
            blocks = [BasicBlock(in_ch, ch, stride=1 if i == 0 else 2)] + [BasicBlock(ch, ch) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            in_ch = ch
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(chans[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) image -> (B, num_classes) logits."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(width: int = 64) -> ResNet:
    """ResNet-18 (torchvision names)."""
    return ResNet(RESNET_LAYERS["resnet18"], width)


def resnet34(width: int = 64) -> ResNet:
    """ResNet-34 (torchvision names)."""
    return ResNet(RESNET_LAYERS["resnet34"], width)
