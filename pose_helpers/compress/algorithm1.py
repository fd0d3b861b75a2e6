"""Algorithm 1 of the thesis (section 4.3.4, Table 4.1; section 5.5) on a network.

:class:`ReweightedGroupLasso` holds the per-group ``omega`` and ``gamma`` of the structured
Bayesian compression and does its steps: the reweighted penalty (step 1), the
``gamma``/``C``/``alpha``/``omega`` update from the diagonal of the Hessian (step 3; the
Gauss-Newton diagonal of :func:`ggn_diagonal` for step 2) and pruning by ``gamma`` (step 4).
The formulas are derived and tested on a linear model in
:mod:`pose_helpers.theory.bayes_group_lasso`; the groups are those of
:func:`pose_helpers.compress.regularizers.channel_groups`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pose_helpers.compress.regularizers import (
    LayerGroups,
    check_nonnegative,
    default_groups,
    family_parameters,
    group_lasso_penalty,
    group_matrix,
    group_norms,
    num_groups,
    zero_groups_,
)

__all__ = ["FORMS", "OMEGA_FLOOR", "ReweightedGroupLasso", "ggn_diagonal"]

#: Smallest ``omega`` of a live group in Algorithm 1 (see ``ReweightedGroupLasso.update``).
OMEGA_FLOOR = 1e-8
#: The two forms of step 3's covariance: as the thesis prints it (Table 4.1), and as derived
#: here from ``E + lam R`` read as likelihood x prior. With the thesis's lambdas (~1e-8) the
#: derived form multiplies the Hessian by ~1e8, the printed one leaves it as measured.
FORMS = {
    "printed": "C = (Gamma^-1 + diag(H))^-1 (Table 4.1 as printed)",
    "derived": "C = (Gamma^-1 + diag(H) / lam)^-1 (E + lam R as likelihood x prior)",
}


def _flat_outputs(out: Any, target_weight: torch.Tensor | None) -> torch.Tensor:
    """All heatmap values of all stacks, each times ``sqrt(w_m)``, as one flat vector."""
    stacks = list(out) if isinstance(out, list | tuple) else [out]
    parts = []
    for s in stacks:
        if target_weight is not None:
            w = target_weight.reshape(*target_weight.shape[:2], 1, 1).to(s.dtype)
            s = s * w.sqrt()
        parts.append(s.flatten())
    return torch.cat(parts)


def ggn_diagonal(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    samples: int = 1,
    exact: bool = False,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Diagonal of the Gauss-Newton approximation of the Hessian of the heatmap loss.

    The loss of a batch is ``L = (1/M) sum_m w_m (f_m - y_m)^2`` (:func:`train.heatmap_loss`:
    ``M`` heatmap values per stack, ``w_m`` the joint's visibility weight; summed over
    stacks). Its Hessian is ``(2/M) sum_m w_m grad f_m grad f_m^T`` plus a term in the
    residuals ``f_m - y_m`` times the second derivatives of ``f``; the Gauss-Newton matrix
    keeps the first term. It is positive semi-definite (so ``C`` of Algorithm 1 stays
    positive), and exact where the model is linear in a parameter or the residuals vanish.
    Its diagonal is ``(2/M) sum_m w_m (d f_m / d theta_i)^2``:

    * ``exact=True`` sums it output by output (one backward pass per heatmap value: tests and
      tiny models only);
    * otherwise it is estimated without bias: for ``v ~ N(0, I)`` over the outputs,
      ``E[(d/d theta_i sum_m sqrt(w_m) v_m f_m)^2] = sum_m w_m (d f_m / d theta_i)^2``, one
      backward pass per sample (``samples`` per batch).

    The network is evaluated in eval mode (BatchNorm with its running statistics: the
    function the Laplace approximation is taken of). The result is the mean over ``batches``
    (dicts with ``image`` and, optionally, ``target_weight``, as SynthPose gives), one tensor
    per parameter, shaped like it.

    Raises:
        ValueError: for ``samples < 1`` or no batches.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples={samples!r}; expected an int >= 1")
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    count = 0
    try:
        for batch in batches:
            out = model(batch["image"])
            stacks = len(out) if isinstance(out, list | tuple) else 1
            f = _flat_outputs(out, batch.get("target_weight"))
            scale = 2.0 * stacks / f.numel()  # 2/M with M values per stack
            if exact:
                scalars = list(f)
            else:
                scalars = [
                    (f * torch.randn(f.shape, generator=generator, dtype=f.dtype)).sum()
                    for _ in range(samples)
                ]
            for i, u in enumerate(scalars):
                grads = torch.autograd.grad(
                    u, list(params.values()), retain_graph=i < len(scalars) - 1, allow_unused=True
                )
                per = scale if exact else scale / samples
                for name, g in zip(params, grads, strict=True):
                    if g is not None:
                        total[name] += per * g.detach() ** 2
            count += 1
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("batches is empty: the Hessian needs at least one batch")
    return {name: t / count for name, t in total.items()}


@dataclass
class ReweightedGroupLasso:
    """Algorithm 1 of the thesis (structured Bayesian compression) on a network.

    One ``omega_g`` (penalty weight), ``gamma_g`` (prior variance) and liveness flag per group
    of :func:`channel_groups` (filter groups with their BatchNorm, channel groups; Table
    4.1's two categories). One outer iteration ``t`` is:

    1. step 1: train with ``heatmap_loss + lam * sum_g omega_g(t-1) ||W_g||`` (:meth:`penalty`;
       ``omega(0) = 1``, so the first outer is the plain group lasso);
    2. step 2: the diagonal of the Hessian of the data term, :func:`ggn_diagonal`;
    3. step 3 (:meth:`update`): ``gamma_g(t) = ||W_g(t)|| / omega_g(t-1)`` (Table 4.1),
       ``C = (Gamma^-1 + diag(H) / lam)^-1`` per weight, ``alpha = -C / gamma^2 + 1 / gamma``
       and ``omega_g(t) = sqrt(sum_{i in g} |alpha_i|)``
       (:func:`pose_helpers.theory.bayes_group_lasso.algorithm1_omega`, which derives them);
    4. step 4 (:meth:`prune`): groups whose ``gamma`` is below a threshold are zeroed (all of
       a filter group, BatchNorm included, so the channel is dead) and stay pruned.

    In the ``'derived'`` form (:data:`FORMS`) ``diag(H)`` is divided by ``lam`` because the
    objective ``E + lam R`` is ``lam`` times ``E / lam + R``, the negative log of likelihood
    times prior whose Hessian Algorithm 1 uses: on the linear model of the theory chapter,
    ``lam = sigma^2 / n`` and ``H = X^T X / sigma^2`` are exactly this (``bayes_group_lasso``
    module docstring). The ``'printed'`` form takes ``diag(H)`` as the thesis prints it.
    """

    groups: list[LayerGroups]
    omega: torch.Tensor
    gamma: torch.Tensor
    active: torch.Tensor

    @classmethod
    def start(
        cls, model: nn.Module, groups: Sequence[LayerGroups] | None = None
    ) -> ReweightedGroupLasso:
        """Initialization of Algorithm 1: ``omega = gamma = 1`` for every group, all live."""
        groups = default_groups(model, groups)
        n = num_groups(groups)
        return cls(
            groups,
            torch.ones(n, dtype=torch.float64),
            torch.ones(n, dtype=torch.float64),
            torch.ones(n, dtype=torch.bool),
        )

    def penalty(self, model: nn.Module, lam: float) -> torch.Tensor:
        """Step 1's term ``lam * sum_g omega_g ||W_g||`` over the live groups (for ``fit``'s
        ``extra_loss``; pruned groups are held at zero by a :class:`ZeroMask`)."""
        weights = torch.where(self.active, self.omega, torch.zeros_like(self.omega))
        return group_lasso_penalty(model, lam, self.groups, weights=weights.float())

    @torch.no_grad()
    def update(
        self,
        model: nn.Module,
        hessian: Mapping[str, torch.Tensor],
        lam: float,
        form: str = "derived",
    ) -> None:
        """Step 3: new ``gamma`` and ``omega`` from the weights and the Hessian's diagonal.

        Args:
            model: the network after step 1.
            hessian: ``diag(H)`` of the data term per parameter (:func:`ggn_diagonal`).
            lam: the penalty weight of step 1 (our units), > 0.
            form: ``'derived'`` divides ``diag(H)`` by ``lam``; ``'printed'`` uses it as the
                thesis's Table 4.1 prints (:data:`FORMS`).

        Raises:
            ValueError: for an unknown form or ``lam <= 0``, or naming the group, when a live
                group's ``gamma`` or a weight's ``C`` is not positive and finite (the weights
                are left as they are).
        """
        from pose_helpers.theory.bayes_group_lasso import algorithm1_omega

        if form not in FORMS:
            raise ValueError(f"form={form!r}; expected one of {list(FORMS)}")
        lam = check_nonnegative("lam", lam)
        if lam == 0:
            raise ValueError("lam=0: Algorithm 1 needs a positive penalty weight")
        scale = lam if form == "derived" else 1.0
        norms = group_norms(model, self.groups).double()
        active = self.active & (norms > 0)  # an all-zero group is pruned (step 4)
        gamma = torch.where(active, norms / self.omega, torch.zeros_like(norms))
        omega = torch.full_like(self.omega, math.inf)
        start = 0
        for family in self.groups:
            stop = start + family.size
            h = (
                group_matrix(family_parameters(model, family, hessian), family.size).double()
                / scale
            )
            idx = np.repeat(np.arange(family.size), family.numel)
            _, _, om = algorithm1_omega(
                gamma[start:stop].numpy(),
                h.flatten().numpy(),
                idx,
                active=active[start:stop].numpy(),
                names=family.group_names(),
            )
            omega[start:stop] = torch.from_numpy(om)
            start = stop
        # A group the heatmaps do not depend on (a dead ReLU channel on the Hessian batches)
        # has H = 0, so C = gamma, alpha = 0 and omega = 0: no penalty, and gamma = ||W|| / 0
        # next time. The floor keeps gamma finite (and large: such a group is not pruned).
        omega = torch.where(active, omega.clamp_min(OMEGA_FLOOR), omega)
        self.gamma, self.omega, self.active = gamma, omega, active

    @torch.no_grad()
    def prune(self, model: nn.Module, threshold: float) -> int:
        """Step 4: zero the live groups with ``gamma < threshold``; returns how many."""
        threshold = check_nonnegative("threshold", threshold)
        which = self.active & (self.gamma < threshold)
        zero_groups_(model, self.groups, which)
        self.active = self.active & ~which
        return int(which.sum())

    def to_json(self) -> dict[str, list]:
        """``omega``, ``gamma`` and ``active`` as lists (``inf`` as ``None``), for a cache."""
        return {
            "omega": [None if math.isinf(v) else v for v in self.omega.tolist()],
            "gamma": self.gamma.tolist(),
            "active": self.active.tolist(),
        }

    @classmethod
    def from_json(
        cls,
        model: nn.Module,
        state: Mapping[str, list],
        groups: Sequence[LayerGroups] | None = None,
    ) -> ReweightedGroupLasso:
        """The state :meth:`to_json` saved, on ``groups`` of ``model`` (default all of them).

        Raises:
            ValueError: when the saved state has another number of groups.
        """
        out = cls.start(model, groups)
        n = len(out.omega)
        if any(len(state[k]) != n for k in ("omega", "gamma", "active")):
            raise ValueError(f"the saved Algorithm 1 state does not have the model's {n} groups")
        out.omega = torch.tensor(
            [math.inf if v is None else v for v in state["omega"]], dtype=torch.float64
        )
        out.gamma = torch.tensor(state["gamma"], dtype=torch.float64)
        out.active = torch.tensor(state["active"], dtype=torch.bool)
        return out
