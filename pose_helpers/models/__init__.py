"""Model families. Importing this package registers their builders in ``pose_helpers.models.registry``.

Build models by name: ``ph.registry.create_model("hourglass_baseline", width=64)``;
``ph.registry.list_models()`` lists the names.
"""

from __future__ import annotations

from pose_helpers.models import hourglass, layers, mmwave, simple_baselines
from pose_helpers.models.hourglass import Bottleneck, Hourglass, HourglassNet, TwoConvBlock
from pose_helpers.models.layers import SeparableConv2d
from pose_helpers.models.mmwave import MarsCNN, RadarPoseNet
from pose_helpers.models.simple_baselines import SimpleBaselines

__all__ = [
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
