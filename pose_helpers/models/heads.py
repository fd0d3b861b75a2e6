"""Head designs for Simple Baselines (seed 002, "Rethinking the deconvolution head").

Simple Baselines ends in three 4 x 4 deconvolutions of 256 channels and a 1 x 1 conv; at
full scale the head holds a large share of the multiply-accumulates. The variants here keep
the backbone and change the head:

* fewer deconvolution channels (``deconv_channels``: 256 / 128 / 64 / 32);
* fewer deconvolutions (``num_deconv``: 2 instead of 3) and a final bilinear upsample of
  the heatmaps by the missing factor (:class:`Upsampled`), so every design gives heatmaps
  of the same size and is scored the same way.

:func:`head_design` builds one; :func:`head_share` measures what the head costs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Upsampled", "head_design", "head_share"]


class Upsampled(nn.Module):
    """``model``'s heatmaps upsampled by ``factor`` (bilinear), e.g. after one deconvolution
    fewer. The wrapped model stays at ``.model`` (its module names under ``model.``)."""

    def __init__(self, model: nn.Module, factor: int) -> None:
        super().__init__()
        if factor < 1:
            raise ValueError(f"factor must be at least 1; got {factor}")
        self.model, self.factor = model, int(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        if self.factor == 1:
            return y
        return F.interpolate(y, scale_factor=self.factor, mode="bilinear", align_corners=False)


def head_design(
    deconv_channels: int = 256,
    num_deconv: int = 3,
    *,
    model: str = "simple_baselines_resnet50",
    **kwargs: Any,
) -> nn.Module:
    """Simple Baselines with ``num_deconv`` deconvolutions of ``deconv_channels`` channels,
    upsampled to the three-deconvolution heatmap size where it has fewer.

    Args:
        deconv_channels: channels of every deconvolution.
        num_deconv: 1 to 3 deconvolutions.
        model: the registry's name of the Simple Baselines variant.
        kwargs: other arguments of the model (``width``, ``num_joints`` ...).

    Raises:
        ValueError: for ``num_deconv`` outside 1-3 or fewer than 1 channel.
    """
    from pose_helpers.models.registry import create_model

    if num_deconv not in (1, 2, 3):
        raise ValueError(f"num_deconv must be 1, 2 or 3; got {num_deconv!r}")
    if deconv_channels < 1:
        raise ValueError(f"deconv_channels must be at least 1; got {deconv_channels!r}")
    net = create_model(
        model, num_deconv_layers=num_deconv, deconv_channels=deconv_channels, **kwargs
    )
    return net if num_deconv == 3 else Upsampled(net, 2 ** (3 - num_deconv))


def head_share(model: nn.Module, input_shape: tuple[int, int, int]) -> dict[str, float]:
    """The head's (``deconv_layers`` and ``final_layer``) share of the parameters and of the
    multiply-accumulates of a Simple Baselines model at ``input_shape``."""
    from pose_helpers.cost import bench

    net = model.model if isinstance(model, Upsampled) else model
    head = [net.deconv_layers, net.final_layer]
    params = sum(p.numel() for m in head for p in m.parameters())
    head_macs = sum(_head_macs(net, input_shape))
    return {
        "params": float(params),
        "params_share": params / bench.count_params(net),
        "macs": head_macs,
        "macs_share": head_macs / bench.macs(net, input_shape),
    }


def _head_macs(net: nn.Module, input_shape: tuple[int, int, int]) -> list[float]:
    """Multiply-accumulates of each head layer, from the shapes a forward pass records."""
    shapes: dict[nn.Module, tuple[torch.Size, torch.Size]] = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o: shapes.__setitem__(mod, (i[0].shape, o.shape)))
        for m in [*net.deconv_layers, net.final_layer]
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
    ]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
    out = []
    for m, (inp, outp) in shapes.items():
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, nn.ConvTranspose2d):  # each input pixel meets every kernel tap
            out.append(float(inp[2] * inp[3] * m.in_channels * m.out_channels * k))
        else:
            out.append(float(outp[2] * outp[3] * m.in_channels * m.out_channels * k))
    return out
