"""Tests of pose_helpers.compress.regularizers: penalties against hand computations, thresholds, sizes.

The tiny network has one of each case: a conv followed by BN (its filter groups hold gamma
and beta), a deconvolution with a bias and no BN, and a final 1x1 conv (the heatmaps).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from pose_helpers.compress import algorithm1 as A1
from pose_helpers.compress import regularizers as R
from pose_helpers.models.registry import create_model


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(3)
        self.relu = nn.ReLU()
        self.deconv = nn.ConvTranspose2d(3, 2, 2, stride=2)
        self.head = nn.Conv2d(2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.deconv(self.relu(self.bn(self.conv(x)))))


@pytest.fixture
def tiny() -> Tiny:
    m = Tiny()
    with torch.no_grad():
        m.conv.weight.copy_((torch.arange(54.0) - 27).reshape(3, 2, 3, 3) / 10)
        m.bn.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        m.bn.bias.copy_(torch.tensor([0.5, -0.5, 0.0]))
        m.bn.running_mean.copy_(torch.tensor([1.0, -2.0, 0.5]))
        m.bn.running_var.copy_(torch.tensor([2.0, 0.5, 1.0]))
        m.deconv.weight.copy_((torch.arange(24.0) - 12).reshape(3, 2, 2, 2) / 10)
        m.deconv.bias.copy_(torch.tensor([0.1, -0.2]))
        m.head.weight.copy_(torch.tensor([0.3, -0.4]).reshape(1, 2, 1, 1))
        m.head.bias.fill_(0.7)
    return m


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(float)


def _hand_norms(m: Tiny) -> list[float]:
    """Group norms, written out group by group (order: conv filter, deconv filter, deconv
    channel, head channel)."""
    wc, g, b = _np(m.conv.weight), _np(m.bn.weight), _np(m.bn.bias)
    wd, bd, wh = _np(m.deconv.weight), _np(m.deconv.bias), _np(m.head.weight)
    norms = []
    for o in range(3):  # conv filter o with its BN gamma and beta
        norms.append(math.sqrt(sum(v * v for v in wc[o].ravel()) + g[o] ** 2 + b[o] ** 2))
    for o in range(2):  # deconv weight is (in, out, k, k): filter o is W[:, o] plus bias
        norms.append(math.sqrt(sum(v * v for v in wd[:, o].ravel()) + bd[o] ** 2))
    for c in range(3):  # deconv input channel c is W[c]
        norms.append(math.sqrt(sum(v * v for v in wd[c].ravel())))
    for c in range(2):  # head input channel c
        norms.append(abs(wh[0, c, 0, 0]))
    return norms


# --------------------------------------------------------------------------- groups


def test_channel_groups_follow_table_4_1(tiny):
    groups = R.channel_groups(tiny)
    assert [f.name for f in groups] == [
        "conv:filter",  # conv:channel reads the image: left out
        "deconv:filter",
        "deconv:channel",
        "head:channel",  # head:filter is the heatmaps: left out
    ]
    conv, deconv_f, deconv_c, head = groups
    assert conv.members == (("conv.weight", 0), ("bn.weight", 0), ("bn.bias", 0))
    assert (conv.size, conv.numel) == (3, 2 * 9 + 2)
    assert deconv_f.members == (("deconv.weight", 1), ("deconv.bias", 0))
    assert (deconv_f.size, deconv_f.numel) == (2, 3 * 4 + 1)
    assert deconv_c.members == (("deconv.weight", 0),)
    assert (deconv_c.size, deconv_c.numel) == (3, 2 * 4)
    assert head.members == (("head.weight", 1),)
    assert R.num_groups(groups) == 10
    assert conv.group_names() == ["conv:filter[0]", "conv:filter[1]", "conv:filter[2]"]

    everything = R.channel_groups(tiny, include_io=True)
    assert {"conv:channel", "head:filter"} <= {f.name for f in everything}
    assert [f.name for f in R.channel_groups(tiny, "filter")] == ["conv:filter", "deconv:filter"]
    assert [f.name for f in R.channel_groups(tiny, "channel", exclude=["head"])] == [
        "deconv:channel"
    ]


def test_channel_groups_pair_every_conv_of_simple_baselines_with_its_bn():
    model = create_model("simple_baselines_resnet18")
    groups = {f.name: f for f in R.channel_groups(model, "filter")}
    assert "final_layer:filter" not in groups
    assert groups["layer1.0.conv1:filter"].members[1:] == (
        ("layer1.0.bn1.weight", 0),
        ("layer1.0.bn1.bias", 0),
    )
    assert groups["layer2.0.downsample.0:filter"].members[1][0] == "layer2.0.downsample.1.weight"
    assert groups["deconv_layers.0:filter"].members == (
        ("deconv_layers.0.weight", 1),
        ("deconv_layers.1.weight", 0),
        ("deconv_layers.1.bias", 0),
    )
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    assert len(groups) == len(convs) - 1  # every conv but the final layer, each with its BN
    assert all(len(f.members) == 3 for f in groups.values())
    channels = R.channel_groups(model, "channel")
    assert "conv1:channel" not in {f.name for f in channels}
    assert len(channels) == len(convs) - 1


def test_bad_kind_and_exclude():
    with pytest.raises(ValueError, match="kind"):
        R.channel_groups(Tiny(), "row")
    with pytest.raises(ValueError, match="'bn'"):
        R.channel_groups(Tiny(), exclude=["bn"])


# --------------------------------------------------------------------------- penalties


def test_l1_penalty_by_hand(tiny):
    weights = [_np(tiny.conv.weight), _np(tiny.deconv.weight), _np(tiny.head.weight)]
    hand = 0.25 * sum(abs(v) for w in weights for v in w.ravel())  # no biases, no BN
    assert R.l1_penalty(tiny, 0.25).item() == pytest.approx(hand, rel=1e-6)
    assert list(R.conv_weights(tiny)) == ["conv.weight", "deconv.weight", "head.weight"]


def test_group_lasso_penalty_by_hand(tiny):
    hand = _hand_norms(tiny)
    groups = R.channel_groups(tiny)
    np.testing.assert_allclose(R.group_norms(tiny, groups).detach().numpy(), hand, rtol=1e-6)
    assert R.group_lasso_penalty(tiny, 0.5, groups).item() == pytest.approx(
        0.5 * sum(hand), rel=1e-6
    )
    # per-group weights (Algorithm 1's omega): a flat vector or a mapping per layer
    omega = np.arange(10) / 4
    assert R.group_lasso_penalty(tiny, 0.5, groups, weights=omega).item() == pytest.approx(
        0.5 * float(np.dot(omega, hand)), rel=1e-6
    )
    by_layer = {"conv:filter": [2.0, 0.0, 1.0]}  # unnamed layers weigh 1
    expected = 0.5 * (2 * hand[0] + hand[2] + sum(hand[3:]))
    assert R.group_lasso_penalty(tiny, 0.5, groups, weights=by_layer).item() == pytest.approx(
        expected, rel=1e-6
    )
    rms = R.group_norms(tiny, groups, statistic="rms").detach().numpy()
    numel = [20] * 3 + [13] * 2 + [8] * 3 + [1] * 2
    np.testing.assert_allclose(rms, np.array(hand) / np.sqrt(numel), rtol=1e-6)


def test_group_lasso_gradient_is_finite_at_a_zero_group(tiny):
    groups = R.channel_groups(tiny)
    R.zero_groups_(tiny, groups, [True] + [False] * 9)
    R.group_lasso_penalty(tiny, 1.0, groups).backward()
    assert torch.isfinite(tiny.conv.weight.grad).all()
    assert torch.all(tiny.conv.weight.grad[0] == 0)  # the subgradient 0 at the kink


def test_from_thesis_lambda():
    assert R.from_thesis_lambda(1e-8) == pytest.approx(2e-8)
    assert R.THESIS_THRESHOLDS == (0.01, 0.001, 0.0001)


# --------------------------------------------------------------------------- thresholds


def test_threshold_weights(tiny):
    with torch.no_grad():
        tiny.conv.weight[0, 0, 0, 0] = 0.004
        tiny.conv.weight[0, 0, 0, 1] = -0.009
        tiny.conv.weight[0, 0, 0, 2] = 0.01  # not below the threshold
        tiny.deconv.bias[0] = 0.001  # biases and BN are not thresholded
        tiny.bn.bias[2] = 0.0005
    zero_before = int((tiny.conv.weight == 0).sum())
    assert R.threshold_(tiny, 0.01, "weight") == 2 + 0  # conv.weight holds the only small ones
    assert int((tiny.conv.weight == 0).sum()) == zero_before + 2
    assert tiny.conv.weight[0, 0, 0, 2].item() == pytest.approx(0.01)
    assert tiny.deconv.bias[0].item() == pytest.approx(0.001)
    assert tiny.bn.bias[2].item() == pytest.approx(5e-4)


def test_threshold_groups_norm_versus_rms(tiny):
    with torch.no_grad():
        tiny.conv.weight[1] = 0.01  # 18 values: norm 0.01 * sqrt(20) > 0.03 > rms 0.01
        tiny.bn.weight[1] = tiny.bn.bias[1] = 0.01
    by_norm = R.threshold_(tiny, 0.03, "group")
    # conv filter 1 (norm 0.045) stays; head channel groups (|0.3|, |0.4|) stay too
    assert by_norm == 0 and torch.all(tiny.conv.weight[1] != 0)
    assert R.threshold_(tiny, 0.03, "group", statistic="rms") == 20
    assert torch.all(tiny.conv.weight[1] == 0)
    assert tiny.bn.weight[1] == 0 and tiny.bn.bias[1] == 0  # gamma and beta go with the filter


def test_a_thresholded_filter_group_is_a_dead_channel_in_train_and_eval_mode(tiny):
    """The BN decision: filter + gamma + beta go together, so the channel is exactly 0."""
    x = torch.randn(4, 2, 5, 5)
    seen = {}
    tiny.bn.register_forward_hook(lambda m, a, out: seen.update(out=out.detach()))
    groups = R.channel_groups(tiny, "filter")
    R.zero_groups_(tiny, groups, {"conv:filter": [False, True, False]})
    for mode in (False, True):  # eval first: a train-mode pass updates the running stats
        tiny.train(mode)
        tiny(x)
        assert torch.all(seen["out"][:, 1] == 0), f"train={mode}"
        assert torch.all(seen["out"][:, 0] != 0)
    # the filter alone is not enough: in eval mode BN gives beta - gamma * mu / sigma
    with torch.no_grad():
        tiny.bn.weight[1], tiny.bn.bias[1] = 2.0, -0.5
    tiny.eval()
    tiny(x)
    bn = tiny.bn
    mu, var = bn.running_mean[1].item(), bn.running_var[1].item()
    assert mu != 0
    constant = -0.5 - 2.0 * mu / math.sqrt(var + bn.eps)
    torch.testing.assert_close(seen["out"][:, 1], torch.full_like(seen["out"][:, 1], constant))


def test_zero_groups_counts(tiny):
    groups = R.channel_groups(tiny)
    which = [False] * 10
    which[5] = True  # deconv input channel 0: 2 * 4 non-zero values
    assert R.zero_groups_(tiny, groups, which) == 8
    assert torch.all(tiny.deconv.weight[0] == 0)
    assert R.zero_groups_(tiny, groups, which) == 0  # already zero


# --------------------------------------------------------------------------- sparsity and size


def test_sparsity_report_by_hand():
    """The thesis's 'Sparsity' is the retained fraction: 0.287 x 136.3 MB = 39.1 MB."""
    layer = nn.Conv2d(10, 100, 1, bias=False)  # 1000 weights
    with torch.no_grad():
        layer.weight.view(-1)[:713] = 0
        layer.weight.view(-1)[713:] = 1.0
    report = R.sparsity_report(layer, baseline_mb=136.3)
    assert report["total_weights"] == 1000 and report["zero_weights"] == 713
    assert report["sparsity"] == pytest.approx(71.3)
    assert report["retained"] == pytest.approx(0.287)
    assert report["size_mb"] == pytest.approx(0.287 * 136.3)
    assert round(report["size_mb"], 1) == 39.1  # Table 5.4, lambda 1e-7, threshold 0.001

    small = nn.Conv2d(10, 10, 1, bias=False)  # an engineered model: 100 weights, none zero
    with torch.no_grad():
        small.weight.fill_(1.0)
    report = R.sparsity_report(small, baseline_params=1000)
    assert report["sparsity"] == 0 and report["retained"] == pytest.approx(0.1)
    assert report["baseline_mb"] == pytest.approx(0.004) and report["size_mb"] == pytest.approx(
        0.0004
    )


def test_sparsity_report_default_baseline_is_the_checkpoint(tiny):
    from pose_helpers.cost.bench import checkpoint_mb

    report = R.sparsity_report(tiny)
    assert report["baseline_params"] == report["total_weights"]
    assert report["baseline_mb"] == pytest.approx(checkpoint_mb(tiny))


# --------------------------------------------------------------------------- masks


def test_zero_mask_keeps_zeros_through_training(tiny):
    R.threshold_(tiny, 1.0, "group")  # zeroes some groups
    mask = R.ZeroMask.capture(tiny)
    assert mask.num_zeros > 0
    zeros = {n: (p == 0).clone() for n, p in tiny.named_parameters()}
    opt = torch.optim.Adam(tiny.parameters(), lr=0.1)
    for _ in range(3):
        loss = tiny(torch.randn(2, 2, 4, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        mask(tiny)  # fit(..., after_step=mask)
    for name, p in tiny.named_parameters():
        assert torch.all(p[zeros[name]] == 0), name


def test_zero_mask_refuses_another_model(tiny):
    mask = R.ZeroMask({"conv.weight": torch.zeros(4, 2, 3, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="conv.weight"):
        mask(tiny)
    with pytest.raises(ValueError, match="'nope.weight'"):
        R.ZeroMask({"nope.weight": torch.zeros(1, dtype=torch.bool)})(tiny)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("lam", [-1e-8, float("nan"), float("inf"), "0.1"])
def test_bad_lambda(tiny, lam):
    with pytest.raises(ValueError, match="lam"):
        R.l1_penalty(tiny, lam)
    with pytest.raises(ValueError, match="lam"):
        R.group_lasso_penalty(tiny, lam)


@pytest.mark.parametrize("threshold", [-0.01, float("nan")])
def test_bad_threshold(tiny, threshold):
    with pytest.raises(ValueError, match="threshold"):
        R.threshold_(tiny, threshold)


def test_bad_mode_statistic_and_weights(tiny):
    with pytest.raises(ValueError, match="mode"):
        R.threshold_(tiny, 0.01, "filter")
    with pytest.raises(ValueError, match="statistic"):
        R.threshold_(tiny, 0.01, "group", statistic="max")
    groups = R.channel_groups(tiny)
    with pytest.raises(ValueError, match=r"expected \(10,\)"):
        R.group_lasso_penalty(tiny, 1.0, groups, weights=np.ones(9))
    with pytest.raises(ValueError, match=">= 0"):
        R.group_lasso_penalty(tiny, 1.0, groups, weights=-np.ones(10))
    with pytest.raises(ValueError, match="'bn:filter'"):
        R.group_lasso_penalty(tiny, 1.0, groups, weights={"bn:filter": [1.0]})
    with pytest.raises(ValueError, match="'conv:filter'"):
        R.group_lasso_penalty(tiny, 1.0, groups, weights={"conv:filter": [1.0, 2.0]})


def test_groups_of_another_model_are_refused(tiny):
    other = Tiny()
    other.conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)
    other.bn = nn.BatchNorm2d(4)
    other.deconv = nn.ConvTranspose2d(4, 2, 2, stride=2)
    groups = R.channel_groups(other)
    with pytest.raises(ValueError, match="'conv:filter'.*shape"):
        R.group_lasso_penalty(tiny, 1.0, groups)
    with pytest.raises(ValueError, match="'conv:filter'"):
        R.threshold_(tiny, 0.1, "group", groups=groups)
    renamed = Tiny()
    renamed.conv2 = renamed.conv
    del renamed.conv
    with pytest.raises(ValueError, match="'conv:filter'.*'conv.weight'"):
        R.group_norms(renamed, R.channel_groups(tiny))


# --------------------------------------------------------------------------- Algorithm 1


def _hessian_diagonal(model: nn.Module, batch: dict, target: torch.Tensor) -> dict:
    """The exact diagonal of the Hessian of heatmap_loss, by torch.func (tiny models only)."""
    from torch.func import functional_call, hessian

    from pose_helpers.train.loop import heatmap_loss

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().flatten() for _, p in model.named_parameters()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        params, start = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            params[name] = theta[start : start + shape.numel()].reshape(shape)
            start += shape.numel()
        out = functional_call(model, params, (batch["image"],))
        return heatmap_loss(out, target, batch["target_weight"])

    diag = torch.diagonal(hessian(loss)(flat))
    out, start = {}, 0
    for name, shape in zip(names, shapes, strict=True):
        out[name] = diag[start : start + shape.numel()].reshape(shape)
        start += shape.numel()
    return out


def _batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.randn(2, 2, 4, 4, generator=g),
        "target_weight": torch.tensor([[1.0], [0.0]]),  # the second person's joint is unseen
    }


def test_ggn_diagonal_is_the_hessian_of_a_linear_model():
    net = nn.Conv2d(2, 1, 3, padding=1)
    batch = _batch()
    target = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    exact = _hessian_diagonal(net, batch, target)
    ggn = A1.ggn_diagonal(net, [batch], exact=True)
    for name in exact:
        torch.testing.assert_close(ggn[name], exact[name], rtol=1e-5, atol=1e-7)
    assert (ggn["weight"] > 0).all()


def test_ggn_diagonal_is_the_hessian_at_zero_residual_and_the_estimate_is_unbiased(tiny):
    tiny.eval()
    batch = _batch(2)
    batch["image"] = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        target = tiny(batch["image"])  # zero residual: the Gauss-Newton matrix is the Hessian
    exact = _hessian_diagonal(tiny, batch, target)
    ggn = A1.ggn_diagonal(tiny, [batch], exact=True)
    for name in exact:
        torch.testing.assert_close(ggn[name], exact[name], rtol=1e-4, atol=1e-6)
    estimate = A1.ggn_diagonal(tiny, [batch], samples=4000, seed=1)
    for name in exact:
        assert torch.allclose(estimate[name], exact[name], rtol=0.15, atol=1e-3 * exact[name].max())
    tiny.train()
    A1.ggn_diagonal(tiny, [batch])
    assert tiny.training  # the caller's mode is restored
    with pytest.raises(ValueError, match="samples=0"):
        A1.ggn_diagonal(tiny, [batch], samples=0)
    with pytest.raises(ValueError, match="batches is empty"):
        A1.ggn_diagonal(tiny, [])


def test_reweighted_group_lasso_follows_table_4_1_by_hand(tiny):
    state = A1.ReweightedGroupLasso.start(tiny)
    n = R.num_groups(state.groups)
    assert state.omega.tolist() == [1.0] * n and state.active.all()
    # outer 1 is the plain group lasso
    assert state.penalty(tiny, 0.1).item() == pytest.approx(R.group_lasso_penalty(tiny, 0.1).item())

    hessian = {name: torch.full_like(p, 2.0) for name, p in tiny.named_parameters()}
    lam = 0.5
    norms = R.group_norms(tiny).double()
    state.update(tiny, hessian, lam)
    torch.testing.assert_close(state.gamma, norms)  # gamma = ||W_g|| / omega(0)
    # omega by hand: every weight has h = 2 / lam = 4, so C = 1 / (1/gamma + 4) for all of them
    start = 0
    for family in state.groups:
        g = norms[start : start + family.size]
        c = 1 / (1 / g + 4.0)
        alpha = -c / g**2 + 1 / g
        torch.testing.assert_close(
            state.omega[start : start + family.size], torch.sqrt(family.numel * alpha.abs())
        )
        start += family.size
    # the penalty now weighs each group by its omega
    expected = lam * (state.omega * norms).sum()
    assert state.penalty(tiny, lam).item() == pytest.approx(expected.item(), rel=1e-5)

    # step 4: the group with the smallest gamma goes, whole (BN included), and stays pruned
    smallest = int(torch.argmin(state.gamma))
    threshold = float(state.gamma[smallest]) * 1.0001
    assert state.prune(tiny, threshold) == int((state.gamma < threshold).sum()) >= 1
    assert R.group_norms(tiny)[smallest] == 0 and not state.active[smallest]
    state.update(tiny, hessian, lam)
    assert not state.active[smallest] and math.isinf(state.omega[smallest])
    assert state.penalty(tiny, lam).isfinite()

    again = A1.ReweightedGroupLasso.from_json(tiny, state.to_json())
    torch.testing.assert_close(again.omega, state.omega)
    assert again.active.tolist() == state.active.tolist()


def test_reweighted_group_lasso_names_a_bad_group(tiny):
    state = A1.ReweightedGroupLasso.start(tiny)
    hessian = {name: torch.zeros_like(p) for name, p in tiny.named_parameters()}
    hessian["conv.weight"][1] = -1e9  # a negative curvature makes C negative
    weights_before = {n: p.detach().clone() for n, p in tiny.named_parameters()}
    with pytest.raises(ValueError, match=r"conv:filter\[1\]: posterior variance C"):
        state.update(tiny, hessian, 1.0)
    for n, p in tiny.named_parameters():
        assert torch.equal(p, weights_before[n])
    with pytest.raises(ValueError, match="lam=0"):
        state.update(tiny, {n: torch.ones_like(p) for n, p in tiny.named_parameters()}, 0.0)
    with pytest.raises(ValueError, match="groups"):
        A1.ReweightedGroupLasso.from_json(tiny, {"omega": [1.0], "gamma": [1.0], "active": [True]})


def test_algorithm1_printed_form_takes_the_hessian_as_measured(tiny):
    hessian = {name: torch.full_like(p, 2.0) for name, p in tiny.named_parameters()}
    norms = R.group_norms(tiny).double()
    printed = A1.ReweightedGroupLasso.start(tiny)
    printed.update(tiny, hessian, 0.5, form="printed")
    derived = A1.ReweightedGroupLasso.start(tiny)
    derived.update(tiny, hessian, 1.0)  # lam = 1: the two forms coincide
    torch.testing.assert_close(printed.omega, derived.omega)
    # printed: h = 2 whatever lam, so C = 1 / (1/gamma + 2)
    family = printed.groups[0]
    g = norms[: family.size]
    c = 1 / (1 / g + 2.0)
    torch.testing.assert_close(
        printed.omega[: family.size], torch.sqrt(family.numel * (-c / g**2 + 1 / g).abs())
    )
    with pytest.raises(ValueError, match="form="):
        printed.update(tiny, hessian, 0.5, form="guess")
