"""Stacked hourglass networks and the block designs of the hourglass report.

The network follows the public PyTorch port of Newell et al. (ECCV 2016) by
Wei Yang (bearpaw, ``pytorch-pose``, ``hg.py``): a 7x7 stride-2 stem, three
pre-activation bottleneck residuals with a max pool (``layer1``, ``maxpool``,
``layer2``, ``layer3``), then ``num_stacks`` hourglasses of ``depth`` levels,
each followed by a residual (``res``), a 1x1 conv-BN-ReLU (``fc``) and a 1x1
score conv that predicts the heatmaps; between stacks the features and the
heatmaps are mapped back (``fc_``, ``score_``) and added to the stack's input.
Module names and shapes match ``hg.py``, so the baseline's ``state_dict`` keys
are those of that port. With 2 stacks, 1 block per stage, 256 channels and 16
joints, ``hourglass_baseline`` has exactly 6,730,912 parameters (report: 6.73M).

Every block design of the report's Table 1 is a registered name (defaults count
in brackets; the report's value after the slash). Which design and flags build each
row of the table is the hourglass study's data
(``pose_helpers.studies.hourglass.TABLE_1_DESIGNS``); this module holds only the
architectures:

=======================================  ===========================================
``hourglass_baseline``                   bottleneck 256-128-128-256 [6,730,912 / 6.73M]
``hourglass_dilated``                    dilation 2 in the bottleneck's 3x3 conv
                                         [6,730,912 / not printed; same as baseline]
``hourglass_patchify``                   3x3 stride-2 stem conv instead of 7x7
                                         [6,723,232 / 6.72M]
``hourglass_no_skip``                    no identity skip in any residual block,
                                         so no 1x1 projection convs [6,689,568 / 6.69M]
``hourglass_dw_separable_all``           all three convs of the bottleneck become
                                         3x3 depthwise + 1x1 pointwise [2,920,224 / 2.92M]
``hourglass_dw_separable_3x3``           only the 3x3 conv becomes depthwise-separable
                                         [2,805,024 / 2.80M]
``hourglass_two_dw_separable``           two depthwise-separable convs 256-128-256
                                         [2,373,856 / 1.90M: +24.9 %, see below]
``hourglass_two_dilated_dw_separable``   the same, dilation 2 in the second one
                                         [2,373,856 / not printed]
``hourglass_no_bottleneck``              two 3x3 convs 256-128-256 [17,954,528 / 17.95M]
=======================================  ===========================================

Block designs apply to every residual block: the three stem residuals, the
hourglass blocks and the per-stack ``res`` block (that is what reproduces the
counts). A depthwise-separable conv is a depthwise 3x3 and a pointwise 1x1, both
with bias and nothing between them (``layers.SeparableConv2d``); a BN between
them would give 2.81M and 2.95M instead of 2.80M and 2.92M.

Note on the "Two 3x3 Depthwise Separable Convolutions" rows (report 1.90M).
The report (3.4.4, 4.3) replaces the bottleneck by "two separable depth-wise
convolution layers" that make "four layers" (depthwise, pointwise, depthwise,
pointwise), and its "Convolution Layers without Bottleneck" row (two regular
3x3 convs, figure 4f) reproduces 17.95M exactly as 256->128->256. The same
reading with separable convs, BN-ReLU-sep(256->128), BN-ReLU-sep(128->256) plus
the identity skip, gives 2,373,856 parameters, 24.9 % above 1.90M. No reading
with a 256->128 and a 128->256 pointwise conv in each of the 28 hourglass and
``res`` blocks can reach 1.90M: those weights alone are 28 * 65,536 = 1,835,008
and the stack heads (``fc``, ``score``, ``fc_``, ``score_``) add 210,976, which
is already 2.05M. The printed 1.90M therefore needs a narrower block than the
text describes (for example the second pointwise conv mapping 128->128 and the
two 128-channel maps concatenated to 256 gives 1,874,336, -1.4 %), which neither
the text nor the captions state; we keep the described design and its count.
For the dilated variant ("dilation to one of the separable depth-wise
convolution layers", 4.1.5) we dilate the second depthwise conv, the one at the
reduced width, as the dilated bottleneck (4a) dilates its reduced-width 3x3 conv.

Note on ``merge_weights`` (Table 1's "Weights [0.3, 0.7] applied to HG2
outputs" rows, report 3.2: "a weighted sum between the activation maps from
each hourglass to the next one ... weights [0.3, 0.7] ... to the output of first
and second hourglass modules respectively"). We read the weights as multiplying
the feature maps that the hourglass modules output: the last hourglass's output
is replaced by ``sum_i w_i * HG_i(.)`` over all stacks before that stack's
``res``/``fc``/``score`` head ("applied to HG2 outputs"); earlier stacks and their
intermediate heatmaps are unchanged, and ``(0, ..., 0, 1)`` is the plain network.
Weighting the heatmaps (the ``score`` outputs) instead is the other possible
reading; the report does not say which tensors are "activation maps".

``zero_init_head`` (default ``False``, so that the default models are the
reference port with PyTorch's default initialization) sets the score convs'
weights and biases to zero: every heatmap starts at zero, so training starts at
the all-zero-heatmap loss. Measured by the team on CPU, it tripled the PCKh a
small hourglass reached in 5 minutes; the CPU profiles should pass ``True``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pose_helpers.models.layers import conv2d
from pose_helpers.models.registry import ModelCfg, register_model

__all__ = [
    "MPII_MEAN",
    "MPII_STD",
    "Bottleneck",
    "Hourglass",
    "HourglassNet",
    "TwoConvBlock",
    "hourglass_baseline",
    "hourglass_dilated",
    "hourglass_dw_separable_3x3",
    "hourglass_dw_separable_all",
    "hourglass_no_bottleneck",
    "hourglass_no_skip",
    "hourglass_patchify",
    "hourglass_two_dilated_dw_separable",
    "hourglass_two_dw_separable",
]

# RGB statistics of the MPII training images used by the public hourglass ports.
MPII_MEAN = (0.4404, 0.4440, 0.4327)
MPII_STD = (0.2458, 0.2410, 0.2468)

_CFG = ModelCfg(input_size=(256, 256), heatmap_stride=4, mean=MPII_MEAN, std=MPII_STD)

BlockFn = Callable[..., nn.Module]


def _projection(inplanes: int, outplanes: int, skip: bool) -> nn.Module | None:
    # The 1x1 conv that matches channels on the skip path (bearpaw's ``downsample``).
    if not skip or inplanes == outplanes:
        return None
    return nn.Sequential(nn.Conv2d(inplanes, outplanes, 1))


class Bottleneck(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1, + skip.

    Maps ``inplanes`` to ``planes * 2`` channels through ``planes`` (256-128-128-256
    in the hourglass).

    Args:
        inplanes: input channels.
        planes: bottleneck width; the output has ``2 * planes`` channels.
        skip: add the identity (or a 1x1 projection when channels differ).
        dilation: dilation of the 3x3 conv (2 in ``hourglass_dilated``).
        separable: ``"none"``, ``"3x3"`` (only the 3x3 conv is depthwise-separable) or
            ``"all"`` (all three convs become 3x3 depthwise + 1x1 pointwise).

    Raises:
        ValueError: for an unknown ``separable`` value.
    """

    expansion = 2

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        skip: bool = True,
        dilation: int = 1,
        separable: str = "none",
    ) -> None:
        super().__init__()
        if separable not in ("none", "3x3", "all"):
            raise ValueError(f"separable must be 'none', '3x3' or 'all', got {separable!r}")
        outplanes = planes * self.expansion
        sep_all = separable == "all"
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = conv2d(inplanes, planes, 1, separable=sep_all)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv2d(planes, planes, 3, dilation=dilation, separable=separable != "none")
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv2d(planes, outplanes, 1, separable=sep_all)
        self.relu = nn.ReLU(inplace=True)
        self.skip = skip
        self.downsample = _projection(inplanes, outplanes, skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        if not self.skip:
            return out
        residual = x if self.downsample is None else self.downsample(x)
        return out + residual


class TwoConvBlock(nn.Module):
    """Pre-activation block of two 3x3 convs: BN-ReLU-conv(in->planes), BN-ReLU-conv(->2*planes).

    Regular convs give the report's "Convolution Layers without Bottleneck"
    (256-128-256); ``separable=True`` gives its "Two 3x3 Depthwise Separable
    Convolutions" (each conv a depthwise 3x3 + pointwise 1x1).

    Args:
        inplanes: input channels.
        planes: channels between the two convs; the output has ``2 * planes``.
        skip: add the identity (or a 1x1 projection when channels differ).
        dilation: dilations of the first and second conv.
        separable: use depthwise-separable convs.

    Raises:
        ValueError: if ``dilation`` does not hold two values.
    """

    expansion = 2

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        skip: bool = True,
        dilation: Sequence[int] = (1, 1),
        separable: bool = False,
    ) -> None:
        super().__init__()
        if len(dilation) != 2:
            raise ValueError(f"dilation must hold 2 values (one per conv), got {dilation!r}")
        outplanes = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = conv2d(inplanes, planes, 3, dilation=dilation[0], separable=separable)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv2d(planes, outplanes, 3, dilation=dilation[1], separable=separable)
        self.relu = nn.ReLU(inplace=True)
        self.skip = skip
        self.downsample = _projection(inplanes, outplanes, skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        if not self.skip:
            return out
        residual = x if self.downsample is None else self.downsample(x)
        return out + residual


def _residual(block: BlockFn, inplanes: int, planes: int, num_blocks: int) -> nn.Sequential:
    # ``num_blocks`` blocks; only the first may change the channel count.
    outplanes = planes * 2
    return nn.Sequential(
        *(block(inplanes if i == 0 else outplanes, planes) for i in range(num_blocks))
    )


class Hourglass(nn.Module):
    """One hourglass of ``depth`` levels; every level keeps ``2 * planes`` channels.

    Level ``n`` runs a skip branch (``hg[n-1][0]``) at full resolution and a
    max-pool, a block (``hg[n-1][1]``), the level below (or ``hg[0][3]`` at the
    bottom) and a block (``hg[n-1][2]``) at half resolution, then upsamples
    (nearest) and adds. Upsampling to the skip branch's size lets inputs whose
    size is not a multiple of ``2 ** depth`` through.
    """

    def __init__(self, block: BlockFn, num_blocks: int, planes: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        ch = planes * 2
        self.hg = nn.ModuleList(
            nn.ModuleList(
                _residual(block, ch, planes, num_blocks) for _ in range(4 if level == 0 else 3)
            )
            for level in range(depth)
        )

    def _forward(self, n: int, x: torch.Tensor) -> torch.Tensor:
        level = self.hg[n - 1]
        up1 = level[0](x)
        low1 = level[1](F.max_pool2d(x, 2, stride=2))
        low2 = self._forward(n - 1, low1) if n > 1 else level[3](low1)
        low3 = level[2](low2)
        return up1 + F.interpolate(low3, size=up1.shape[-2:], mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self.depth, x)


class HourglassNet(nn.Module):
    """Stacked hourglass network (Newell et al. 2016, bearpaw's ``hg.py`` layout).

    ``forward(X)`` returns a list with one heatmap tensor per stack, each of shape
    ``(N, num_joints, H / 4, W / 4)`` for ``X`` of shape ``(N, 3, H, W)``; the last
    is the prediction, all are supervised. ``forward_features`` returns the
    per-stack features that the score convs read and ``forward_head`` applies the
    score convs, so ``forward(X) == forward_head(forward_features(X))``.

    Any input size works (the lowest level is ``H / 2 ** (depth + 2)``); at 64 px
    with depth 4 that level is 1x1, so BN in training mode needs a batch of 2 or more.

    Args:
        block: residual block class, called as ``block(inplanes, planes, skip=...,
            **block_kwargs)`` and mapping to ``2 * planes`` channels.
        block_kwargs: extra keyword arguments for every block.
        stem: ``"conv7x7"`` (7x7 stride-2 conv) or ``"patchify"`` (3x3 stride-2 conv).
        skip: identity skips in the residual blocks (``False`` also drops the stem's
            1x1 projection convs); the hourglass's own skip branches always stay.
        width: feature channels of the hourglasses (256); the stem starts at
            ``width // 4`` and the blocks' bottleneck width is ``width // 2``.
        num_stacks: number of hourglasses.
        num_blocks: residual blocks per stage.
        num_joints: heatmaps per stack.
        depth: levels per hourglass (each halves the resolution).
        merge_weights: one weight per stack; the last hourglass's output becomes
            ``sum_i w_i * HG_i`` (see the module note). ``None``: no merge.
        zero_init_head: zero the score convs, so every heatmap starts at zero.

    Raises:
        ValueError: for a width not a positive multiple of 4, a non-positive count,
            an unknown stem, or ``merge_weights`` of the wrong length.
    """

    def __init__(
        self,
        *,
        block: BlockFn = Bottleneck,
        block_kwargs: dict[str, Any] | None = None,
        stem: str = "conv7x7",
        skip: bool = True,
        width: int = 256,
        num_stacks: int = 2,
        num_blocks: int = 1,
        num_joints: int = 16,
        depth: int = 4,
        merge_weights: Sequence[float] | None = None,
        zero_init_head: bool = False,
    ) -> None:
        super().__init__()
        if width <= 0 or width % 4:
            raise ValueError(f"width must be a positive multiple of 4, got {width}")
        for arg, value in (
            ("num_stacks", num_stacks),
            ("num_blocks", num_blocks),
            ("num_joints", num_joints),
            ("depth", depth),
        ):
            if value < 1:
                raise ValueError(f"{arg} must be at least 1, got {value}")
        if stem not in ("conv7x7", "patchify"):
            raise ValueError(f"stem must be 'conv7x7' or 'patchify', got {stem!r}")
        if merge_weights is not None:
            merge_weights = tuple(float(w) for w in merge_weights)
            if len(merge_weights) != num_stacks:
                raise ValueError(
                    f"merge_weights needs one weight per stack: expected length {num_stacks}, "
                    f"got {len(merge_weights)} ({merge_weights})"
                )
        self.num_stacks = num_stacks
        self.num_joints = num_joints
        self.merge_weights = merge_weights

        def make_block(inplanes: int, planes: int) -> nn.Module:
            return block(inplanes, planes, skip=skip, **(block_kwargs or {}))

        inplanes, feats = width // 4, width // 2
        kernel = 7 if stem == "conv7x7" else 3
        self.conv1 = nn.Conv2d(3, inplanes, kernel, stride=2, padding=kernel // 2)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        # As in hg.py: 64 -> 128, max pool, 128 -> 256, 256 -> 256 (at width 256).
        self.layer1 = _residual(make_block, inplanes, inplanes, 1)
        self.maxpool = nn.MaxPool2d(2, stride=2)
        self.layer2 = _residual(make_block, 2 * inplanes, 2 * inplanes, 1)
        self.layer3 = _residual(make_block, width, feats, 1)

        def fc() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(width, width, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
            )

        self.hg = nn.ModuleList(
            Hourglass(make_block, num_blocks, feats, depth) for _ in range(num_stacks)
        )
        self.res = nn.ModuleList(
            _residual(make_block, width, feats, num_blocks) for _ in range(num_stacks)
        )
        self.fc = nn.ModuleList(fc() for _ in range(num_stacks))
        self.score = nn.ModuleList(nn.Conv2d(width, num_joints, 1) for _ in range(num_stacks))
        self.fc_ = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(num_stacks - 1))
        self.score_ = nn.ModuleList(nn.Conv2d(num_joints, width, 1) for _ in range(num_stacks - 1))
        if zero_init_head:
            self.zero_head()

    def zero_head(self) -> None:
        """Set the score convs' weights and biases to zero (all heatmaps start at zero)."""
        for conv in self.score:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def reset_head(self, num_joints: int, *, zero_init: bool = False) -> None:
        """Replace the score convs (and the heatmap re-injection convs) for ``num_joints``."""
        width = self.score[0].in_channels
        self.num_joints = num_joints
        self.score = nn.ModuleList(nn.Conv2d(width, num_joints, 1) for _ in self.score)
        self.score_ = nn.ModuleList(nn.Conv2d(num_joints, width, 1) for _ in self.score_)
        if zero_init:
            self.zero_head()

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """Return the stem's output: ``width`` channels at a quarter of the input size."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(self.layer1(x))
        return self.layer3(self.layer2(x))

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return each stack's features (the score convs' inputs), first stack first."""
        x = self.forward_stem(x)
        feats: list[torch.Tensor] = []
        hg_outs: list[torch.Tensor] = []
        for i in range(self.num_stacks):
            y = self.hg[i](x)
            hg_outs.append(y)
            if self.merge_weights is not None and i == self.num_stacks - 1:
                y = sum(w * h for w, h in zip(self.merge_weights, hg_outs, strict=True))
            y = self.fc[i](self.res[i](y))
            feats.append(y)
            if i < self.num_stacks - 1:
                x = x + self.fc_[i](y) + self.score_[i](self.score[i](y))
        return feats

    def forward_head(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Apply each stack's score conv to its features; returns the heatmaps."""
        return [score(y) for score, y in zip(self.score, feats, strict=True)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_head(self.forward_features(x))


def _create_hourglass(variant_args: dict[str, Any], **kwargs: Any) -> HourglassNet:
    # Three tiers: HourglassNet's signature < the variant's dict < the caller's kwargs.
    return HourglassNet(**dict(variant_args, **kwargs))


@register_model(cfg=_CFG)
def hourglass_baseline(**kwargs: Any) -> HourglassNet:
    """Stacked hourglass as in bearpaw's ``hg.py``: 2 stacks, 1 block, 256 channels (6.73M)."""
    return _create_hourglass({}, **kwargs)


@register_model(cfg=_CFG)
def hourglass_dilated(**kwargs: Any) -> HourglassNet:
    """Baseline with dilation 2 in each bottleneck's 3x3 conv (report 3.4.1; 6.73M)."""
    return _create_hourglass(dict(block_kwargs=dict(dilation=2)), **kwargs)


@register_model(cfg=_CFG)
def hourglass_patchify(**kwargs: Any) -> HourglassNet:
    """Baseline with the report's "patchify" stem, a 3x3 stride-2 conv (3.4.2; 6.72M)."""
    return _create_hourglass(dict(stem="patchify"), **kwargs)


@register_model(cfg=_CFG)
def hourglass_no_skip(**kwargs: Any) -> HourglassNet:
    """Baseline without the residual blocks' skips and projection convs (3.4.3; 6.69M)."""
    return _create_hourglass(dict(skip=False), **kwargs)


@register_model(cfg=_CFG)
def hourglass_dw_separable_all(**kwargs: Any) -> HourglassNet:
    """All three bottleneck convs as 3x3 depthwise + 1x1 pointwise (3.4.4, fig. 4b; 2.92M)."""
    return _create_hourglass(dict(block_kwargs=dict(separable="all")), **kwargs)


@register_model(cfg=_CFG)
def hourglass_dw_separable_3x3(**kwargs: Any) -> HourglassNet:
    """Only the bottleneck's 3x3 conv depthwise-separable (3.4.4, fig. 4c; 2.80M)."""
    return _create_hourglass(dict(block_kwargs=dict(separable="3x3")), **kwargs)


@register_model(cfg=_CFG)
def hourglass_two_dw_separable(**kwargs: Any) -> HourglassNet:
    """Two depthwise-separable convs 256->128->256 replace the bottleneck (fig. 4d).

    BN-ReLU-sep3x3(256->128), BN-ReLU-sep3x3(128->256), + skip: 2,373,856
    parameters, 24.9 % above the report's 1.90M, which no 256-128-256 design can
    reach (see the module note).
    """
    return _create_hourglass(dict(block=TwoConvBlock, block_kwargs=dict(separable=True)), **kwargs)


@register_model(cfg=_CFG)
def hourglass_two_dilated_dw_separable(**kwargs: Any) -> HourglassNet:
    """``hourglass_two_dw_separable`` with dilation 2 in the second depthwise conv (fig. 4e).

    Same parameters as the undilated design (2,373,856; the report prints none).
    """
    return _create_hourglass(
        dict(block=TwoConvBlock, block_kwargs=dict(separable=True, dilation=(1, 2))), **kwargs
    )


@register_model(cfg=_CFG)
def hourglass_no_bottleneck(**kwargs: Any) -> HourglassNet:
    """Two regular 3x3 convs 256->128->256 replace the bottleneck (3.4.6, fig. 4f; 17.95M)."""
    return _create_hourglass(dict(block=TwoConvBlock), **kwargs)
