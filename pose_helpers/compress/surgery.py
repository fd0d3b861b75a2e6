"""Channel surgery: turn a structurally sparse network into a smaller dense one, exactly.

The thesis's "engineering the model" (section 4.4): after group lasso (or Algorithm 1) has
zeroed whole filters, the channels they feed are removed, with the matching input slices of
the next layers, giving a smaller network that computes the same function. Residual
additions couple channels: channel ``c`` of a ResNet stage is one channel of every block's
output, of the downsample branch and of every block's input, so it can go only if it goes
everywhere.

**The coupling comes from Torch-Pruning** (``torch-pruning``, Fang et al., DepGraph, CVPR
2023): ``DependencyGraph.build_dependency`` traces one forward pass through autograd and
``get_all_groups`` yields every set of coupled channels once (convolutions' output channels,
the BatchNorm entries, the input slices of the consumers, through residual adds, downsample
branches and ``ConvTranspose2d``); ``group.prune()`` slices weights, biases and BN running
statistics. We do not hand-write that graph. Torch-Pruning decides nothing about which
channels may go, so this module adds the part that makes the result exact:

**When is a channel removable?** Channel ``c`` of a coupled group can be removed when no
consumer (a convolution reading one of the group's tensors) receives anything from it: for
every consumer either its input slice for ``c`` is zero (the thesis's channel-wise group) or
its input at ``c`` is identically zero. "Identically zero" is proven by propagating
per-channel *constants* through the graph in eval mode, starting from the weights:

* a convolution's output channel is the constant ``bias`` when, for every input channel,
  the filter slice is zero or the input is the constant 0 (other constants are not carried
  through a convolution: zero padding makes them vary at the border);
* BatchNorm maps a constant ``x`` to ``gamma (x - mu) / sqrt(var + eps) + beta``, and its
  output is the constant 0 whatever its input when ``gamma = beta = 0``;
* ReLU, max and average pooling map a constant to itself (ReLU clips it at 0; average
  pooling keeps only 0), residual addition adds constants.

So a zero filter followed by BN is a *constant* channel ``beta - gamma mu / sigma``, which is
removable only where a ReLU clips it to 0 before every consumer; zeroing the filter together
with its BN ``gamma`` and ``beta`` (the filter groups of :mod:`pose_helpers.compress.regularizers`)
always makes it removable, in train and in eval mode. ``tol > 0`` treats values with
``|v| <= tol`` as zero (then the result is no longer exact).

Never removed: the output channels of the model (the heatmaps), the model's input channels,
and the last channel of a group (a layer keeps at least one channel).

**Refusals.** Only ``Conv2d``/``ConvTranspose2d`` (``groups=1``), ``BatchNorm2d``, ReLU,
max/average pooling, ``Identity``/``Dropout`` and residual ``+`` of two tensors are proven
exact; any other layer or operation (a sigmoid, an upsampling, a ``Linear``, a concat, adding
a constant, a module used twice) raises ``NotImplementedError`` naming it, rather than
returning a model that may compute something else. As a last check the example input runs
through both models (eval mode) and a different output raises ``RuntimeError``.

**Keep ratios** (:func:`keep_ratios`, :func:`apply_keep_ratios`) carry a pruning result from a
small CPU model to the full-scale one: per ResNet stage the fraction of *internal* channels
kept (a BasicBlock's first conv; a Bottleneck's first two) and of *residual* channels (the
stage's block outputs and downsample, one coupled group), plus the stem and each
deconvolution. That is the unit that exists in both BasicBlock (ResNet-18/34) and Bottleneck
(ResNet-50/101/152) networks.

Defined for the compression chapters (thesis sections 4.4 and 5.4).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from pose_helpers.compress.coupling import dependency_graph

__all__ = [
    "SUPPORTED_LAYERS",
    "ChannelPlan",
    "apply_keep_ratios",
    "channel_report",
    "find_zero_channels",
    "keep_ratio_units",
    "keep_ratios",
    "prune_zero_channels",
]

#: Modules surgery can prove exact (plus containers without parameters of their own).
SUPPORTED_LAYERS = (
    nn.Conv2d,
    nn.ConvTranspose2d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Identity,
    nn.Dropout,
)
_WITH_PARAMS = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)
_CONVS = (nn.Conv2d, nn.ConvTranspose2d)
# autograd functions of the supported element-wise operations, by what they do to a constant
_OPS = {
    "ReluBackward0": "relu",
    "MaxPool2DWithIndicesBackward0": "keep",
    "AdaptiveAvgPool2DBackward0": "keep",
    "AvgPool2DBackward0": "keep_zero",
    "AddBackward0": "add",
}


# --------------------------------------------------------------------------- the plan


@dataclass
class ChannelPlan:
    """Which channels surgery removes (a dry run of :func:`prune_zero_channels`).

    Attributes:
        out_channels: layer name -> removed output channels (convolutions, deconvolutions
            and BatchNorm layers; only layers that lose some).
        in_channels: layer name -> removed input channels of convolutions and deconvolutions.
        params_before: parameters of the model.
        params_removed: parameters the removal takes away, counted from the layer shapes.
        groups: one row per coupled group: ``root`` (a layer of the group), ``layers``
            (its convolutions), ``channels``, ``removed``, ``protected`` (holds model outputs).
    """

    out_channels: dict[str, list[int]] = field(default_factory=dict)
    in_channels: dict[str, list[int]] = field(default_factory=dict)
    params_before: int = 0
    params_removed: int = 0
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def params_after(self) -> int:
        return self.params_before - self.params_removed

    @property
    def num_removed(self) -> int:
        """Channels removed, counting each coupled channel once."""
        return int(self.groups["removed"].sum()) if len(self.groups) else 0


# --------------------------------------------------------------------------- checks


def _check_modules(model: nn.Module) -> None:
    for name, module in model.named_modules():
        label = name or type(model).__name__
        own = [k for k, p in module.named_parameters(recurse=False) if p is not None]
        if own and not isinstance(module, _WITH_PARAMS):
            raise NotImplementedError(
                f"surgery cannot prove layer {label!r} ({type(module).__name__}, with "
                f"parameters {own}) exact; supported: {[t.__name__ for t in SUPPORTED_LAYERS]}"
            )
        if next(module.children(), None) is None and not isinstance(module, SUPPORTED_LAYERS):
            raise NotImplementedError(
                f"surgery cannot prove layer {label!r} ({type(module).__name__}) exact; "
                f"supported: {[t.__name__ for t in SUPPORTED_LAYERS]}"
            )
        if isinstance(module, _CONVS) and module.groups != 1:
            raise NotImplementedError(
                f"surgery does not handle grouped convolutions: layer {label!r} has "
                f"groups={module.groups}"
            )


class _Trace:
    """Names of autograd nodes and call counts of modules, recorded during one forward pass."""

    def __init__(self, model: nn.Module) -> None:
        self.names: dict[Any, str] = {}
        self.calls: dict[str, int] = {}
        self._handles = [
            m.register_forward_hook(self._hook(name)) for name, m in model.named_modules() if name
        ]

    def _hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1
            fn = getattr(output, "grad_fn", None)
            if fn is not None:
                self.names.setdefault(fn, name)  # inner modules fire first and win

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def _op_name(node: Any) -> str:
    fn = node.grad_fn
    return fn.name() if hasattr(fn, "name") else type(fn).__name__


def _describe(node: Any, trace: _Trace, names: Mapping[Any, str]) -> str:
    if isinstance(node.module, nn.Module) and node.module in names:
        return f"layer {names[node.module]!r} ({type(node.module).__name__})"
    if node.grad_fn in trace.names:
        return f"layer {trace.names[node.grad_fn]!r} ({_op_name(node)})"
    sources = ", ".join(_describe(i, trace, names) for i in node.inputs[:2]) or "the input"
    return f"operation {_op_name(node)} applied to {sources}"


# --------------------------------------------------------------------------- analysis


class _Analysis:
    """The dependency graph of a (copied) model and the channels that can be removed."""

    def __init__(self, model: nn.Module, example_input: Any, tol: float) -> None:
        if not isinstance(tol, int | float) or not tol >= 0:
            raise ValueError(f"tol={tol!r}; expected a number >= 0")
        _check_modules(model)
        self.model, self.tol = model, float(tol)
        self.names = {m: n for n, m in model.named_modules()}
        inputs = (
            tuple(example_input) if isinstance(example_input, list | tuple) else (example_input,)
        )
        self.inputs = inputs
        trace = _Trace(model)
        try:
            self.dg = dependency_graph(model, inputs)  # the package's one tracer
            model.eval()
        finally:
            trace.remove()
        for name, count in trace.calls.items():
            module = model.get_submodule(name)
            if count > 1 and isinstance(module, _WITH_PARAMS):
                raise NotImplementedError(
                    f"layer {name!r} is used {count} times in one forward pass; surgery "
                    f"handles each parameterized layer once"
                )
        self.trace = trace
        self._slices: dict[nn.Module, torch.Tensor] = {}
        self.nodes = list(self.dg.module2node.values())
        self._check_nodes()
        self.const = self._constants()

    # ---- whitelist of graph nodes
    def _check_nodes(self) -> None:
        from torch_pruning import ops

        for node in self.nodes:
            module = node.module
            if isinstance(module, _WITH_PARAMS):
                continue
            if node.type == ops.OPTYPE.OUTPUT:
                continue  # the model's last operation: its group is protected (never pruned)
            kind = _OPS.get(_op_name(node)) if node.type == ops.OPTYPE.ELEMENTWISE else None
            if kind == "add":
                tensors = [f for f, _ in node.grad_fn.next_functions]
                if len(node.inputs) == 2 and all(f is not None for f in tensors):
                    continue
                kind = None
            if kind is None:
                raise NotImplementedError(
                    f"surgery cannot prove {_describe(node, self.trace, self.names)} exact: "
                    f"supported are Conv2d, ConvTranspose2d, BatchNorm2d, ReLU, pooling and "
                    f"the sum of two tensors"
                )

    # ---- constant propagation
    def _order(self) -> list[Any]:
        pending = {n: len(set(n.inputs)) for n in self.nodes}
        ready = [n for n, k in pending.items() if k == 0]
        order = []
        while ready:
            n = ready.pop()
            order.append(n)
            for o in set(n.outputs):
                pending[o] -= 1
                if pending[o] == 0:
                    ready.append(o)
        if len(order) != len(self.nodes):
            raise NotImplementedError("surgery needs an acyclic graph")
        return order

    def _zero(self, t: torch.Tensor) -> torch.Tensor:
        return t.abs() <= self.tol  # NaN (not a constant) compares False

    def _slice_zero(self, conv: nn.Module) -> torch.Tensor:
        """``(out, in)`` booleans: the kernel from input channel i to output channel o is 0."""
        if conv not in self._slices:
            w = conv.weight.detach()
            w = w.movedim(1, 0) if conv.transposed else w  # (out, in, ...)
            self._slices[conv] = w.abs().amax(dim=tuple(range(2, w.dim()))) <= self.tol
        return self._slices[conv]

    @torch.no_grad()
    def _constants(self) -> dict[Any, torch.Tensor | None]:
        """Per node, the per-channel constant of its output (NaN: not a constant; None: unknown)."""
        nan = float("nan")
        const: dict[Any, torch.Tensor | None] = {}
        for node in self._order():
            module = node.module
            ins = [const[i] for i in node.inputs]
            x = ins[0] if ins else None
            if isinstance(module, _CONVS):
                x = torch.full((module.in_channels,), nan) if x is None else x
                slice_zero = self._slice_zero(module)
                silent = (slice_zero | self._zero(x).unsqueeze(0)).all(dim=1)
                bias = (
                    torch.zeros(module.out_channels)
                    if module.bias is None
                    else module.bias.detach().float()
                )
                out = torch.where(silent, bias, torch.full_like(bias, nan))
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                x = torch.full((module.num_features,), nan) if x is None else x
                bn = copy.deepcopy(module).eval().float()
                y = bn(torch.nan_to_num(x, nan=0.0).view(1, -1, 1, 1)).view(-1)
                out = torch.where(torch.isnan(x), torch.full_like(y, nan), y)
                if module.affine:
                    dead = self._zero(module.weight.detach()) & self._zero(module.bias.detach())
                    out = torch.where(dead, torch.zeros_like(out), out)
            elif not ins or any(i is None for i in ins):
                out = None  # an output marker, or an operation on the model's input
            else:
                kind = _OPS.get(_op_name(node), "keep")
                if kind == "add":
                    out = ins[0] + ins[1]
                elif kind == "relu":
                    out = torch.where(torch.isnan(x), x, x.clamp_min(0))
                elif kind == "keep_zero":
                    out = torch.where(self._zero(x), x, torch.full_like(x, nan))
                else:
                    out = x
            const[node] = out
        return const

    # ---- groups
    def plan(self) -> tuple[ChannelPlan, list[tuple[nn.Module, list[int]]]]:
        from torch_pruning import ops

        dg, plan = self.dg, ChannelPlan(params_before=_count(self.model))
        decisions, rows = [], []
        for group in dg.get_all_groups(ignored_layers=[], root_module_types=_CONVS):
            root = group[0].dep.target.module
            n = dg.get_out_channels(root)
            ok = torch.ones(n, dtype=torch.bool)
            protected = False
            layers = []
            for item in group.items:
                node, handler = item.dep.target, item.dep.handler
                module = node.module
                if not isinstance(module, _CONVS) or dg.is_out_channel_pruning_fn(handler):
                    # the group's tensors: one of them is a model output -> keep the group
                    protected |= not node.outputs or node.type == ops.OPTYPE.OUTPUT
                if not isinstance(module, _CONVS):
                    continue
                if dg.is_out_channel_pruning_fn(handler):
                    layers.append(self.names[module])
                    continue
                # a consumer: channel idx contributes nothing if its slice is zero or its input is 0
                slice_zero = self._slice_zero(module).all(dim=0)  # per input channel
                x = self.const[node.inputs[0]] if node.inputs else None
                silent = slice_zero if x is None else slice_zero | self._zero(x)
                idxs, roots = torch.as_tensor(item.idxs), torch.as_tensor(item.root_idxs)
                ok[roots[~silent[idxs]]] = False
            removable = [] if protected else torch.nonzero(ok).flatten().tolist()
            if len(removable) == n:
                removable = removable[1:]  # a layer keeps at least one channel
            rows.append(
                {
                    "root": self.names[root],
                    "layers": ", ".join(layers),
                    "channels": n,
                    "removed": len(removable),
                    "protected": protected,
                }
            )
            if removable:
                decisions.append((root, removable))
                self._record(group, set(removable), plan)
        plan.groups = pd.DataFrame(
            rows, columns=["root", "layers", "channels", "removed", "protected"]
        )
        plan.params_removed = _params_removed(self.model, plan)
        return plan, decisions

    def _record(self, group: Any, removable: set[int], plan: ChannelPlan) -> None:
        for item in group.items:
            module = item.dep.target.module
            if not isinstance(module, _WITH_PARAMS):
                continue
            idxs = sorted(
                i for i, r in zip(item.idxs, item.root_idxs, strict=True) if r in removable
            )
            if not idxs:
                continue
            out = self.dg.is_out_channel_pruning_fn(item.dep.handler) or not isinstance(
                module, _CONVS
            )
            target = plan.out_channels if out else plan.in_channels
            name = self.names[module]
            target[name] = sorted(set(target.get(name, [])) | set(idxs))

    def prune(self, decisions: list[tuple[nn.Module, list[int]]]) -> None:
        for root, idxs in decisions:
            fn = self.dg.get_pruner_of_module(root).prune_out_channels
            self.dg.get_pruning_group(root, fn, idxs).prune()


@torch.no_grad()
def _verify(model: nn.Module, pruned: nn.Module, inputs: tuple, *, compare: bool) -> None:
    """A last check on the example input (eval mode): the same output shape and, with
    ``compare``, the same values (a structural mistake changes them by far more)."""
    was_training = model.training
    try:
        y = model.eval()(*inputs)
    finally:
        model.train(was_training)
    try:
        y_hat = pruned.eval()(*inputs)
    except RuntimeError as err:
        raise RuntimeError(f"the pruned model does not run on the example input: {err}") from err
    if not isinstance(y, torch.Tensor) or not isinstance(y_hat, torch.Tensor):
        raise NotImplementedError("surgery handles models that return one tensor")
    if y_hat.shape != y.shape:
        raise RuntimeError(
            f"surgery changed the output shape from {tuple(y.shape)} to {tuple(y_hat.shape)}"
        )
    scale = float(y.abs().max()) if y.numel() else 0.0
    if compare and not torch.allclose(y_hat, y, rtol=1e-3, atol=1e-3 * max(scale, 1e-12)):
        diff = float((y_hat - y).abs().max())
        raise RuntimeError(
            f"surgery changed the output on the example input (max difference {diff:.3g}, "
            f"output scale {scale:.3g}); please report this model"
        )


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _params_removed(model: nn.Module, plan: ChannelPlan) -> int:
    """Parameters that removing the plan's channels takes away, from the layer shapes alone."""
    removed = 0
    for name, module in model.named_modules():
        r_out = len(plan.out_channels.get(name, []))
        if isinstance(module, _CONVS):
            r_in = len(plan.in_channels.get(name, []))
            k = module.weight[0, 0].numel()
            out, inp = module.out_channels, module.in_channels
            removed += (out * inp - (out - r_out) * (inp - r_in)) * k
            removed += r_out if module.bias is not None else 0
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            removed += 2 * r_out
    return removed


def _prepare(model: nn.Module) -> tuple[nn.Module, dict[str, bool]]:
    """A deep copy whose parameters all require grad (tracing needs it), and the old flags."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    work = copy.deepcopy(model)
    flags = {n: p.requires_grad for n, p in work.named_parameters()}
    for p in work.parameters():
        p.requires_grad_(True)
    return work, flags


def _restore(work: nn.Module, model: nn.Module, flags: Mapping[str, bool]) -> nn.Module:
    work.train(model.training)
    for name, p in work.named_parameters():
        p.grad = None
        p.requires_grad_(flags.get(name, True))
    return work


# --------------------------------------------------------------------------- public API


def find_zero_channels(model: nn.Module, example_input: Any, tol: float = 0.0) -> ChannelPlan:
    """The channels :func:`prune_zero_channels` would remove, without removing them.

    Args:
        model: the network (left untouched; a copy is traced in eval mode).
        example_input: an input tensor (or a tuple of them) for one forward pass.
        tol: values with ``|v| <= tol`` count as zero (0: exact).

    Returns:
        A :class:`ChannelPlan`.

    Raises:
        NotImplementedError: naming the layer, for a model surgery cannot prove exact.
        ValueError: for a negative ``tol``.
    """
    work, _ = _prepare(model)
    plan, _ = _Analysis(work, example_input, tol).plan()
    return plan


def prune_zero_channels(model: nn.Module, example_input: Any, tol: float = 0.0) -> nn.Module:
    """A smaller copy of ``model`` without the channels that contribute nothing.

    Every channel whose activation is identically zero, or which every consumer ignores
    (zero input slices), goes: the convolution filters, their BatchNorm entries and the
    matching input slices of the next layers, through residual additions, downsample
    branches, deconvolutions and the final 1x1 convolution (whose output channels, the
    heatmaps, stay). The coupling comes from Torch-Pruning's ``DependencyGraph``; the module
    docstring says when a channel is provably removable.

    In eval mode the new model's output equals the old one's to float precision (summation
    order changes), and its parameter count is ``find_zero_channels(...).params_after``.

    Args:
        model: the network (left untouched: a deep copy is pruned; the copy keeps the
            model's train/eval mode and ``requires_grad`` flags).
        example_input: an input tensor (or a tuple of them) for one forward pass.
        tol: values with ``|v| <= tol`` count as zero (0: exact).

    Returns:
        The pruned copy.

    Raises:
        NotImplementedError: naming the layer, for a model surgery cannot prove exact
            (see :data:`SUPPORTED_LAYERS`).
        ValueError: for a negative ``tol``.
    """
    work, flags = _prepare(model)
    analysis = _Analysis(work, example_input, tol)
    _, decisions = analysis.plan()
    analysis.prune(decisions)
    _verify(model, work, analysis.inputs, compare=tol == 0)
    return _restore(work, model, flags)


def channel_report(before: nn.Module, after: nn.Module) -> pd.DataFrame:
    """Channels and parameters of each Conv/ConvTranspose/BatchNorm layer in two models.

    Layers are matched by name (surgery keeps the names). Columns: ``layer``, ``type``,
    ``in_before``, ``in_after``, ``out_before``, ``out_after``, ``params_before``,
    ``params_after``, ``params_removed``.
    """
    after_modules = dict(after.named_modules())
    rows = []
    for name, m in before.named_modules():
        if not isinstance(m, _WITH_PARAMS) or name not in after_modules:
            continue
        a = after_modules[name]

        def channels(x: nn.Module) -> tuple[int, int]:
            if isinstance(x, _CONVS):
                return x.in_channels, x.out_channels
            return x.num_features, x.num_features

        (i0, o0), (i1, o1) = channels(m), channels(a)
        p0, p1 = _count(m), _count(a)
        rows.append(
            {
                "layer": name,
                "type": type(m).__name__,
                "in_before": i0,
                "in_after": i1,
                "out_before": o0,
                "out_after": o1,
                "params_before": p0,
                "params_after": p1,
                "params_removed": p0 - p1,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- keep ratios

_BLOCK_CONV = re.compile(r"layer(\d+)\.(\d+)\.(?:conv(\d+)|(downsample)\.0)")


def _units(model: nn.Module) -> dict[str, str]:
    """Conv/deconv layer name -> its keep-ratio unit, for torchvision-ResNet-named models."""
    modules = dict(model.named_modules())
    units: dict[str, str] = {}
    deconvs = 0
    for name, m in modules.items():
        if isinstance(m, nn.ConvTranspose2d):
            units[name] = f"deconv{deconvs}"
            deconvs += 1
        elif isinstance(m, nn.Conv2d):
            if name == "conv1":
                units[name] = "stem"
                continue
            match = _BLOCK_CONV.fullmatch(name)
            if match is None:
                continue  # e.g. the final 1x1 layer: not a unit
            stage, block, k, down = match.groups()
            block_module = modules[f"layer{stage}.{block}"]
            last = max(int(c[4:]) for c, _ in block_module.named_children() if c[:4] == "conv")
            role = "residual" if down or int(k) == last else "internal"
            units[name] = f"layer{stage}.{role}"
    return units


def keep_ratio_units(model: nn.Module) -> list[str]:
    """The keep-ratio units of a Simple Baselines (torchvision ResNet) model, sorted."""
    return sorted(set(_units(model).values()))


def keep_ratios(full: nn.Module, pruned: nn.Module) -> dict[str, float]:
    """Fraction of output channels kept per unit (stem, stage internal/residual, deconv).

    Args:
        full: the model before surgery.
        pruned: the model after (layers matched by name).

    Returns:
        ``{unit: kept / original}``, e.g. ``{"layer1.internal": 0.5, "deconv0": 0.75, ...}``.

    Raises:
        ValueError: if a layer lost channels but belongs to no unit, or is missing.
    """
    units = _units(full)
    after = dict(pruned.named_modules())
    kept: dict[str, list[int]] = {}
    for name, m in full.named_modules():
        if not isinstance(m, _CONVS):
            continue
        if name not in after:
            raise ValueError(f"layer {name!r} of the full model is missing from the pruned one")
        out = after[name].out_channels
        if name not in units:
            if out != m.out_channels:
                raise ValueError(f"layer {name!r} lost channels but belongs to no keep-ratio unit")
            continue
        pair = kept.setdefault(units[name], [0, 0])
        pair[0] += out
        pair[1] += m.out_channels
    return {u: k / n for u, (k, n) in sorted(kept.items())}


_PRIORITY = ("residual", "internal", "stem", "deconv")


def apply_keep_ratios(
    model: nn.Module, ratios: Mapping[str, float], example_input: Any
) -> nn.Module:
    """A copy of ``model`` with ``ratios[unit]`` of each unit's channels kept.

    Transfers a pruning result between backbones (e.g. from a CPU-scale ResNet-18 to the
    full ResNet-50 at 256 x 256) so that dense and engineered latency can be measured at
    full scale. In each coupled group the channels with the smallest L2 norm (filters of the
    group's producers and their BN gamma) go, keeping ``max(1, round(ratio * channels))``.
    A group spanning several units (ResNet-18's stem is coupled to layer1's residual
    channels) takes the ratio of its residual unit; units missing from ``ratios`` keep all
    channels. The weights kept are the model's own: the result is for timing, not accuracy.

    Args:
        model: a Simple Baselines (torchvision ResNet) model (left untouched).
        ratios: ``{unit: fraction kept in (0, 1]}``, e.g. from :func:`keep_ratios`.
        example_input: an input tensor for one forward pass.

    Returns:
        The pruned copy.

    Raises:
        ValueError: for a ratio outside (0, 1] or a unit the model does not have.
        NotImplementedError: naming the layer, for a model surgery does not support.
    """
    units = _units(model)
    known = set(units.values())
    for unit, r in ratios.items():
        if unit not in known:
            raise ValueError(f"unknown keep-ratio unit {unit!r}; the model has {sorted(known)}")
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0 < r <= 1:
            raise ValueError(f"ratios[{unit!r}]={r!r}; expected a fraction in (0, 1]")
    work, flags = _prepare(model)
    analysis = _Analysis(work, example_input, 0.0)
    dg = analysis.dg
    decisions = []
    for group in dg.get_all_groups(ignored_layers=[], root_module_types=_CONVS):
        root = group[0].dep.target.module
        n = dg.get_out_channels(root)
        score = torch.zeros(n)
        group_units = set()
        protected = False
        for item in group.items:
            node, module = item.dep.target, item.dep.target.module
            producer = dg.is_out_channel_pruning_fn(item.dep.handler)
            if not isinstance(module, _CONVS) or producer:
                protected |= not node.outputs
            if not producer:
                continue
            if isinstance(module, _CONVS):
                name = analysis.names[module]
                if name in units:
                    group_units.add(units[name])
                w = module.weight.detach()
                w = w.movedim(1, 0) if module.transposed else w
                values = w.flatten(1).pow(2).sum(1)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
                values = module.weight.detach().pow(2)
            else:
                continue
            idxs, roots = torch.as_tensor(item.idxs), torch.as_tensor(item.root_idxs)
            score.index_add_(0, roots, values[idxs].float())
        if protected or not group_units:
            continue
        unit = min(group_units, key=lambda u: (_PRIORITY.index(_role(u)), u))
        keep = max(1, round(float(ratios.get(unit, 1.0)) * n))
        if keep < n:
            order = torch.argsort(score, stable=True)
            decisions.append((root, sorted(order[: n - keep].tolist())))
    analysis.prune(decisions)
    _verify(model, work, analysis.inputs, compare=False)
    return _restore(work, model, flags)


def _role(unit: str) -> str:
    if unit.startswith("deconv"):
        return "deconv"
    return unit.split(".")[-1] if "." in unit else unit
