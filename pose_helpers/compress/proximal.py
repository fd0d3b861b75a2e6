"""Proximal steps for the sparsity penalties: exact zeros in few epochs, same objective.

Adding ``lam * R(w)`` to the loss and letting Adam follow its subgradient has two limits on
a short budget. Adam moves each value by about ``lr`` per step whatever the penalty's size,
so a BatchNorm scale of 1 inside a filter group needs ``1 / lr`` steps (16 epochs at
``lr = 1e-4`` on the book's baseline) before its group can fall below a threshold; and
values at zero keep jittering by about ``lr``, so a small threshold never sees them settle.

A proximal step instead trains on the data loss alone and, after every optimizer step,
applies the penalty's proximal operator in the optimizer's own metric: with Adam's diagonal
``d_i = sqrt(v_i) + eps`` (``v`` the bias-corrected running mean of squared gradients, the
same statistic Adam divides by), a step of size ``lr`` on ``lam * R`` is

* **L1** (:func:`soft_threshold_`): ``w_i <- sign(w_i) max(|w_i| - lr lam / d_i, 0)``;
* **group lasso** (:func:`group_shrink_`): ``w_g <- w_g max(0, 1 - lr lam / (dbar_g
  ||w_g||))``, with ``dbar_g`` the mean of ``d`` over the group (one scalar per group: the
  group prox has a closed form only for a scalar metric).

The fixed points of "Adam step, then prox" are the stationary points of ``E + lam R`` for any
positive metric, so the method minimizes the same objective as the plain penalty; it only
gets there faster and leaves exact zeros. Filter and channel groups overlap (a convolution's
weight belongs to both); their proxes are applied one after the other (filter groups first),
the usual approximation for overlapping groups.

:class:`ProximalStep` is ``fit``'s ``after_step`` hook. It keeps its own running mean of
squared gradients (``fit`` zeroes gradients before the backward pass, so they are still there
after the step); on a resumed run it starts afresh and its bias correction makes the first
steps sound.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pose_helpers.compress.regularizers import (
    LayerGroups,
    check_nonnegative,
    conv_weights,
    default_groups,
    family_parameters,
    group_lasso_penalty,
    group_matrix,
    l1_penalty,
)

__all__ = ["METHODS", "ProximalStep", "group_shrink_", "soft_threshold_"]

#: The penalties a proximal step knows.
METHODS = ("l1", "group_lasso")


@torch.no_grad()
def soft_threshold_(weight: torch.Tensor, tau: torch.Tensor | float) -> None:
    """``weight <- sign(weight) * max(|weight| - tau, 0)`` in place (``tau`` >= 0, broadcast)."""
    weight.copy_(weight.sign() * (weight.abs() - tau).clamp_min(0.0))


@torch.no_grad()
def group_shrink_(
    model: nn.Module,
    family: LayerGroups,
    tau: torch.Tensor,
    params: dict[str, torch.Tensor] | None = None,
) -> int:
    """Shrink every group of ``family`` towards zero by ``tau`` (one value per group) in its
    L2 norm, in place: ``w_g <- w_g * max(0, 1 - tau_g / ||w_g||)``.

    Returns:
        The number of groups that are zero afterwards.
    """
    members = family_parameters(model, family, params)
    norms = torch.linalg.vector_norm(group_matrix(members, family.size), dim=1)
    scale = (1.0 - tau / norms.clamp_min(1e-30)).clamp_min(0.0)
    for p, axis in members:
        shape = [1] * p.dim()
        shape[axis] = family.size
        p.mul_(scale.view(shape))
    return int((scale == 0).sum())


class ProximalStep:
    """The penalty's proximal operator after every optimizer step (``fit(after_step=...)``).

    Args:
        model: the network being trained (its parameters are tracked by name).
        method: ``'l1'`` or ``'group_lasso'``.
        lam: the penalty's weight in our units (as for ``l1_penalty``/``group_lasso_penalty``).
        lr: the optimizer's (constant) learning rate.
        groups: the group-lasso groups (default :func:`regularizers.channel_groups`); traced
            once here.
        weights: per-group weights ``omega_g`` (Algorithm 1's reweighted group lasso): a flat
            vector over ``groups`` in order (0 leaves a group alone); default all 1.
        beta2, eps: Adam's second-moment decay and epsilon (its defaults).

    Raises:
        ValueError: for an unknown method, a negative ``lam`` or a non-positive ``lr``.
    """

    def __init__(
        self,
        model: nn.Module,
        method: str,
        lam: float,
        lr: float,
        groups: Sequence[LayerGroups] | None = None,
        weights: torch.Tensor | None = None,
        *,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method={method!r}; expected one of {METHODS}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0; got {lr!r}")
        self.method, self.lr, self.beta2, self.eps = method, float(lr), beta2, eps
        self.lam = check_nonnegative("lam", lam)
        self.groups = default_groups(model, groups) if method == "group_lasso" else []
        total = sum(f.size for f in self.groups)
        if weights is not None and tuple(weights.shape) != (total,):
            raise ValueError(f"weights has shape {tuple(weights.shape)}, expected ({total},)")
        self.weights = None if weights is None else weights.detach().clone().float()
        self.offsets = [0]
        for family in self.groups:
            self.offsets.append(self.offsets[-1] + family.size)
        if method == "l1":
            names = set(conv_weights(model))
        else:
            names = {pname for family in self.groups for pname, _ in family.members}
        self.names = sorted(names)
        self.second_moment: dict[str, torch.Tensor] = {}
        self.steps = 0

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """The penalty ``lam * R`` as a constant (for the logs: it takes no part in the
        gradient, the prox applies it)."""
        with torch.no_grad():
            if self.method == "l1":
                return l1_penalty(model, self.lam)
            return group_lasso_penalty(model, self.lam, self.groups, self.weights)

    @torch.no_grad()
    def _metric(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Adam's diagonal ``sqrt(v_hat) + eps`` per tracked parameter, after updating ``v``."""
        self.steps += 1
        correction = 1.0 - self.beta2**self.steps
        out = {}
        for name in self.names:
            p = params[name]
            grad = torch.zeros_like(p) if p.grad is None else p.grad
            v = self.second_moment.get(name)
            if v is None:
                v = self.second_moment[name] = torch.zeros_like(p)
            v.mul_(self.beta2).addcmul_(grad, grad, value=1.0 - self.beta2)
            out[name] = (v / correction).sqrt_().add_(self.eps)
        return out

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> None:
        """One proximal step of size ``lr`` on ``lam * R`` in Adam's metric."""
        params = dict(model.named_parameters())
        metric = self._metric(params)
        if self.lam == 0:
            return
        if self.method == "l1":
            for name in self.names:
                soft_threshold_(params[name], self.lr * self.lam / metric[name])
            return
        for kind in ("filter", "channel"):
            for i, family in enumerate(self.groups):
                if family.kind != kind:
                    continue
                d = group_matrix(
                    [(metric[pname], axis) for pname, axis in family.members], family.size
                ).mean(dim=1)
                tau = self.lr * self.lam / d
                if self.weights is not None:
                    tau = tau * self.weights[self.offsets[i] : self.offsets[i + 1]].to(d)
                group_shrink_(model, family, tau, params)
