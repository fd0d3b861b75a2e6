"""Tests of pose_helpers.compress.surgery: exact channel removal through bottlenecks, residual adds,
deconvolutions and the final 1x1 layer, and refusals of what it cannot prove exact.

Every pruned model is checked the same way (:func:`_check_exact`): the original is untouched,
the outputs agree in eval mode, and the parameter count drops by exactly the plan's count.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from pose_helpers.compress import regularizers as R
from pose_helpers.compress import surgery as S
from pose_helpers.cost.bench import count_params
from pose_helpers.models.registry import create_model


class TinyPose(nn.Module):
    """A Simple Baselines in miniature: stem, two bottlenecks (the first with a downsample
    branch), one deconvolution block and the final 1x1 conv to 5 heatmaps."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        down = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.layer1 = nn.Sequential(Bottleneck(8, 4, stride=2, downsample=down), Bottleneck(16, 4))
        self.deconv_layers = nn.Sequential(
            nn.ConvTranspose2d(16, 6, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(6),
            nn.ReLU(inplace=True),
        )
        self.final_layer = nn.Conv2d(6, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(self.relu(self.bn1(self.conv1(x))))
        return self.final_layer(self.deconv_layers(x))


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so a constant channel is not 0."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen) - 0.5)
            elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                m.weight.normal_(0, 0.3, generator=gen)
    return model


@pytest.fixture
def tiny() -> TinyPose:
    torch.manual_seed(0)
    return _randomize(TinyPose()).eval()


X = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _check_exact(model: nn.Module, x: torch.Tensor = X, tol: float = 0.0) -> tuple:
    """Prune; check the original is untouched, the output equal, the count exact."""
    before, training = _state(model), model.training
    plan = S.find_zero_channels(model, x[:1], tol)
    pruned = S.prune_zero_channels(model, x[:1], tol)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "the original changed"
    assert model.training == training and pruned.training == training
    assert count_params(pruned) == count_params(model) - plan.params_removed
    assert plan.params_after == count_params(pruned)
    report = S.channel_report(model, pruned)
    assert report["params_removed"].sum() == plan.params_removed
    model.eval(), pruned.eval()
    with torch.no_grad():
        y, y_hat = model(x), pruned(x)
    model.train(training), pruned.train(training)
    scale = float(y.abs().max())
    torch.testing.assert_close(y_hat, y, rtol=1e-5, atol=1e-6 * max(scale, 1e-3))
    return plan, pruned


def _zero(model: nn.Module, layer: str, channels: list[int], kind: str = "filter") -> None:
    """Zero filter (with BN gamma and beta) or channel groups of one layer."""
    family = next(f for f in R.channel_groups(model, kind, include_io=True) if f.layer == layer)
    which = [i in channels for i in range(family.size)]
    R.zero_groups_(model, [family], which)


# --------------------------------------------------------------------------- (a) bottlenecks


def test_nothing_to_remove_leaves_an_equal_model(tiny):
    plan, pruned = _check_exact(tiny)
    assert plan.params_removed == 0 and plan.num_removed == 0
    assert pruned is not tiny
    assert {n for n, _ in pruned.named_parameters()} == {n for n, _ in tiny.named_parameters()}


def test_bottleneck_internal_channels(tiny):
    _zero(tiny, "layer1.0.conv1", [1, 3])  # conv1 -> bn1 -> relu -> conv2
    _zero(tiny, "layer1.0.conv2", [0])  # conv2 (stride 2) -> bn2 -> relu -> conv3
    plan, pruned = _check_exact(tiny)
    assert plan.out_channels == {
        "layer1.0.conv1": [1, 3],
        "layer1.0.bn1": [1, 3],
        "layer1.0.conv2": [0],
        "layer1.0.bn2": [0],
    }
    assert plan.in_channels == {"layer1.0.conv2": [1, 3], "layer1.0.conv3": [0]}
    block = pruned.layer1[0]
    assert tuple(block.conv1.weight.shape) == (2, 8, 1, 1)
    assert tuple(block.conv2.weight.shape) == (3, 2, 3, 3)
    assert tuple(block.conv3.weight.shape) == (16, 3, 1, 1)
    assert block.bn1.running_mean.shape == (2,) and block.bn2.num_features == 3
    assert plan.params_removed == (2 * 8) + 2 * 2 + (4 * 4 - 3 * 2) * 9 + 2 + 16


def test_gamma_and_beta_zero_alone_kill_a_channel(tiny):
    with torch.no_grad():
        tiny.layer1[1].bn2.weight[2] = 0
        tiny.layer1[1].bn2.bias[2] = 0
    plan, _ = _check_exact(tiny)
    assert plan.out_channels == {"layer1.1.conv2": [2], "layer1.1.bn2": [2]}


def test_zero_filter_with_live_bn_is_a_constant_channel(tiny):
    """A zero filter alone leaves BN's constant beta - gamma mu / sigma: removable only where
    the ReLU clips it to 0."""
    bn = tiny.layer1[0].bn1
    with torch.no_grad():
        tiny.layer1[0].conv1.weight[2] = 0
        bn.running_mean[2], bn.running_var[2], bn.weight[2] = 1.0, 1.0, 1.0
        bn.bias[2] = 2.0  # constant 2 - 1 / sqrt(1 + eps) > 0: the next conv sees it
    plan, _ = _check_exact(tiny)
    assert plan.num_removed == 0
    with torch.no_grad():
        bn.bias[2] = 0.5  # constant 0.5 - 1 / sqrt(1 + eps) < 0: ReLU makes it 0
    plan, _ = _check_exact(tiny)
    assert plan.out_channels == {"layer1.0.conv1": [2], "layer1.0.bn1": [2]}


def test_tolerance(tiny):
    with torch.no_grad():
        tiny.layer1[0].conv1.weight[0] = 1e-9
        tiny.layer1[0].bn1.weight[0] = tiny.layer1[0].bn1.bias[0] = 1e-9
    assert S.find_zero_channels(tiny, X[:1]).num_removed == 0
    plan = S.find_zero_channels(tiny, X[:1], tol=1e-6)
    assert plan.out_channels["layer1.0.conv1"] == [0]
    with pytest.raises(ValueError, match="tol"):
        S.find_zero_channels(tiny, X[:1], tol=-1.0)


# --------------------------------------------------------------------------- (b) residual coupling


def test_residual_channel_goes_only_when_zero_in_every_branch(tiny):
    # channel 5 of the residual stream: block 0's bn3, its downsample, and block 1's bn3
    _zero(tiny, "layer1.0.conv3", [5])
    _zero(tiny, "layer1.1.conv3", [5])
    plan, _ = _check_exact(tiny)
    assert plan.num_removed == 0, "the downsample branch still carries channel 5"

    _zero(tiny, "layer1.0.downsample.0", [5])
    plan, pruned = _check_exact(tiny)
    assert plan.out_channels == {
        "layer1.0.conv3": [5],
        "layer1.0.bn3": [5],
        "layer1.0.downsample.0": [5],
        "layer1.0.downsample.1": [5],
        "layer1.1.conv3": [5],
        "layer1.1.bn3": [5],
    }
    assert plan.in_channels == {"layer1.1.conv1": [5], "deconv_layers.0": [5]}
    assert pruned.layer1[1].conv1.in_channels == 15
    assert tuple(pruned.deconv_layers[0].weight.shape) == (15, 6, 4, 4)  # (in, out, k, k)


def test_residual_channel_zero_in_one_block_only_stays(tiny):
    _zero(tiny, "layer1.0.conv3", [7])
    _zero(tiny, "layer1.0.downsample.0", [7])  # block 0's output is 0 at 7 ...
    plan, _ = _check_exact(tiny)
    # ... so block 1's conv1 reads a 0 there, but block 1 adds its own branch and the
    # deconvolution reads a live channel 7: the coupled channel stays
    assert plan.num_removed == 0


def test_residual_channel_that_no_consumer_reads_goes(tiny):
    """The channel-wise groups: channel 3 of the stream is read by block 1's conv1 and the
    deconvolution; zero both input slices and it goes, although its producers are alive."""
    _zero(tiny, "layer1.1.conv1", [3], kind="channel")
    _zero(tiny, "deconv_layers.0", [3], kind="channel")
    plan, _ = _check_exact(tiny)
    assert plan.out_channels["layer1.0.downsample.0"] == [3]
    assert plan.in_channels == {"layer1.1.conv1": [3], "deconv_layers.0": [3]}


# --------------------------------------------------------------------------- (c) deconv and head


def test_deconvolution_and_final_layer(tiny):
    _zero(tiny, "deconv_layers.0", [1, 4])
    plan, pruned = _check_exact(tiny)
    assert plan.out_channels == {"deconv_layers.0": [1, 4], "deconv_layers.1": [1, 4]}
    assert plan.in_channels == {"final_layer": [1, 4]}
    assert tuple(pruned.deconv_layers[0].weight.shape) == (16, 4, 4, 4)
    assert tuple(pruned.final_layer.weight.shape) == (5, 4, 1, 1)


def test_heatmap_channels_are_never_removed(tiny):
    _zero(tiny, "final_layer", [0, 2])  # weight and bias zero: two heatmaps are 0
    plan, pruned = _check_exact(tiny)
    assert plan.num_removed == 0
    assert pruned.final_layer.out_channels == 5
    assert pruned(X).shape == (2, 5, 16, 16)


def test_a_layer_keeps_one_channel(tiny):
    _zero(tiny, "layer1.1.conv2", list(range(4)))
    plan, pruned = _check_exact(tiny)
    assert plan.out_channels["layer1.1.conv2"] == [1, 2, 3]
    assert pruned.layer1[1].conv2.out_channels == 1


# --------------------------------------------------------------------------- (d) untouched original


def test_original_untouched_in_train_mode_with_frozen_parameters(tiny):
    tiny.train()
    tiny.conv1.weight.requires_grad_(False)
    _zero(tiny, "layer1.0.conv1", [0])
    ids = {n: id(p) for n, p in tiny.named_parameters()}
    plan, pruned = _check_exact(tiny)  # checks state_dict (incl. BN running stats) and mode
    assert plan.num_removed == 1
    assert pruned.training and tiny.training
    assert not pruned.conv1.weight.requires_grad and pruned.layer1[0].conv1.weight.requires_grad
    assert {n: id(p) for n, p in tiny.named_parameters()} == ids
    assert not tiny.conv1.weight.requires_grad
    assert all(p.grad is None for p in tiny.parameters())


# --------------------------------------------------------------------------- (f) Simple Baselines


def test_simple_baselines_resnet18_with_random_dead_groups():
    torch.manual_seed(0)
    model = _randomize(create_model("simple_baselines_resnet18", num_joints=4)).eval()
    gen = torch.Generator().manual_seed(0)
    filters = R.channel_groups(model, "filter")
    R.zero_groups_(model, filters, torch.rand(R.num_groups(filters), generator=gen) < 0.3)
    channels = R.channel_groups(model, "channel")
    R.zero_groups_(model, channels, torch.rand(R.num_groups(channels), generator=gen) < 0.05)
    x = torch.randn(1, 3, 32, 32, generator=gen)
    plan, pruned = _check_exact(model, x)
    assert plan.params_removed > 0.2 * plan.params_before
    groups = plan.groups.set_index("root")
    assert groups.loc["final_layer", "protected"] and groups.loc["final_layer", "removed"] == 0
    assert groups.loc["layer3.0.conv1", "removed"] > 0  # internal channels
    assert groups.loc["deconv_layers.0", "removed"] > 0
    assert pruned.final_layer.out_channels == 4
    # and it still trains: a backward pass through the pruned model
    pruned.train()
    pruned(x.repeat(2, 1, 1, 1)).sum().backward()


# --------------------------------------------------------------------------- (g) refusals


class _Seq(nn.Module):
    def __init__(self, middle: nn.Module, conv2: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.middle = middle
        self.conv2 = conv2 or nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.middle(self.conv(x)))


class _AddConstant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv(x) + 1.0)


class _Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.relu(self.conv(x)))


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean((2, 3)))


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (_Seq(nn.Sigmoid()), r"'middle' \(Sigmoid\)"),
        (_Seq(nn.Upsample(scale_factor=2)), r"'middle' \(Upsample\)"),
        (_Seq(nn.Identity(), nn.Conv2d(4, 2, 3, groups=2)), r"'conv2'.*groups=2"),
        (_Seq(nn.BatchNorm1d(4)), r"'middle' \(BatchNorm1d"),
        (_AddConstant(), r"AddBackward0 applied to layer 'conv'"),
        (_Reused(), r"'conv' is used 2 times"),
        (_Linear(), r"'fc' \(Linear"),
    ],
)
def test_refuses_what_it_cannot_prove_exact(model, match):
    with pytest.raises(NotImplementedError, match=match):
        S.prune_zero_channels(model, torch.randn(1, 3, 8, 8))


def test_a_wrong_plan_is_caught_by_the_last_check(tiny, monkeypatch):
    """Were the analysis ever wrong, the example input's output would give it away."""
    real_plan = S._Analysis.plan

    def wrong_plan(self):
        plan, _ = real_plan(self)
        return plan, [(self.model.layer1[0].conv1, [0])]  # a live channel

    monkeypatch.setattr(S._Analysis, "plan", wrong_plan)
    with pytest.raises(RuntimeError, match="changed the output"):
        S.prune_zero_channels(tiny, X[:1])


# --------------------------------------------------------------------------- keep ratios


def test_keep_ratios_transfer_from_resnet18_to_resnet50():
    small = create_model("simple_baselines_resnet18", num_joints=4).eval()
    units = S.keep_ratio_units(small)
    assert units == [
        "deconv0",
        "deconv1",
        "deconv2",
        *[f"layer{s}.{r}" for s in range(1, 5) for r in ("internal", "residual")],
        "stem",
    ]
    x = torch.randn(1, 3, 32, 32)
    half = S.apply_keep_ratios(small, {u: 0.5 for u in units}, x)
    ratios = S.keep_ratios(small, half)
    assert ratios == {u: 0.5 for u in units}  # resnet18's stem is coupled to layer1
    assert half.layer1[0].conv1.out_channels == 32 and half.layer4[1].conv2.out_channels == 256
    assert half(x).shape == (1, 4, 8, 8)

    big = create_model("simple_baselines_resnet50", num_joints=4).eval()
    ratios = {**ratios, "layer2.internal": 0.25, "deconv2": 1.0}
    engineered = S.apply_keep_ratios(big, ratios, x)
    assert S.keep_ratios(big, engineered) == pytest.approx(ratios)
    block = engineered.layer2[0]  # a bottleneck: both internal convs follow the unit
    assert (block.conv1.out_channels, block.conv2.out_channels) == (32, 32)
    assert (
        block.conv3.out_channels == 256 and engineered.layer4[0].downsample[0].out_channels == 1024
    )
    assert engineered(x).shape == (1, 4, 8, 8)
    assert count_params(engineered) < 0.4 * count_params(big)
    assert big.layer2[0].conv1.out_channels == 128  # untouched


def test_bad_keep_ratios():
    small = create_model("simple_baselines_resnet18")
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match="'layer5.internal'"):
        S.apply_keep_ratios(small, {"layer5.internal": 0.5}, x)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="stem"):
            S.apply_keep_ratios(small, {"stem": bad}, x)
