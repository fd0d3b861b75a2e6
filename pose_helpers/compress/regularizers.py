"""Sparsity regularizers of the thesis's chapter 5: L1, group lasso, thresholds and masks.

Thesis sections 4.2 and 5.3-5.4 (``../shared/seeds/003_d70e0f0fcd80c931.txt``):

* **L1** (eq. 4.4, section 5.3): ``lam * sum |w|`` over every convolution and
  deconvolution weight (not biases, not BatchNorm); after training, weights whose magnitude
  is below a threshold are set to zero (random sparsity, Table 5.4).
* **Group lasso** (eq. 4.5, section 5.4): ``lam * sum_g ||w_g||_2`` over the groups of
  Table 4.1. A *filter-wise* group is one output channel of a convolution ``W[n, :, :, :]``;
  a *channel-wise* group is one input channel ``W[:, c, :, :]`` (for a ``ConvTranspose2d``,
  whose weight is ``(in, out, k, k)``, the axes swap). The thesis's norm has no
  ``sqrt(|g|)`` factor (that is Yuan & Lin's version); per-group weights ``omega_g`` (the
  reweighted group lasso of Algorithm 1, Table 4.1's ``||omega o W_g||_2 = omega_g ||W_g||_2``)
  plug in through ``weights``.

**BatchNorm belongs in the filter group.** A zero filter followed by BatchNorm does not give a
zero channel: in eval mode BN outputs the constant ``beta - gamma * mu / sqrt(var + eps)``
(``beta`` in train mode), which the next layer still sees. And because BN undoes any scale of
the filter, a penalty on the filter alone can shrink it towards zero at no cost while the
channel keeps doing its job. So a filter-wise group here is the filter, its bias (if any) and
the ``gamma`` and ``beta`` of the BatchNorm that directly follows the convolution: one L2
norm over all of them. When such a group is thresholded, all of it becomes zero, the BN
output is exactly 0 whatever the running statistics, and the channel is dead in train and
eval mode; :func:`pose_helpers.compress.surgery.prune_zero_channels` then removes it exactly. (BN
after a convolution is found in the package's one dependency graph, :mod:`.coupling`.)

Groups that surgery can never remove are left out unless asked for: the filter groups of a
convolution whose output is the model's output (the heatmaps) and the channel groups of a
convolution that reads the model's input (the image's RGB channels).

**Loss normalization.** Penalties are plain sums (eq. 4.4/4.5: ``RSS + lam * sum |w|``, not a
mean over weights), added once per optimizer step to the data loss, as ``fit``'s
``extra_loss`` hook does. Eq. 5.1 as printed sums the squared heatmap errors over pixels, but
the thesis's lambdas (1e-7 ... 3e-10) only bite against a per-pixel *mean* (a pixel sum is
thousands of times larger), and it trains with Simple Baselines' settings (Table 5.2), whose
``JointsMSELoss`` is 0.5 x the mean over pixels and joints. That is our reading of its data
term; :func:`pose_helpers.train.loop.heatmap_loss` is the plain mean, twice as large, so the same
trade-off needs twice the thesis's ``lam`` (:func:`from_thesis_lambda`).

**Thresholds and sizes.** The tables' thresholds are 0.01, 0.001 and 0.0001. ``threshold_``
zeroes single weights (``mode="weight"``, L1) or whole groups whose L2 norm (or RMS) is below
it (``mode="group"``). We read section 5.4 ("the lasso norm of the vector is reduced close
to zero ... a threshold is applied") as thresholding the group's L2 norm, the quantity the
group lasso shrinks; the thesis does not say more. :func:`sparsity_report` gives the percentage of zero weights and the *retained*
fraction of the baseline's weights; the thesis's column "Sparsity" is the retained fraction
(0.287 x 136.3 MB = 39.1 MB, Table 5.4) and its theoretical size is ``retained x baseline MB``.

**Algorithm 1** (section 4.3.4, Table 4.1; section 5.5): :class:`ReweightedGroupLasso` holds
the per-group ``omega`` and ``gamma`` of the structured Bayesian compression and does its
steps on a network: the reweighted penalty (step 1), the ``gamma``/``C``/``alpha``/``omega``
update from the diagonal of the Hessian (step 3; the Gauss-Newton diagonal of
:func:`ggn_diagonal` for step 2) and pruning by ``gamma`` (step 4). The formulas themselves are
derived and tested on a linear model in :mod:`pose_helpers.theory.bayes_group_lasso`.

Defined for the compression chapters (thesis sections 5.3-5.5).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pose_helpers.compress.coupling import conv_roles
from pose_helpers.cost.bench import CONV_TYPES

__all__ = [
    "THESIS_LAMBDAS",
    "THESIS_LOSS_SCALE",
    "THESIS_THRESHOLDS",
    "LayerGroups",
    "ZeroMask",
    "check_nonnegative",
    "default_groups",
    "family_parameters",
    "group_matrix",
    "channel_groups",
    "conv_weights",
    "from_thesis_lambda",
    "group_lasso_penalty",
    "group_norms",
    "l1_penalty",
    "num_groups",
    "sparsity_report",
    "threshold_",
    "zero_groups_",
]

#: The three thresholds of Tables 5.4, 5.5 and 5.7.
THESIS_THRESHOLDS = (0.01, 0.001, 0.0001)
#: The lambdas of Tables 5.4 (L1) and 5.5 (group lasso), in the thesis's units.
THESIS_LAMBDAS = {
    "l1": (1e-7, 3e-8, 1e-8, 5e-9, 3e-9, 1e-9),
    "group_lasso": (1e-7, 1e-8, 3e-9, 1e-9, 5e-10, 3e-10),
}
#: Our heatmap loss (a plain mean) over the thesis's (Simple Baselines' 0.5 x mean).
THESIS_LOSS_SCALE = 2.0

_KINDS = ("filter", "channel")
_MODES = ("weight", "group")
_STATISTICS = ("norm", "rms")


# --------------------------------------------------------------------------- validation


def check_nonnegative(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` if it is not a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        if not (isinstance(value, torch.Tensor) and value.numel() == 1):
            raise ValueError(f"{name}={value!r}; expected a finite number >= 0")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r}; expected a finite number >= 0")
    return value


def from_thesis_lambda(lam: float) -> float:
    """Our ``lam`` for the thesis's ``lam``: the same trade-off against :func:`heatmap_loss`.

    The thesis's data term is Simple Baselines' ``JointsMSELoss`` (0.5 x mean squared error);
    ours is the plain mean, twice as large, so ``lam`` doubles (:data:`THESIS_LOSS_SCALE`).
    """
    return THESIS_LOSS_SCALE * check_nonnegative("lam", lam)


# --------------------------------------------------------------------------- weights and L1


def conv_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Every convolution and transposed convolution weight, by parameter name, in module order."""
    return {
        f"{name}.weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, CONV_TYPES)
    }


def l1_penalty(model: nn.Module, lam: float) -> torch.Tensor:
    """``lam * sum |w|`` over all convolution and deconvolution weights (thesis eq. 4.4).

    Biases and BatchNorm parameters are not penalized. The sum is not normalized by the
    number of weights (see the module docstring for the scale relative to the thesis).

    Raises:
        ValueError: for a negative or non-finite ``lam``, or a model without convolutions.
    """
    lam = check_nonnegative("lam", lam)
    weights = list(conv_weights(model).values())
    if not weights:
        raise ValueError("the model has no Conv/ConvTranspose layer to regularize")
    return lam * sum(w.abs().sum() for w in weights)


# --------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class LayerGroups:
    """The filter-wise or channel-wise groups of one convolution (Table 4.1).

    Group ``i`` holds, for each ``(parameter name, axis)`` in ``members``, the slice at index
    ``i`` along ``axis``. A filter group of a convolution followed by BatchNorm has the members
    ``(conv.weight, 0)``, ``(conv.bias, 0)`` if there is a bias, ``(bn.weight, 0)`` and
    ``(bn.bias, 0)``; a channel group has ``(conv.weight, 1)``. For a ``ConvTranspose2d``
    (weight ``(in, out, k, k)``) the weight's axes are 1 (filter) and 0 (channel).

    Attributes:
        layer: the convolution's module name.
        kind: ``"filter"`` (output channels) or ``"channel"`` (input channels).
        members: ``(parameter name, axis)`` pairs.
        size: number of groups (channels).
        numel: values in each group.
    """

    layer: str
    kind: str
    members: tuple[tuple[str, int], ...]
    size: int
    numel: int

    @property
    def name(self) -> str:
        """``"layer:kind"``, e.g. ``"layer1.0.conv1:filter"``."""
        return f"{self.layer}:{self.kind}"

    def group_names(self) -> list[str]:
        """One name per group: ``"layer1.0.conv1:filter[3]"``."""
        return [f"{self.name}[{i}]" for i in range(self.size)]


def channel_groups(
    model: nn.Module,
    kind: str = "both",
    *,
    exclude: Iterable[str] = (),
    include_io: bool = False,
) -> list[LayerGroups]:
    """The groups of Table 4.1 for every convolution and deconvolution of ``model``.

    Args:
        model: the network (traced once, :func:`coupling.conv_roles`, to pair convolutions
            with their BatchNorm).
        kind: ``"filter"`` (output channels, with the following BN's gamma and beta),
            ``"channel"`` (input channels) or ``"both"`` (filter, then channel, per layer).
        exclude: module names of convolutions to leave out.
        include_io: also return the filter groups of convolutions whose output is the model's
            output (the heatmaps) and the channel groups of convolutions that read the model's
            input (the image): surgery never removes those.

    Returns:
        One :class:`LayerGroups` per (layer, kind), in module order; the groups are
        numbered layer by layer in that order (the order of a flat ``weights`` vector).

    Raises:
        ValueError: for an unknown kind, an excluded name that is not a convolution, a
            channel group of a grouped convolution, or a model the tracer cannot trace.
    """
    if kind not in (*_KINDS, "both"):
        raise ValueError(f"kind={kind!r}; expected 'filter', 'channel' or 'both'")
    kinds = _KINDS if kind == "both" else (kind,)
    exclude = set(exclude)
    modules = dict(model.named_modules())
    for name in exclude:
        if not isinstance(modules.get(name), CONV_TYPES):
            raise ValueError(f"exclude names {name!r}, which is not a convolution of the model")
    bn_after, outputs, inputs = conv_roles(model)
    families: list[LayerGroups] = []
    for name, conv in modules.items():
        if not isinstance(conv, CONV_TYPES) or name in exclude:
            continue
        transposed = bool(conv.transposed)
        weight = f"{name}.weight"
        per_filter = conv.weight.numel() // conv.out_channels
        for k in kinds:
            if k == "filter":
                if name in outputs and not include_io:
                    continue
                members = [(weight, 1 if transposed else 0)]
                numel = per_filter
                if conv.bias is not None:
                    members.append((f"{name}.bias", 0))
                    numel += 1
                bn_name = bn_after.get(name)
                if bn_name is not None and modules[bn_name].affine:
                    members += [(f"{bn_name}.weight", 0), (f"{bn_name}.bias", 0)]
                    numel += 2
                families.append(
                    LayerGroups(name, "filter", tuple(members), conv.out_channels, numel)
                )
            else:
                if name in inputs and not include_io:
                    continue
                if conv.groups != 1:
                    raise ValueError(
                        f"layer {name!r} is a grouped convolution (groups={conv.groups}); its "
                        f"input channels do not form Table 4.1 groups: exclude it"
                    )
                numel = conv.weight.numel() // conv.in_channels
                members = ((weight, 0 if transposed else 1),)
                families.append(LayerGroups(name, "channel", members, conv.in_channels, numel))
    return families


def num_groups(groups: Sequence[LayerGroups]) -> int:
    """The total number of groups (the length of a flat ``weights`` vector)."""
    return sum(f.size for f in groups)


def family_parameters(
    model: nn.Module, family: LayerGroups, params: Mapping[str, torch.Tensor] | None = None
) -> list[tuple[torch.Tensor, int]]:
    """The family's parameters in ``model`` (or ``params``, its ``named_parameters`` looked up
    once for many families), checked against its names and shapes."""
    params = dict(model.named_parameters()) if params is None else params
    out = []
    numel = 0
    for pname, axis in family.members:
        if pname not in params:
            raise ValueError(
                f"group {family.name!r} does not match the model: it has no parameter {pname!r}"
            )
        p = params[pname]
        if axis >= p.dim() or p.shape[axis] != family.size:
            raise ValueError(
                f"group {family.name!r} does not match the model: {pname} has shape "
                f"{tuple(p.shape)}, expected {family.size} along axis {axis}"
            )
        numel += p.numel() // family.size
        out.append((p, axis))
    if numel != family.numel:
        raise ValueError(
            f"group {family.name!r} does not match the model: {numel} values per group, "
            f"expected {family.numel}"
        )
    return out


def group_matrix(members: list[tuple[torch.Tensor, int]], size: int) -> torch.Tensor:
    """The family's values as a ``(size, numel)`` matrix (differentiable)."""
    return torch.cat([p.movedim(axis, 0).reshape(size, -1) for p, axis in members], dim=1)


def default_groups(model: nn.Module, groups: Sequence[LayerGroups] | None) -> list[LayerGroups]:
    """``groups`` checked, or every channel group of ``model`` when it is None."""
    groups = channel_groups(model) if groups is None else list(groups)
    for family in groups:
        if not isinstance(family, LayerGroups):
            raise ValueError(f"groups must be LayerGroups (from channel_groups), got {family!r}")
    return groups


def group_norms(
    model: nn.Module, groups: Sequence[LayerGroups] | None = None, *, statistic: str = "norm"
) -> torch.Tensor:
    """The L2 norm (or RMS = norm / sqrt(numel)) of every group, as one flat vector.

    Differentiable (the gradient of a zero group's norm is 0). ``groups`` defaults to
    ``channel_groups(model)``.

    Raises:
        ValueError: for an unknown statistic or groups that do not match the model.
    """
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic={statistic!r}; expected one of {_STATISTICS}")
    norms = []
    params = dict(model.named_parameters())
    for family in default_groups(model, groups):
        n = torch.linalg.vector_norm(
            group_matrix(family_parameters(model, family, params), family.size), dim=1
        )
        norms.append(n / math.sqrt(family.numel) if statistic == "rms" else n)
    if not norms:
        return torch.zeros(0)
    return torch.cat(norms)


def _per_group_vector(
    values: Any, groups: Sequence[LayerGroups], default: Any, what: str, dtype: torch.dtype
) -> torch.Tensor:
    """One value per group, flat, from a sequence of :func:`num_groups` values or a mapping
    ``LayerGroups.name -> (size,)`` (families it does not name get ``default``)."""
    total = num_groups(groups)
    if isinstance(values, Mapping):
        unknown = set(values) - {f.name for f in groups}
        if unknown:
            raise ValueError(f"{what} names groups that are not in `groups`: {sorted(unknown)}")
        parts = []
        for f in groups:
            given = values.get(f.name)
            v = torch.full((f.size,), default, dtype=dtype) if given is None else given
            v = torch.as_tensor(v).to(dtype)
            if v.shape != (f.size,):
                raise ValueError(
                    f"{what}[{f.name!r}] has shape {tuple(v.shape)}, expected ({f.size},)"
                )
            parts.append(v)
        return torch.cat(parts) if parts else torch.zeros(0, dtype=dtype)
    if isinstance(values, torch.Tensor):
        v = values.detach().cpu().to(dtype)
    else:
        v = torch.as_tensor(np.asarray(values, dtype=bool if dtype == torch.bool else float)).to(
            dtype
        )
    if v.shape != (total,):
        raise ValueError(f"{what} has shape {tuple(v.shape)}, expected ({total},): one per group")
    return v


def _group_weights(
    weights: Any, groups: Sequence[LayerGroups], like: torch.Tensor
) -> torch.Tensor | None:
    """A flat weight vector (finite, >= 0) from ``None``, a sequence or a per-family mapping."""
    if weights is None:
        return None
    w = _per_group_vector(weights, groups, 1.0, "weights", like.dtype)
    if not torch.isfinite(w).all() or (w < 0).any():
        raise ValueError("group weights must be finite and >= 0 (hold pruned groups with a mask)")
    return w.to(like.device)


def group_lasso_penalty(
    model: nn.Module,
    lam: float,
    groups: Sequence[LayerGroups] | None = None,
    weights: Any = None,
) -> torch.Tensor:
    """``lam * sum_g weights_g * ||theta_g||_2`` (thesis eq. 4.5's ``R_g``; Table 4.1 with omega).

    No ``sqrt(|g|)`` factor, as in the thesis. Compute ``groups = channel_groups(model)``
    once and pass it: tracing the model on every step is slow.

    Args:
        model: the network.
        lam: the penalty's weight (>= 0).
        groups: :class:`LayerGroups` from :func:`channel_groups` (default: both kinds).
        weights: per-group weights ``omega_g`` (Algorithm 1): ``None`` (all 1), a flat
            sequence of :func:`num_groups` numbers, or a mapping ``LayerGroups.name -> (size,)``
            (families not named get 1).

    Returns:
        A scalar tensor.

    Raises:
        ValueError: for a negative ``lam``, bad weights, or groups that do not match the model.
    """
    lam = check_nonnegative("lam", lam)
    groups = default_groups(model, groups)
    norms = group_norms(model, groups)
    w = _group_weights(weights, groups, norms)
    return lam * (norms.sum() if w is None else (w * norms).sum())


# --------------------------------------------------------------------------- thresholds


def _group_mask(which: Any, groups: Sequence[LayerGroups]) -> torch.Tensor:
    return _per_group_vector(which, groups, False, "`which`", torch.bool)


@torch.no_grad()
def zero_groups_(model: nn.Module, groups: Sequence[LayerGroups], which: Any) -> int:
    """Set the groups selected by ``which`` to zero in place (all their members).

    Args:
        model: the network.
        groups: :class:`LayerGroups` of the model.
        which: booleans, one per group (flat, in the order of ``groups``), or a mapping
            ``LayerGroups.name -> (size,)`` booleans.

    Returns:
        The number of values that were non-zero and are now zero.

    Raises:
        ValueError: for groups that do not match the model or a mask of the wrong length.
    """
    groups = default_groups(model, groups)
    mask = _group_mask(which, groups)
    zeroed, start = 0, 0
    params = dict(model.named_parameters())
    for family in groups:
        members = family_parameters(model, family, params)
        sel = mask[start : start + family.size].to(members[0][0].device)
        start += family.size
        if not sel.any():
            continue
        for p, axis in members:
            view = p.movedim(axis, 0)
            zeroed += int((view[sel] != 0).sum())
            view[sel] = 0
    return zeroed


@torch.no_grad()
def threshold_(
    model: nn.Module,
    threshold: float,
    mode: str = "weight",
    *,
    groups: Sequence[LayerGroups] | None = None,
    statistic: str = "norm",
) -> int:
    """Zero what is below ``threshold``, in place (thesis sections 5.3 and 5.4).

    * ``mode="weight"``: every convolution/deconvolution weight with ``|w| < threshold``
      (biases and BatchNorm are left alone), as after L1 training.
    * ``mode="group"``: every group (default ``channel_groups(model)``: filter groups with
      their BN gamma and beta, and channel groups) whose ``statistic`` is below ``threshold``,
      as a whole. ``statistic="norm"`` is the group's L2 norm, the quantity the group lasso
      shrinks (our reading of the thesis); ``"rms"`` = norm / sqrt(numel) compares a group
      with the threshold on the scale of single weights. All norms are taken before any
      group is zeroed, so overlapping filter and channel groups do not interact.

    Returns:
        The number of values that were non-zero and are now zero.

    Raises:
        ValueError: for a negative threshold, an unknown mode or statistic, or groups that
            do not match the model.
    """
    threshold = check_nonnegative("threshold", threshold)
    if mode not in _MODES:
        raise ValueError(f"mode={mode!r}; expected one of {_MODES}")
    if mode == "weight":
        if groups is not None:
            raise ValueError("groups= is for mode='group'; mode='weight' thresholds single weights")
        zeroed = 0
        for w in conv_weights(model).values():
            small = (w.abs() < threshold) & (w != 0)
            zeroed += int(small.sum())
            w.masked_fill_(small, 0.0)
        return zeroed
    groups = default_groups(model, groups)
    norms = group_norms(model, groups, statistic=statistic)
    return zero_groups_(model, groups, (norms < threshold).cpu())


# --------------------------------------------------------------------------- size and masks


def sparsity_report(
    model: nn.Module,
    baseline_params: int | None = None,
    *,
    baseline_mb: float | None = None,
) -> dict[str, float]:
    """How sparse the model is, and its theoretical size (thesis Tables 5.4, 5.5, 5.7).

    Counts all parameters (convolutions, biases, BatchNorm).

    Args:
        model: the (thresholded or engineered) network.
        baseline_params: parameters of the dense baseline; default: the model's own count.
        baseline_mb: the baseline's size in MB; default: the model's checkpoint size
            (:func:`pose_helpers.cost.bench.checkpoint_mb`) when ``baseline_params`` is not given,
            else ``4 * baseline_params / 1e6`` (float32 parameters). The thesis's 136.3 MB is
            the checkpoint of the 33,999,440-parameter baseline.

    Returns:
        ``total_weights``, ``zero_weights``, ``nonzero_weights``, ``sparsity`` (% of the
        model's weights that are zero), ``baseline_params``, ``retained`` (nonzero weights /
        baseline weights: the thesis's "Sparsity" column), ``baseline_mb`` and ``size_mb``
        (theoretical: ``retained * baseline_mb``).

    Raises:
        ValueError: for a non-positive ``baseline_params`` or a negative ``baseline_mb``.
    """
    from pose_helpers.cost.bench import checkpoint_mb

    total = sum(p.numel() for p in model.parameters())
    zeros = sum(int((p == 0).sum()) for p in model.parameters())
    if baseline_params is None:
        base = total
        mb = checkpoint_mb(model) if baseline_mb is None else baseline_mb
    else:
        if isinstance(baseline_params, bool) or int(baseline_params) != baseline_params:
            raise ValueError(f"baseline_params={baseline_params!r}; expected a positive int")
        base = int(baseline_params)
        if base <= 0:
            raise ValueError(f"baseline_params={baseline_params!r}; expected a positive int")
        mb = 4 * base / 1e6 if baseline_mb is None else baseline_mb
    mb = check_nonnegative("baseline_mb", mb)
    retained = (total - zeros) / base
    return {
        "total_weights": total,
        "zero_weights": zeros,
        "nonzero_weights": total - zeros,
        "sparsity": 100.0 * zeros / total if total else 0.0,
        "baseline_params": base,
        "retained": retained,
        "baseline_mb": mb,
        "size_mb": retained * mb,
    }


class ZeroMask:
    """Keeps zeroed parameters at zero while fine-tuning: ``fit(..., after_step=mask)``.

    ``mask = ZeroMask.capture(model)`` records where each parameter is exactly zero (after
    :func:`threshold_`); ``mask(model)`` sets those entries back to zero (call it after every
    optimizer step: gradients and optimizer momentum would otherwise revive them).
    """

    def __init__(self, masks: Mapping[str, torch.Tensor]) -> None:
        self.masks = {name: m.bool() for name, m in masks.items()}

    @classmethod
    @torch.no_grad()
    def capture(cls, model: nn.Module) -> ZeroMask:
        """Record the zeros of every parameter of ``model`` that has any."""
        return cls({name: p == 0 for name, p in model.named_parameters() if (p == 0).any()})

    @property
    def num_zeros(self) -> int:
        """How many values the mask holds at zero."""
        return sum(int(m.sum()) for m in self.masks.values())

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> None:
        """Zero the recorded entries of ``model``'s parameters in place.

        Raises:
            ValueError: if a recorded parameter is missing or has another shape.
        """
        params = dict(model.named_parameters())
        for name, mask in self.masks.items():
            p = params.get(name)
            if p is None or p.shape != mask.shape:
                got = "missing" if p is None else f"shape {tuple(p.shape)}"
                raise ValueError(
                    f"ZeroMask does not match the model: parameter {name!r} is {got}, "
                    f"the mask has shape {tuple(mask.shape)}"
                )
            p.masked_fill_(mask.to(p.device), 0.0)
