"""Simple Baselines (Xiao, Wu and Wei, ECCV 2018): a ResNet and three deconvolutions.

A torchvision ResNet without its average pool and classifier (built with
``weights=None``: nothing is downloaded), then ``num_deconv_layers`` blocks of
``ConvTranspose2d`` (4x4, stride 2, padding 1, no bias), BN and ReLU with 256
channels, and a 1x1 conv (with bias) to ``num_joints`` heatmaps. The output
stride is ``32 / 2 ** num_deconv_layers`` (4 by default), so an input of shape
``(N, 3, H, W)`` gives heatmaps of shape ``(N, num_joints, H / 4, W / 4)``.

The backbone's modules sit directly on the model (``conv1`` ... ``layer4``) and
the head is ``deconv_layers`` + ``final_layer``, the layout of the authors'
``pose_resnet.py``, so their checkpoints' keys match. The head is initialized as
theirs: deconv and final weights ~ N(0, 0.001^2), biases zero, BN (1, 0).

``simple_baselines_resnet50`` with 16 joints has exactly 33,999,440 parameters
(the thesis' Table 5.3: 33.9M, 136.3 MB in float32).

``width`` scales the backbone's channels (64: torchvision's ResNet; 16: every stage a
quarter as wide), which is how the compression chapters get a network a CPU can train
while keeping ResNet's blocks, residual couplings and module names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

from pose_helpers.models.registry import ModelCfg, register_model

__all__ = [
    "SimpleBaselines",
    "simple_baselines_resnet18",
    "simple_baselines_resnet34",
    "simple_baselines_resnet50",
    "simple_baselines_resnet101",
    "simple_baselines_resnet152",
]

# name -> (block, blocks per stage), as in torchvision.models.resnet.
_BACKBONES: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    "resnet18": (tv_resnet.BasicBlock, (2, 2, 2, 2)),
    "resnet34": (tv_resnet.BasicBlock, (3, 4, 6, 3)),
    "resnet50": (tv_resnet.Bottleneck, (3, 4, 6, 3)),
    "resnet101": (tv_resnet.Bottleneck, (3, 4, 23, 3)),
    "resnet152": (tv_resnet.Bottleneck, (3, 8, 36, 3)),
}
_BACKBONE_LAYERS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
# kernel size -> (padding, output_padding) so that each deconv doubles the size exactly.
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}

_CFG = ModelCfg(input_size=(256, 256), heatmap_stride=4)  # ImageNet mean/std


class _ResNet(tv_resnet.ResNet):
    """torchvision's ResNet with the stem's and stages' channels scaled by ``width / 64``.

    Built with torchvision's own blocks and ``_make_layer``; at ``width=64`` it is
    ``torchvision.models.resnet50(weights=None)`` (same modules, shapes and initialization).
    """

    def __init__(self, block: type[nn.Module], layers: Sequence[int], width: int = 64) -> None:
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.out_channels = 8 * width * block.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class SimpleBaselines(nn.Module):
    """ResNet backbone + deconvolution head for heatmap regression.

    ``forward(X) == forward_head(forward_features(X))``: ``forward_features``
    runs the backbone (stride 32), ``forward_head`` the deconvolutions and the
    final 1x1 conv.

    Args:
        backbone: torchvision ResNet name (``"resnet18"`` ... ``"resnet152"``).
        width: channels of the backbone's stem (64: torchvision's; the stages have
            1, 2, 4 and 8 times as many, times the block's expansion).
        num_joints: output heatmaps.
        num_deconv_layers: number of deconvolution blocks (each doubles the size).
        deconv_channels: channels of every deconvolution, or one value per layer.
        deconv_kernel: 4, 3 or 2 (with the matching padding and output padding).
        zero_init_head: zero the final conv, so every heatmap starts at zero.

    Raises:
        ValueError: for an unknown backbone or kernel, a width or layer count out of range,
            or a ``deconv_channels`` list whose length is not ``num_deconv_layers``.
    """

    def __init__(
        self,
        *,
        backbone: str = "resnet50",
        width: int = 64,
        num_joints: int = 16,
        num_deconv_layers: int = 3,
        deconv_channels: int | Sequence[int] = 256,
        deconv_kernel: int = 4,
        zero_init_head: bool = False,
    ) -> None:
        super().__init__()
        if backbone not in _BACKBONES:
            raise ValueError(f"backbone must be one of {tuple(_BACKBONES)}, got {backbone!r}")
        if width < 1:
            raise ValueError(f"width must be at least 1, got {width}")
        if deconv_kernel not in _DECONV_PADDING:
            raise ValueError(f"deconv_kernel must be 4, 3 or 2, got {deconv_kernel!r}")
        if num_deconv_layers < 0:
            raise ValueError(f"num_deconv_layers must be at least 0, got {num_deconv_layers}")
        if num_joints < 1:
            raise ValueError(f"num_joints must be at least 1, got {num_joints}")
        if isinstance(deconv_channels, int):
            channels = [deconv_channels] * num_deconv_layers
        else:
            channels = list(deconv_channels)
            if len(channels) != num_deconv_layers:
                raise ValueError(
                    f"deconv_channels needs one value per deconv layer: expected length "
                    f"{num_deconv_layers}, got {len(channels)} ({channels})"
                )
        resnet = _ResNet(*_BACKBONES[backbone], width=width)
        for name in _BACKBONE_LAYERS:
            self.add_module(name, getattr(resnet, name))
        self.num_joints = num_joints
        self.heatmap_stride = 32 // 2**num_deconv_layers

        padding, output_padding = _DECONV_PADDING[deconv_kernel]
        layers: list[nn.Module] = []
        in_channels = resnet.out_channels
        for out_channels in channels:
            layers += [
                nn.ConvTranspose2d(
                    in_channels,
                    out_channels,
                    deconv_kernel,
                    stride=2,
                    padding=padding,
                    output_padding=output_padding,
                    bias=False,
                ),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            in_channels = out_channels
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(in_channels, num_joints, 1)
        self._init_head(zero_init_head)

    def _init_head(self, zero_final: bool) -> None:
        for m in self.deconv_layers.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)
        if zero_final:
            self.zero_head()

    def zero_head(self) -> None:
        """Set the final conv's weight and bias to zero (all heatmaps start at zero)."""
        nn.init.zeros_(self.final_layer.weight)
        nn.init.zeros_(self.final_layer.bias)

    def reset_head(self, num_joints: int, *, zero_init: bool = False) -> None:
        """Replace the final 1x1 conv by one that predicts ``num_joints`` heatmaps."""
        self.num_joints = num_joints
        self.final_layer = nn.Conv2d(self.final_layer.in_channels, num_joints, 1)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)
        if zero_init:
            self.zero_head()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the backbone's features (stride 32)."""
        for name in _BACKBONE_LAYERS:
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Return heatmaps from backbone features: deconvolutions, then the final conv."""
        return self.final_layer(self.deconv_layers(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _create_simple_baselines(variant_args: dict[str, Any], **kwargs: Any) -> SimpleBaselines:
    # Three tiers: SimpleBaselines' signature < the variant's dict < the caller's kwargs.
    return SimpleBaselines(**dict(variant_args, **kwargs))


@register_model(cfg=_CFG)
def simple_baselines_resnet18(**kwargs: Any) -> SimpleBaselines:
    """Simple Baselines on a ResNet-18 backbone."""
    return _create_simple_baselines(dict(backbone="resnet18"), **kwargs)


@register_model(cfg=_CFG)
def simple_baselines_resnet34(**kwargs: Any) -> SimpleBaselines:
    """Simple Baselines on a ResNet-34 backbone."""
    return _create_simple_baselines(dict(backbone="resnet34"), **kwargs)


@register_model(cfg=_CFG)
def simple_baselines_resnet50(**kwargs: Any) -> SimpleBaselines:
    """Simple Baselines on a ResNet-50 backbone (33,999,440 parameters with 16 joints)."""
    return _create_simple_baselines(dict(backbone="resnet50"), **kwargs)


@register_model(cfg=_CFG)
def simple_baselines_resnet101(**kwargs: Any) -> SimpleBaselines:
    """Simple Baselines on a ResNet-101 backbone."""
    return _create_simple_baselines(dict(backbone="resnet101"), **kwargs)


@register_model(cfg=_CFG)
def simple_baselines_resnet152(**kwargs: Any) -> SimpleBaselines:
    """Simple Baselines on a ResNet-152 backbone."""
    return _create_simple_baselines(dict(backbone="resnet152"), **kwargs)
