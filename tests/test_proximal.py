"""Tests of pose_helpers.compress.proximal: the prox steps against their closed forms, and
that "Adam step, then prox" lands where the plain penalty's minimum is."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pose_helpers.compress import proximal as P
from pose_helpers.compress import regularizers as R


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(3)
        self.deconv = nn.ConvTranspose2d(3, 2, 2, stride=2)
        self.head = nn.Conv2d(2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.deconv(torch.relu(self.bn(self.conv(x)))))


def test_soft_threshold_is_the_l1_prox():
    w = torch.tensor([-0.3, -0.05, 0.0, 0.02, 0.5])
    P.soft_threshold_(w, 0.1)
    assert torch.allclose(w, torch.tensor([-0.2, 0.0, 0.0, 0.0, 0.4]))


def test_group_shrink_scales_each_group_by_its_norm_and_zeroes_small_ones():
    torch.manual_seed(0)
    net = Tiny()
    family = next(f for f in R.channel_groups(net) if f.name == "conv:filter")
    norms = R.group_norms(net, [family]).detach()
    tau = torch.stack([norms[0] / 2, norms[1] * 2, torch.tensor(0.0)])
    zero = P.group_shrink_(net, family, tau)
    after = R.group_norms(net, [family]).detach()
    assert zero == 1
    assert after[0] == pytest.approx(float(norms[0]) / 2, rel=1e-5)
    assert after[1] == 0 and net.bn.weight[1] == 0 and net.bn.bias[1] == 0
    assert after[2] == pytest.approx(float(norms[2]), rel=1e-6)


def test_proximal_adam_lands_where_the_penalty_minimum_is():
    # E(w) = 0.5 |w - a|^2 + lam |w|_1 has its minimum at soft(a, lam); Adam steps on E's
    # data part and the prox in Adam's metric must settle there, with exact zeros.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 1, bias=False))
    a = torch.tensor([0.5, -0.2, 0.05, -0.01]).view(4, 1, 1, 1)
    lam = 0.1
    prox = P.ProximalStep(net, "l1", lam, lr=0.01)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(3000):
        opt.zero_grad()
        (0.5 * (net[0].weight - a).pow(2).sum()).backward()
        opt.step()
        prox(net)
    expected = a.sign() * (a.abs() - lam).clamp_min(0)
    assert torch.allclose(net[0].weight, expected, atol=2e-3)
    assert (net[0].weight.flatten()[2:] == 0).all()  # exact zeros, not jitter
    assert float(prox.penalty(net)) == pytest.approx(lam * float(net[0].weight.abs().sum()))


def test_group_prox_zeroes_whole_groups_under_a_large_lambda():
    torch.manual_seed(0)
    net = Tiny()
    net(torch.randn(2, 2, 4, 4)).sum().backward()
    prox = P.ProximalStep(net, "group_lasso", 1e6, lr=1.0)
    prox(net)
    assert R.group_norms(net, prox.groups).max() == 0
    assert "head.bias" not in prox.names  # the heatmap layer's filters are not in a group


def test_proximal_step_validates():
    with pytest.raises(ValueError, match="method"):
        P.ProximalStep(Tiny(), "bayesian", 1.0, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        P.ProximalStep(Tiny(), "l1", 1.0, lr=0.0)
    with pytest.raises(ValueError, match="lam"):
        P.ProximalStep(Tiny(), "l1", -1.0, lr=0.1)


def test_group_weights_leave_zero_weighted_groups_alone():
    torch.manual_seed(0)
    net = Tiny()
    net(torch.randn(2, 2, 4, 4)).sum().backward()
    groups = R.channel_groups(net)
    total = sum(f.size for f in groups)
    weights = torch.ones(total)
    weights[:3] = 0  # the first family (conv:filter) is not penalized
    before = R.group_norms(net, groups).detach()
    prox = P.ProximalStep(net, "group_lasso", 1e6, lr=1.0, groups=groups, weights=weights)
    prox(net)
    after = R.group_norms(net, groups).detach()
    assert torch.equal(after[:3], before[:3]) and after[3:].max() == 0
    with pytest.raises(ValueError, match="weights"):
        P.ProximalStep(net, "group_lasso", 1.0, lr=1.0, groups=groups, weights=torch.ones(2))
