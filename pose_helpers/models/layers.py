"""Small layers shared by the model families."""

from __future__ import annotations

from torch import nn

__all__ = ["SeparableConv2d", "conv2d"]


class SeparableConv2d(nn.Sequential):
    """Depthwise-separable convolution: a depthwise ``k x k`` conv, then a pointwise 1x1.

    Both convolutions carry a bias and nothing sits between them (no norm, no
    activation), which is the reading that reproduces the hourglass report's
    parameter counts (2.80M and 2.92M in its Table 1).

    Args:
        in_channels: input channels (also the depthwise conv's groups).
        out_channels: output channels of the pointwise conv.
        kernel_size: depthwise kernel size (odd).
        dilation: depthwise dilation; the padding keeps the spatial size.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, kernel_size: int = 3, dilation: int = 1
    ) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            padding=dilation * (kernel_size - 1) // 2,
            dilation=dilation,
            groups=in_channels,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)


def conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    dilation: int = 1,
    separable: bool = False,
) -> nn.Module:
    """Return a same-padding conv with bias, or its depthwise-separable version.

    With ``separable=True`` the conv becomes :class:`SeparableConv2d` with a 3x3
    depthwise kernel, whatever ``kernel_size`` is: the report replaces even the
    bottleneck's 1x1 convs by "3x3 depthwise separable" ones.
    """
    if separable:
        return SeparableConv2d(in_channels, out_channels, kernel_size=3, dilation=dilation)
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        padding=dilation * (kernel_size - 1) // 2,
        dilation=dilation,
    )
