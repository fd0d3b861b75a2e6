"""Engineering a sparse model (thesis sections 5.4-5.5, Tables 5.6 and 5.8): cut, fine-tune.

:func:`engineered_run` group-thresholds a finished regularized run, removes its dead
channels exactly (:func:`surgery.prune_zero_channels`) and fine-tunes the smaller network
without a penalty; :func:`engineer_cells` is the chapters' call, one stored run
(:data:`ENGINEERED_STUDY`) per cell. :func:`engineer` is the second half it shares with the
Bayesian chapter.

**The pruned architecture.** The engineered network has other layer widths than the
registry's, so its checkpoint cannot be loaded into ``create_model(...)`` as is.
:func:`load_engineered_model` rebuilds it from the checkpoint alone: it creates the registry
model, replaces every Conv/ConvTranspose/BatchNorm layer whose shape differs from the saved
tensors by one of the saved shape (surgery keeps module names and types), then loads the
state. No pickled module (fragile across code versions) is stored; inside
:func:`engineered_run` the pruned network is re-derived by surgery, which is deterministic.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pose_helpers.compress.regularizers import THESIS_LOSS_SCALE, THESIS_THRESHOLDS
from pose_helpers.core.io import need_checkpoint, save_torch
from pose_helpers.core.store import jsonable
from pose_helpers.studies.compression.common import (
    EVAL_BATCH,
    TABLE_METHODS,
    THESIS_ENGINEERED_CELLS,
    baseline_arguments,
    check_count,
    check_lr,
    check_threshold,
    checkpoint_folder,
    create_baseline_model,
    full_scale_baseline_mb,
    stored_run,
    train_config,
)
from pose_helpers.studies.compression.scoring import nan_table
from pose_helpers.studies.compression.sparsity import plan_regularized, train_regularized
from pose_helpers.studies.compression.tables import key_value, thesis_table
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 2

__all__ = [
    "ENGINEERED_STUDY",
    "THESIS_CELL",
    "THESIS_CELL_ALSO_SPARSEST",
    "choose_cell",
    "engineer",
    "engineer_cells",
    "engineered_run",
    "engineered_summary",
    "engineered_table",
    "engineering_targets",
    "example_input",
    "keep_ratios",
    "load_engineered_model",
]

#: The run store's study of the engineered group-lasso (or L1) models.
ENGINEERED_STUDY = "compression_engineered"
_ENGINEERED_TABLES = {"group_lasso": "engineered", "bayesian": "bayesian_engineered"}


def example_input(input_size: int, batch: int = 2):
    """A fixed random input batch (seed 0): surgery checks its cuts on it."""
    import torch

    return torch.randn(batch, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))


def _resize_to(model: Any, state: Mapping[str, Any]) -> Any:
    """Replace each Conv/ConvTranspose/BatchNorm layer of ``model`` whose shape differs from
    ``state``'s tensors by a layer of the saved shape, then load ``state`` (strict)."""
    from torch import nn

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    for name, module in list(model.named_modules()):
        weight = state.get(f"{name}.weight")
        if isinstance(module, convs) and weight is not None:
            if tuple(weight.shape) == tuple(module.weight.shape):
                continue
            groups = module.groups
            if module.transposed:
                cin, cout = weight.shape[0], weight.shape[1] * groups
            else:
                cout, cin = weight.shape[0], weight.shape[1] * groups
            kwargs = dict(
                kernel_size=module.kernel_size,
                stride=module.stride,
                padding=module.padding,
                dilation=module.dilation,
                groups=groups,
                bias=module.bias is not None,
                padding_mode=module.padding_mode,
            )
            if module.transposed:
                kwargs["output_padding"] = module.output_padding
            model.set_submodule(name, type(module)(cin, cout, **kwargs))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            ref = state.get(f"{name}.running_mean", weight)
            if ref is not None and ref.shape[0] != module.num_features:
                model.set_submodule(
                    name,
                    type(module)(
                        ref.shape[0],
                        eps=module.eps,
                        momentum=module.momentum,
                        affine=module.affine,
                        track_running_stats=module.track_running_stats,
                    ),
                )
    model.load_state_dict(state)
    return model


def load_engineered_model(
    record: Mapping[str, Any],
    baseline: Mapping[str, Any],
    checkpoint_dir: str | os.PathLike | None = None,
):
    """The engineered (pruned, fine-tuned) model of an :func:`engineered_run` (or Bayesian
    engineered) record, in eval mode, rebuilt from this machine's checkpoint alone (see the
    module docstring).

    Raises:
        FileNotFoundError: naming the checkpoint, where it is missing or does not load (it
            is then moved aside): run the engineering again to compute it.
    """
    state = need_checkpoint(
        checkpoint_folder(checkpoint_dir) / record["checkpoint"],
        f"call engineered_run (or bayesian_engineered_run) with the settings of run "
        f"{record['key']} to compute it again",
    )
    net = create_baseline_model(baseline_arguments(baseline))
    return _resize_to(net, state["model"]).eval()


def _channel_summary(report: pd.DataFrame) -> tuple[dict[str, int], list[dict[str, Any]]]:
    convs = report[report["type"].isin(["Conv2d", "ConvTranspose2d"])]
    summary = {
        "layers": len(convs),
        "layers_pruned": int((convs["out_after"] < convs["out_before"]).sum()),
        "channels_before": int(convs["out_before"].sum()),
        "channels_after": int(convs["out_after"].sum()),
        "params_removed": int(report["params_removed"].sum()),
    }
    layers = [
        {k: (v if isinstance(v, str) else int(v)) for k, v in row.items()}
        for row in convs[
            ["layer", "type", "in_before", "in_after", "out_before", "out_after"]
        ].to_dict("records")
    ]
    return summary, layers


def engineer(
    full: Any,
    sparse: Any,
    train_data: Any,
    val_data: Any,
    config: Any,
    *,
    input_size: int,
    finetune_epochs: int,
    checkpoint: Path,
    progress: bool = False,
) -> dict[str, Any]:
    """Cut the dead channels out of ``sparse`` and fine-tune the smaller network.

    The shared second half of :func:`engineered_run` and the Bayesian chapter's engineering:
    ``sparse`` is ``full`` with whole channel groups zeroed (by a threshold on group norms or
    on Algorithm 1's ``gamma``); :func:`surgery.prune_zero_channels` removes them exactly
    (checked on an ``input_size`` example input), then ``finetune_epochs`` epochs of
    :func:`train.fit` with ``config`` (its ``epochs`` replaced) and the plain heatmap loss;
    ``0`` only cuts. The weights go to ``checkpoint`` (resumed by a re-run).

    Returns:
        The JSON-able part of the record that does not depend on how ``sparse`` was made:
        ``params``, ``params_full``, ``retained``, ``size_mb``, ``size_mb_full``,
        ``checkpoint_mb``, ``pckh_thresholded``, ``pckh_before``, ``pckh_after``,
        ``table_before``, ``table_after``, ``history``, ``channels``, ``layers``,
        ``keep_ratios``, ``train_seconds``, ``diverged`` and ``checkpoint`` (the file's name).
    """
    from pose_helpers.compress import surgery
    from pose_helpers.cost import bench
    from pose_helpers.train import loop as train

    pruned = surgery.prune_zero_channels(sparse, example_input(input_size))
    _, table_sparse = train.evaluate(sparse, val_data, batch_size=EVAL_BATCH)
    _, table_before = train.evaluate(pruned, val_data, batch_size=EVAL_BATCH)
    summary, layers = _channel_summary(surgery.channel_report(full, pruned))
    ratios = surgery.keep_ratios(full, pruned)
    if finetune_epochs > 0:
        result = train.fit(
            pruned,
            train_data,
            val_data,
            dataclasses.replace(config, epochs=finetune_epochs),
            checkpoint=checkpoint,
            progress=progress,
        )
        history = result.history.to_dict("records")
        table_after = result.table or nan_table()
        diverged, seconds = result.diverged, result.seconds
    else:
        save_torch({"model": pruned.state_dict()}, checkpoint)
        history, table_after, diverged, seconds = [], table_before, False, 0.0
    pruned.eval()
    params, params_full = bench.count_params(pruned), bench.count_params(full)
    return jsonable(
        {
            "params": params,
            "params_full": params_full,
            "retained": params / params_full,
            "size_mb": bench.size_mb(pruned, "fp32"),
            "size_mb_full": bench.size_mb(full, "fp32"),
            "checkpoint_mb": bench.checkpoint_mb(pruned),
            "pckh_thresholded": float(table_sparse["Mean"]),
            "pckh_before": float(table_before["Mean"]),
            "pckh_after": float(table_after.get("Mean", math.nan)),
            "table_before": table_before,
            "table_after": table_after,
            "history": history,
            "channels": summary,
            "layers": layers,
            "keep_ratios": {k: float(v) for k, v in ratios.items()},
            "train_seconds": float(seconds),
            "diverged": bool(diverged),
            "checkpoint": Path(checkpoint).name,
        }
    )


def engineered_run(
    method: str,
    lam: float,
    threshold: float,
    *,
    baseline: dict[str, Any],
    epochs: int,
    finetune_epochs: int,
    lambda_factor: float = THESIS_LOSS_SCALE,
    thresholds: Sequence[float] = THESIS_THRESHOLDS,
    statistic: str = "norm",
    lr: float = 1e-4,
    regularized_lr: float = 1e-4,
    step: str = "penalty",
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    regularized_threads: int | None = None,
) -> dict[str, Any]:
    """Engineer a regularized model (thesis section 5.4, Table 5.6): threshold, cut, fine-tune.

    The regularized run ``(method, lam, epochs (its cap), regularized_lr, lambda_factor,
    thresholds, step, seed)`` (its checkpoint, trained first where this machine has none) is
    group-thresholded at ``threshold`` (whole filter and channel groups by ``statistic``, the
    L2 norm or the RMS, also for ``'l1'``: random zeros cannot be removed), its dead channels are removed exactly (:func:`surgery.prune_zero_channels`,
    checked on an example input), and the smaller network is fine-tuned for
    ``finetune_epochs`` with the plain heatmap loss (no penalty, no mask), the baseline's
    optimizer, batch size and milestones, and learning rate ``lr``. ``finetune_epochs=0``
    only cuts. :func:`engineer_cells` stores the record. The fine-tuning runs on ``threads``
    torch threads, the regularized run, where trained here, on ``regularized_threads``
    (``None``: ``threads``; a sweep's worker trains it on one, and the thread count changes
    the sums' order, so its weights).

    Returns:
        A JSON-able dict: ``key``, ``regularized_key``, ``method``, ``lam``, ``threshold``,
        ``zeroed`` (values the threshold zeroed) and :func:`engineer`'s record: ``params`` and
        ``params_full`` (the engineered and the uncut CPU model), ``retained`` (their
        ratio), ``size_mb`` and ``size_mb_full`` (fp32 tensors, :func:`bench.size_mb`),
        ``checkpoint_mb``, ``pckh_thresholded`` (the thresholded, uncut model),
        ``pckh_before`` (the cut model: equal, the cut is exact), ``pckh_after``
        (fine-tuned), ``table_before``/``table_after`` (Head ... Mean), ``history``
        (fine-tuning), ``channels`` (summary of :func:`surgery.channel_report`), ``layers``
        (channels per convolution), ``keep_ratios`` (:func:`surgery.keep_ratios`, for
        ``full_scale_latency``), ``train_seconds``, ``diverged`` and ``checkpoint`` (the
        engineered state's file, for :func:`load_engineered_model`).

    Raises:
        ValueError: at once for bad arguments (as ``regularized_run``, and a threshold
            <= 0 or negative ``finetune_epochs``); when the regularized run diverged.
    """
    from pose_helpers.compress import regularizers

    threshold = check_threshold(threshold)
    finetune_epochs = check_count("finetune_epochs", finetune_epochs, minimum=0)
    lr = check_lr("lr", lr)
    plan = plan_regularized(
        method,
        lam,
        baseline,
        epochs,
        regularized_lr,
        seed,
        data_root,
        regularized_threads or threads,
        checkpoint_dir,
        lambda_factor=lambda_factor,
        thresholds=thresholds,
        step=step,
    )
    key = experiments.run_key(
        {
            "regularized": plan.key,
            "threshold": threshold,
            "statistic": statistic,
            "finetune_epochs": finetune_epochs,
            "lr": lr,
            "seed": plan.seed,
        }
    )
    trained = train_regularized(plan, progress)
    if trained["result"].diverged:
        raise ValueError(
            f"the regularized run {plan.method} lam={plan.lam:g} diverged; nothing to engineer"
        )
    full = trained["model"]
    sparse = copy.deepcopy(full).eval()
    zeroed = regularizers.threshold_(sparse, threshold, "group", statistic=statistic)
    record = engineer(
        full,
        sparse,
        trained["train_data"],
        trained["val_data"],
        train_config(plan.settings, max(finetune_epochs, 1), lr, plan.seed, threads),
        input_size=plan.settings["input_size"],
        finetune_epochs=finetune_epochs,
        checkpoint=plan.checkpoint.parent / f"engineered-{plan.method}-{key}.pt",
        progress=progress,
    )
    return jsonable(
        {
            "key": key,
            "regularized_key": plan.key,
            "method": plan.method,
            "lam": plan.lam,
            "threshold": threshold,
            "zeroed": int(zeroed),
            **record,
        }
    )


def engineer_cells(
    targets: Mapping[str, tuple[float, float]],
    *,
    method: str = "group_lasso",
    threads: int | None = 1,
    progress: bool = False,
    **settings: Any,
) -> dict[str, dict[str, Any]]:
    """:func:`engineered_run` of every target cell, by label, each a stored run of
    :data:`ENGINEERED_STUDY` (read back where committed; computed, with ``threads`` and
    ``progress``, and stored where not).

    Args:
        targets: ``{label: (lam, threshold)}``, e.g. :func:`engineering_targets`.
        method: the regularizer of the runs engineered.
        settings: the other arguments of :func:`engineered_run` (``baseline``, ``epochs``,
            ``finetune_epochs``, ``lr``, ``regularized_lr``, ``seed``).
    """
    return {
        label: stored_run(
            engineered_run,
            ENGINEERED_STUDY,
            threads=threads,
            progress=progress,
            echo=("method", "lam", "threshold"),
            method=method,
            lam=float(lam),
            threshold=float(threshold),
            **settings,
        )
        for label, (lam, threshold) in targets.items()
    }


def keep_ratios(engineered: Mapping[str, Mapping[str, Any]], prefix: str = "") -> dict[str, Any]:
    """The engineered records' ``keep_ratios`` by label (``"<prefix>, <label>"`` with a
    prefix): the variants of ``full_scale_latency`` and ``full_scale_models``."""
    return {
        (f"{prefix}, {label}" if prefix else label): record["keep_ratios"]
        for label, record in engineered.items()
    }


def engineered_table(engineered: Mapping[str, Any], baseline: Mapping[str, Any]) -> pd.DataFrame:
    """The CPU-scale counterpart of Tables 5.3 and 5.6: the baseline, the cut model before
    and after fine-tuning (``params_m``, ``size_mb`` (fp32 tensors), ``retained``, ``pckh``).

    Args:
        engineered: an :func:`engineered_run` record.
        baseline: the ``baseline_run`` record it started from.
    """
    full = (engineered["params_full"] / 1e6, engineered["size_mb_full"], 1.0)
    small = (engineered["params"] / 1e6, engineered["size_mb"], engineered["retained"])
    rows = [
        ("baseline", *full, baseline["table"]["Mean"]),
        ("engineered, before fine-tuning", *small, engineered["pckh_before"]),
        ("engineered and fine-tuned", *small, engineered["pckh_after"]),
    ]
    return pd.DataFrame(rows, columns=["model", "params_m", "size_mb", "retained", "pckh"])


def engineered_summary(
    engineered: Sequence[Mapping[str, Any]],
    baseline: Mapping[str, Any],
    thesis: str = "group_lasso",
) -> pd.DataFrame:
    """Table 5.6 (``thesis='group_lasso'``) or 5.8 (``'bayesian'``) beside Table 5.3, ours and
    the thesis's: one row per model.

    Args:
        engineered: :func:`engineered_run` (or ``bayesian_engineered_run``) records; each
            names its lambda and threshold.
        baseline: the ``baseline_run`` record they started from.
        thesis: whose engineered model the thesis rows show.

    Returns:
        Columns ``source`` (``ours (CPU scale)`` or ``thesis``), ``model``, ``lambda``,
        ``threshold``, ``params_m``, ``retained`` (parameters kept), ``theoretical_mb``
        (``retained`` x the full-scale 136.32 MB: the size at the thesis's scale) and ``pckh``.
        Our engineered models get two rows, before and after fine-tuning.
    """
    if thesis not in _ENGINEERED_TABLES:
        raise ValueError(f"thesis={thesis!r}; expected one of {tuple(_ENGINEERED_TABLES)}")
    full_mb = full_scale_baseline_mb()
    ours = "ours (CPU scale)"
    rows = []
    for record in engineered:
        base = (record["params_full"] / 1e6, 1.0, full_mb, baseline["table"]["Mean"])
        if not rows:
            rows.append((ours, "baseline", math.nan, math.nan, *base))
        cell = (record["lam"], record["threshold"], record["params"] / 1e6, record["retained"])
        size = record["retained"] * full_mb
        rows.append((ours, "engineered", *cell, size, record["pckh_before"]))
        rows.append((ours, "engineered, fine-tuned", *cell, size, record["pckh_after"]))
    base = thesis_table("baseline").iloc[0]
    eng = thesis_table(_ENGINEERED_TABLES[thesis]).iloc[0]
    lam, threshold = THESIS_ENGINEERED_CELLS[thesis]
    rows.append(
        (
            "thesis",
            "baseline",
            math.nan,
            math.nan,
            base["params_m"],
            1.0,
            base["size_mb"],
            base["pckh"],
        )
    )
    rows.append(
        (
            "thesis",
            "engineered, fine-tuned",
            lam,
            threshold,
            eng["params_m"],
            eng["params_m"] / base["params_m"],
            eng["size_mb"],
            eng["pckh"],
        )
    )
    columns = [
        "source",
        "model",
        "lambda",
        "threshold",
        "params_m",
        "retained",
        "theoretical_mb",
        "pckh",
    ]
    return pd.DataFrame(rows, columns=columns)


def choose_cell(
    cells: pd.DataFrame, method: str, baseline_pckh: float, max_drop: float
) -> pd.Series | None:
    """The cell with the fewest retained weights whose PCKh is at most ``max_drop`` points
    below the baseline's (the thesis picks "a trade-off between size and PCKh"; this is a
    stated rule for it). ``None`` when no cell qualifies."""
    if isinstance(max_drop, bool) or not isinstance(max_drop, int | float) or max_drop < 0:
        raise ValueError(f"max_drop={max_drop!r}; expected a number of PCKh points >= 0")
    if method not in TABLE_METHODS:
        raise ValueError(f"method={method!r}; expected one of {TABLE_METHODS}")
    ok = cells[
        (cells["method"] == method)
        & (cells["pckh"] >= baseline_pckh - max_drop)
        & ~cells["diverged"].astype(bool)
    ]
    if ok.empty:
        return None
    return ok.sort_values(["retained", "pckh"], ascending=[True, False], kind="stable").iloc[0]


#: Labels of the engineered model at the thesis's cell (the second where that cell is also
#: the sparsest within the accuracy budget); the summary's claims find that model by them.
THESIS_CELL = "thesis's cell"
THESIS_CELL_ALSO_SPARSEST = "thesis's cell, also the sparsest within the drop"


def engineering_targets(
    cells: pd.DataFrame,
    method: str,
    thesis_cell: tuple[float, float],
    baseline_pckh: float,
    max_drop: float,
    also: Sequence[float] = (),
) -> dict[str, tuple[float, float]]:
    """The cells to engineer, by label: the thesis's cell, the one :func:`choose_cell` picks
    (one entry when they coincide), and each λ of ``also`` at the thesis's threshold
    (labelled ``"λ_thesis <λ>"``: cells past the accuracy budget, engineered so that a
    trade-off is measured where the method cuts channels).

    Raises:
        ValueError: a λ of ``also`` that ``cells`` has no row of, before any work.
    """
    thesis_cell = (float(thesis_cell[0]), float(thesis_cell[1]))
    swept = {key_value(v) for v in cells.loc[cells["method"] == method, "lambda"]}
    missing = [lam for lam in also if key_value(float(lam)) not in swept]
    if missing:
        raise ValueError(
            f"also={list(also)!r}: no {method} cell at λ {missing}; expected λ of the sweep "
            f"({sorted(cells.loc[cells['method'] == method, 'lambda'].unique())})"
        )
    chosen = choose_cell(cells, method, baseline_pckh, max_drop)
    targets: dict[str, tuple[float, float]] = {THESIS_CELL: thesis_cell}
    if chosen is not None:
        ours = (float(chosen["lambda"]), float(chosen["threshold"]))
        if (key_value(ours[0]), key_value(ours[1])) == tuple(map(key_value, thesis_cell)):
            targets = {THESIS_CELL_ALSO_SPARSEST: thesis_cell}
        else:
            targets[f"sparsest within {max_drop:g} points"] = ours
    taken = {(key_value(lam), key_value(t)) for lam, t in targets.values()}
    for lam in also:
        cell = (float(lam), thesis_cell[1])
        if (key_value(cell[0]), key_value(cell[1])) not in taken:
            targets[f"λ_thesis {cell[0]:g}"] = cell
    return targets
