"""mmWave radar pose models: the component-size study's network and the MARS CNN.

:class:`RadarPoseNet` has the three components of the study (seed poster 000, R. Verver,
"The Effects of Component Size on Model Accuracy, Latency and Memory Usage for mmWave
Human-Pose Estimation"): a per-frame **feature extractor** of three 3x3 conv layers over
the 8x8x5 MARS feature map, a **recurrent layer** over the frames of a window, and a
**regression head** (a hidden dense layer, then 57 outputs). Input ``(B, T, 8, 8, 5)``,
any ``T >= 1``; output ``(B, 57)``: the 19 joints of the window's last frame in MARS's
label layout (x0..x18, y0..y18, z0..z18), in metres.

Layer details the poster does not give, chosen here: each conv is conv-BN-ReLU with
"same" padding (the 8x8 map keeps its size, as in the MARS CNN); the third conv's map is
flattened (``64 * feat[2]`` values per frame, MARS style) into a one-layer recurrent cell;
its last hidden state feeds ``Linear(rec, head)``-ReLU-``Linear(head, 57)``.

Two fixed steps keep inputs and outputs on a usable scale. Intensity (channel 4) spans
2 to 2,500 in the rebuilt MARS features, so the model takes ``log1p`` of it first (zero
padding stays zero; no parameters). The output is ``z * label_scale + label_mean`` with
two **buffers** (not parameters) that the training code sets from the training labels
(:meth:`RadarPoseNet.set_label_stats`), so the network regresses centred, unit-scale
targets while its output stays in metres.

The 13 configurations of the poster's table are registered as ``mmwave_<name>``
(``mmwave_baseline``, ``mmwave_0125_feat``, ...; :data:`CONFIGS`). ``0250_feat`` is
printed 8/12/64, not 8/12/16 as a x0.25 scale would give; we keep the printed sizes.
Default parameter counts (GRU, 19 joints; a test checks the baseline's by hand):

=============  ==============  ==========   =============  ==============  ==========
configuration  feat/rec/head   parameters   configuration  feat/rec/head   parameters
=============  ==============  ==========   =============  ==============  ==========
baseline       32-48-64/64/128    857,977   0125_head      32-48-64/64/16     844,313
0125_feat      4-6-8/64/128       127,513   0250_head      32-48-64/64/32     846,265
0250_feat      8-12-64/64/128     823,081   2000_head      32-48-64/64/256    873,593
2000_feat      64-96-128/64/128 1,770,553   impr_small     4-6-8/16/16         27,545
0125_rec       32-48-64/8/128     150,249   impr_medium    8-12-16/16/16       54,281
0250_rec       32-48-64/16/128    250,201   impr_large     32-48-64/16/16     241,913
2000_rec       32-48-64/128/128 1,689,849   mars_cnn       (MARS CNN)       1,084,793
=============  ==============  ==========   =============  ==============  ==========

Baseline by hand: conv weights 5*32*9 + 32*48*9 + 48*64*9 = 42,912 (no conv bias: BN
follows), BN 2*(32+48+64) = 288; GRU 3*64*(4096 + 64) + 2*3*64 = 799,104; head
64*128 + 128 + 128*57 + 57 = 15,673; total 857,977. The recurrent layer's input weights
dominate (4,096 flattened features per frame), so the feature extractor's last width and
the recurrent size set most of the count; the 0250_feat row, printed with an unscaled
third layer (64), keeps 96 % of the baseline's parameters.

GRU or LSTM (measured with ``pose_helpers.studies.mmwave.compare_cells`` on the project's 2-core
CPU, one thread, batch 1, the baseline; the machine also ran another job, so +-10 %):
the GRU's median latency was 0.24 / 0.37 / 0.48 / 0.66 ms for windows of 1 / 2 / 4 / 8
frames and the LSTM's 0.63 / 0.75 / 0.84 / 1.00 ms (its fused kernel costs ~0.4 ms more
at every window); the LSTM has 1,124,345 parameters to the GRU's 857,977 (four gates to
three). Trained for 3 epochs on the real MARS training split (window 4, batch 64, seed 0)
the two reached 6.05 cm (LSTM) and 6.20 cm (GRU) test MAE at the same training time per
epoch (the convolutions dominate it): no accuracy difference a single seed can resolve,
against 43 % less latency. The GRU is :data:`DEFAULT_CELL`.

The window, :data:`DEFAULT_WINDOW` = 4 frames (0.4 s at MARS's 10 frames per second):
with the GRU baseline on MARS (3 epochs, seed 0) the test MAE was 6.78 / 6.20 / 5.56 cm
for windows of 2 / 4 / 8, so context helps, but training time grows with the window
(about 5 / 10 / 23 s an epoch, since every frame of a window goes through the convs).
At equal training time 4 frames won twice: 6 epochs of 1 frame (28 s) gave 6.47 cm
against 6.20 cm for 3 epochs of 4 frames (32 s), and 6 epochs of 4 frames (87 s) gave
5.38 cm against 5.56 cm for 3 epochs of 8 frames (74 s). Batch-1 latency is 0.48 ms at
4 frames against 0.66 ms at 8.

``mmwave_mars_cnn`` is the MARS paper's CNN (An & Ogras 2021, ``MARS_model.py``):
Conv16-ReLU-Dropout(0.3), Conv32-ReLU-Dropout(0.3), BN, Flatten, Dense512-ReLU, BN,
Dropout(0.4), Dense57: 1,084,793 parameters. It sees one frame, the window's last.

Registry settings: ``ModelCfg.input_size`` is ``(8, 8)``, the feature map's grid; the
image fields (heatmap stride, RGB mean/std) do not apply to these regression models.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pose_helpers.models.registry import ModelCfg, register_model

__all__ = [
    "CONFIGS",
    "DEFAULT_CELL",
    "DEFAULT_WINDOW",
    "FRAME_SHAPE",
    "MarsCNN",
    "RadarPoseNet",
    "check_radar_input",
    "mmwave_0125_feat",
    "mmwave_0125_head",
    "mmwave_0125_rec",
    "mmwave_0250_feat",
    "mmwave_0250_head",
    "mmwave_0250_rec",
    "mmwave_2000_feat",
    "mmwave_2000_head",
    "mmwave_2000_rec",
    "mmwave_baseline",
    "mmwave_impr_large",
    "mmwave_impr_medium",
    "mmwave_impr_small",
    "mmwave_mars_cnn",
]

#: One radar frame: 64 points x (x, y, z, Doppler, intensity), stored as an 8x8 grid.
FRAME_SHAPE = (8, 8, 5)
NUM_JOINTS = 19
DEFAULT_CELL = "gru"
DEFAULT_WINDOW = 4

#: The poster's table: name -> (feature extractor channels, recurrent size, head size).
CONFIGS: dict[str, tuple[tuple[int, int, int], int, int]] = {
    "baseline": ((32, 48, 64), 64, 128),
    "0125_feat": ((4, 6, 8), 64, 128),
    "0250_feat": ((8, 12, 64), 64, 128),  # printed 8/12/64 (not 8/12/16): kept as printed
    "2000_feat": ((64, 96, 128), 64, 128),
    "0125_rec": ((32, 48, 64), 8, 128),
    "0250_rec": ((32, 48, 64), 16, 128),
    "2000_rec": ((32, 48, 64), 128, 128),
    "0125_head": ((32, 48, 64), 64, 16),
    "0250_head": ((32, 48, 64), 64, 32),
    "2000_head": ((32, 48, 64), 64, 256),
    "impr_small": ((4, 6, 8), 16, 16),
    "impr_medium": ((8, 12, 16), 16, 16),
    "impr_large": ((32, 48, 64), 16, 16),
}

_CFG = ModelCfg(input_size=(8, 8))


def check_radar_input(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a finite-coordinate ``(B, T, 8, 8, 5)`` tensor."""
    if x.ndim != 5 or tuple(x.shape[2:]) != FRAME_SHAPE or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"expected radar windows of shape (B, T, 8, 8, 5) with B, T >= 1, got {tuple(x.shape)}"
        )
    # A data-dependent check cannot be traced: an exported graph (ONNX) skips it.
    tracing = torch.compiler.is_compiling() or torch.compiler.is_exporting()
    if not tracing and torch.isnan(x).any():
        raise ValueError("radar input contains NaN values")


def _prepare(x: torch.Tensor) -> torch.Tensor:
    """``(..., 8, 8, 5)`` -> ``(N, 5, 8, 8)`` with log-compressed intensity."""
    frames = x.reshape(-1, *FRAME_SHAPE)
    # Intensity spans 2..2500: log1p brings it to the scale of the other channels, and
    # keeps the zero padding of frames with fewer than 64 points at zero.
    intensity = torch.log1p(frames[..., 4:].clamp(min=0))
    frames = torch.cat([frames[..., :4], intensity], dim=-1)
    return frames.permute(0, 3, 1, 2)


class _LabelScale(nn.Module):
    """``z * scale + mean``: maps normalised outputs to metres (buffers, not parameters)."""

    def __init__(self, num_outputs: int) -> None:
        super().__init__()
        self.register_buffer("label_mean", torch.zeros(num_outputs))
        self.register_buffer("label_scale", torch.ones(()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.label_scale + self.label_mean


class _Regressor(nn.Module):
    """Shared by both models: the label statistics and their setter."""

    output_scale: _LabelScale

    def set_label_stats(self, mean: Any, scale: float) -> None:
        """Set the output's per-coordinate mean (57 values, metres) and common scale."""
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        if mean.numel() != self.output_scale.label_mean.numel() or not float(scale) > 0:
            raise ValueError(
                f"expected {self.output_scale.label_mean.numel()} means and a scale > 0, "
                f"got {mean.numel()} and {scale!r}"
            )
        self.output_scale.label_mean.copy_(mean)
        self.output_scale.label_scale.fill_(float(scale))


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class RadarPoseNet(_Regressor):
    """Feature extractor (3 convs per frame), recurrent layer over frames, regression head.

    Args:
        feat: channels of the three 3x3 conv layers.
        rec: hidden size of the recurrent cell.
        head: width of the head's hidden dense layer.
        cell: ``'gru'`` or ``'lstm'``.
        num_joints: joints to regress (outputs ``3 * num_joints``: all x, all y, all z).

    Raises:
        ValueError: for an unknown cell or non-positive sizes.
    """

    def __init__(
        self,
        feat: tuple[int, int, int] | list[int] = (32, 48, 64),
        rec: int = 64,
        head: int = 128,
        cell: str = DEFAULT_CELL,
        num_joints: int = NUM_JOINTS,
    ) -> None:
        super().__init__()
        feat = tuple(int(c) for c in feat)
        if len(feat) != 3 or min(feat) < 1 or rec < 1 or head < 1 or num_joints < 1:
            raise ValueError(
                f"expected 3 positive conv widths and positive sizes, "
                f"got feat={feat}, rec={rec}, head={head}, num_joints={num_joints}"
            )
        cells = {"gru": nn.GRU, "lstm": nn.LSTM}
        if cell not in cells:
            raise ValueError(f"cell={cell!r}; expected one of {sorted(cells)}")
        self.feat, self.rec, self.head_size, self.cell = feat, int(rec), int(head), cell
        self.features = nn.Sequential(
            _conv_bn_relu(FRAME_SHAPE[2], feat[0]),
            _conv_bn_relu(feat[0], feat[1]),
            _conv_bn_relu(feat[1], feat[2]),
            nn.Flatten(),
        )
        frame_features = feat[2] * FRAME_SHAPE[0] * FRAME_SHAPE[1]
        self.recurrent = cells[cell](frame_features, self.rec, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(self.rec, self.head_size),
            nn.ReLU(inplace=True),
            nn.Linear(self.head_size, 3 * num_joints),
        )
        self.output_scale = _LabelScale(3 * num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_radar_input(x)
        batch, frames = x.shape[:2]
        per_frame = self.features(_prepare(x)).reshape(batch, frames, -1)
        _, state = self.recurrent(per_frame)
        last = (state[0] if isinstance(state, tuple) else state)[-1]  # LSTM: (h, c)
        return self.output_scale(self.head(last))


class MarsCNN(_Regressor):
    """The MARS paper's single-frame CNN; takes ``(B, T, 8, 8, 5)`` and uses the last frame.

    Keras's BatchNormalization(momentum=0.95) is torch's ``momentum=0.05``, eps 1e-3.
    """

    def __init__(self, num_joints: int = NUM_JOINTS) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(FRAME_SHAPE[2], 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.BatchNorm2d(32, eps=1e-3, momentum=0.05),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(32 * FRAME_SHAPE[0] * FRAME_SHAPE[1], 512),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(512, eps=1e-3, momentum=0.05),
            nn.Dropout(0.4),
            nn.Linear(512, 3 * num_joints),
        )
        self.output_scale = _LabelScale(3 * num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_radar_input(x)
        return self.output_scale(self.head(self.features(_prepare(x[:, -1]))))


def _create(name: str, **kwargs: Any) -> RadarPoseNet:
    feat, rec, head = CONFIGS[name]
    return RadarPoseNet(**{"feat": feat, "rec": rec, "head": head, **kwargs})


@register_model(cfg=_CFG)
def mmwave_baseline(**kwargs: Any) -> RadarPoseNet:
    """Poster baseline: feature extractor 32-48-64, recurrent 64, head 128."""
    return _create("baseline", **kwargs)


@register_model(cfg=_CFG)
def mmwave_0125_feat(**kwargs: Any) -> RadarPoseNet:
    """Feature extractor x0.125: 4-6-8 (recurrent 64, head 128)."""
    return _create("0125_feat", **kwargs)


@register_model(cfg=_CFG)
def mmwave_0250_feat(**kwargs: Any) -> RadarPoseNet:
    """Feature extractor "x0.25" as printed: 8-12-64 (not 8-12-16; recurrent 64, head 128)."""
    return _create("0250_feat", **kwargs)


@register_model(cfg=_CFG)
def mmwave_2000_feat(**kwargs: Any) -> RadarPoseNet:
    """Feature extractor x2: 64-96-128 (recurrent 64, head 128)."""
    return _create("2000_feat", **kwargs)


@register_model(cfg=_CFG)
def mmwave_0125_rec(**kwargs: Any) -> RadarPoseNet:
    """Recurrent layer x0.125: 8 units (feature extractor 32-48-64, head 128)."""
    return _create("0125_rec", **kwargs)


@register_model(cfg=_CFG)
def mmwave_0250_rec(**kwargs: Any) -> RadarPoseNet:
    """Recurrent layer x0.25: 16 units (feature extractor 32-48-64, head 128)."""
    return _create("0250_rec", **kwargs)


@register_model(cfg=_CFG)
def mmwave_2000_rec(**kwargs: Any) -> RadarPoseNet:
    """Recurrent layer x2: 128 units (feature extractor 32-48-64, head 128)."""
    return _create("2000_rec", **kwargs)


@register_model(cfg=_CFG)
def mmwave_0125_head(**kwargs: Any) -> RadarPoseNet:
    """Regression head x0.125: 16 units (feature extractor 32-48-64, recurrent 64)."""
    return _create("0125_head", **kwargs)


@register_model(cfg=_CFG)
def mmwave_0250_head(**kwargs: Any) -> RadarPoseNet:
    """Regression head x0.25: 32 units (feature extractor 32-48-64, recurrent 64)."""
    return _create("0250_head", **kwargs)


@register_model(cfg=_CFG)
def mmwave_2000_head(**kwargs: Any) -> RadarPoseNet:
    """Regression head x2: 256 units (feature extractor 32-48-64, recurrent 64)."""
    return _create("2000_head", **kwargs)


@register_model(cfg=_CFG)
def mmwave_impr_small(**kwargs: Any) -> RadarPoseNet:
    """Poster's proposed small model: 4-6-8, recurrent 16, head 16."""
    return _create("impr_small", **kwargs)


@register_model(cfg=_CFG)
def mmwave_impr_medium(**kwargs: Any) -> RadarPoseNet:
    """Poster's proposed medium model: 8-12-16, recurrent 16, head 16."""
    return _create("impr_medium", **kwargs)


@register_model(cfg=_CFG)
def mmwave_impr_large(**kwargs: Any) -> RadarPoseNet:
    """Poster's proposed large model: 32-48-64, recurrent 16, head 16."""
    return _create("impr_large", **kwargs)


@register_model(cfg=_CFG)
def mmwave_mars_cnn(**kwargs: Any) -> MarsCNN:
    """The MARS paper's CNN (Conv16, Conv32, Dense512, Dense57) on the window's last frame."""
    return MarsCNN(**kwargs)
