"""Model families. Importing this package registers their builders in ``pose_helpers.registry``.

Build models by name: ``ph.registry.create_model("hourglass_baseline", width=64)``;
``ph.registry.list_models()`` lists the names.
"""

from __future__ import annotations

from . import hourglass, layers, mmwave, simple_baselines
from .hourglass import REPORT_TABLE_1, Bottleneck, Hourglass, HourglassNet, TwoConvBlock
from .layers import SeparableConv2d
from .mmwave import MarsCNN, RadarPoseNet
from .simple_baselines import SimpleBaselines

__all__ = [
    "REPORT_TABLE_1",
    "Bottleneck",
    "Hourglass",
    "HourglassNet",
    "MarsCNN",
    "RadarPoseNet",
    "SeparableConv2d",
    "SimpleBaselines",
    "TwoConvBlock",
    "hourglass",
    "layers",
    "mmwave",
    "simple_baselines",
]
