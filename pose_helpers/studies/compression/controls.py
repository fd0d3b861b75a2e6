"""Controls that tell a reader whether a compression method is worth it: a one-shot
structured magnitude pruner with the same fine-tuning budget as a sweep cell.

:func:`magnitude_pruned_run` keeps ``keep`` of every unit's channels of the trained baseline,
choosing in each coupled group (Torch-Pruning's dependency graph, traced by
:func:`surgery.apply_keep_ratios`, the one tracer of the package) the channels with the
largest L2 norm, then fine-tunes the smaller network with the plain heatmap loss. No penalty,
no sweep: if a regularizer does no better at the same parameter count, it is not worth its
training. :func:`pruning_controls` is the chapters' call, one stored run per ratio of
:data:`CONTROL_STUDY`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pose_helpers.chapters.verdicts import margin_verdict
from pose_helpers.core.io import save_torch
from pose_helpers.core.store import jsonable
from pose_helpers.studies.compression.baseline import load_baseline
from pose_helpers.studies.compression.common import (
    EVAL_BATCH,
    baseline_arguments,
    baseline_datasets,
    baseline_key,
    check_count,
    check_lr,
    checkpoint_folder,
    stored_run,
    train_config,
)
from pose_helpers.studies.compression.engineering import example_input
from pose_helpers.studies.compression.scoring import nan_table
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1

__all__ = [
    "CONTROL_STUDY",
    "GROUP_CONTROL_STUDY",
    "exclude_setting",
    "group_magnitude_controls",
    "group_magnitude_run",
    "magnitude_comparison",
    "magnitude_note",
    "magnitude_pruned_run",
    "prune_smallest_groups",
    "pruning_controls",
]

#: The run store's study of the one-shot pruning controls.
CONTROL_STUDY = "compression_magnitude_pruning"
#: The run store's study of group-magnitude pruning to a given retained fraction.
GROUP_CONTROL_STUDY = "compression_group_magnitude"


def _check_keep(keep: Any) -> float:
    if isinstance(keep, bool) or not isinstance(keep, int | float) or not 0 < keep <= 1:
        raise ValueError(f"keep={keep!r}; expected a fraction of the channels in (0, 1]")
    return float(keep)


def magnitude_pruned_run(
    keep: float,
    *,
    baseline: Mapping[str, Any],
    finetune_epochs: int,
    lr: float = 1e-4,
    seed: int = 0,
    threads: int | None = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """One-shot structured magnitude pruning of the baseline, then fine-tuning.

    Every unit of the network (:func:`surgery.keep_ratio_units`: each residual stage's inner
    convolutions, its residual channels, the deconvolutions) keeps ``keep`` of its channels,
    the largest by L2 norm in each coupled group; the pruned network is fine-tuned for
    ``finetune_epochs`` with the plain heatmap loss, the baseline's optimizer, batch size and
    milestones, and learning rate ``lr`` (``0`` epochs only cuts).

    Returns:
        A JSON-able dict: ``key``, ``params``, ``params_full``, ``retained``,
        ``macs``, ``macs_full`` (at the baseline's input size), ``pckh_before`` (the cut,
        untrained network), ``pckh_after``, ``table_after``, ``history``, ``keep_ratios``
        (for the full-scale timing), ``train_seconds``, ``diverged``, ``checkpoint``.

    Raises:
        ValueError: at once, for ``keep`` outside (0, 1], negative epochs, a learning rate
            <= 0 or an unknown baseline setting.
    """
    from pose_helpers.compress import surgery
    from pose_helpers.cost import bench
    from pose_helpers.train import loop as train

    keep = _check_keep(keep)
    finetune_epochs = check_count("finetune_epochs", finetune_epochs, minimum=0)
    lr = check_lr("lr", lr)
    settings = baseline_arguments(baseline)
    key = experiments.run_key(
        {
            "baseline": baseline_key(baseline),
            "keep": keep,
            "finetune_epochs": finetune_epochs,
            "lr": lr,
            "seed": int(seed),
        }
    )
    checkpoint = checkpoint_folder(checkpoint_dir) / f"magnitude-{key}.pt"
    full, _ = load_baseline(baseline, threads=threads, progress=progress)
    size = settings["input_size"]
    units = surgery.keep_ratio_units(full)
    pruned = surgery.apply_keep_ratios(full, dict.fromkeys(units, keep), example_input(size))
    ratios = surgery.keep_ratios(full, pruned)
    train_data, val_data = baseline_datasets(settings)
    _, before = train.evaluate(pruned, val_data, batch_size=EVAL_BATCH)
    if finetune_epochs > 0:
        config = train_config(settings, finetune_epochs, lr, int(seed), threads)
        result = train.fit(
            pruned, train_data, val_data, config, checkpoint=checkpoint, progress=progress
        )
        history, after = result.history.to_dict("records"), result.table or nan_table()
        diverged, seconds = result.diverged, result.seconds
    else:
        save_torch({"model": pruned.state_dict()}, checkpoint)
        history, after, diverged, seconds = [], before, False, 0.0
    shape = (3, size, size)
    params, params_full = bench.count_params(pruned), bench.count_params(full)
    return jsonable(
        {
            "key": key,
            "params": params,
            "params_full": params_full,
            "retained": params / params_full,
            "macs": bench.macs(pruned.eval(), shape),
            "macs_full": bench.macs(full.eval(), shape),
            "pckh_before": float(before["Mean"]),
            "pckh_after": float(after.get("Mean", math.nan)),
            "table_after": after,
            "history": history,
            "keep_ratios": {k: float(v) for k, v in ratios.items()},
            "train_seconds": float(seconds),
            "diverged": bool(diverged),
            "checkpoint": checkpoint.name,
        }
    )


def pruning_controls(
    keeps: Sequence[float],
    *,
    baseline: Mapping[str, Any],
    finetune_epochs: int,
    lr: float = 1e-4,
    seed: int = 0,
    threads: int | None = 1,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """:func:`magnitude_pruned_run` at every ``keep`` (validated first), each a stored run of
    :data:`CONTROL_STUDY`; each record names its ``keep``."""
    keeps = [_check_keep(k) for k in keeps]
    check_count("finetune_epochs", finetune_epochs, minimum=0)
    check_lr("lr", lr)
    baseline_arguments(baseline)
    return [
        stored_run(
            magnitude_pruned_run,
            CONTROL_STUDY,
            threads=threads,
            progress=progress,
            echo=("keep",),
            keep=keep,
            baseline=dict(baseline),
            finetune_epochs=int(finetune_epochs),
            lr=float(lr),
            seed=int(seed),
        )
        for keep in keeps
    ]


def prune_smallest_groups(
    model: Any, retained: float, statistic: str = "rms", exclude: Sequence[str] = ()
) -> int:
    """Zero the groups of ``model`` (``regularizers.channel_groups``, without the layers
    named in ``exclude``) with the smallest ``statistic``, as few as bring its retained
    fraction to ``retained`` or below; in place.

    Returns:
        The number of groups zeroed (the smallest count that reaches ``retained``; all of
        them when even that does not).
    """
    import copy

    import torch

    from pose_helpers.compress import regularizers

    retained = _check_keep(retained)
    groups = regularizers.channel_groups(model, exclude=exclude)
    order = torch.argsort(regularizers.group_norms(model, groups, statistic=statistic).detach())

    def zeroed(k: int) -> Any:
        which = torch.zeros(len(order), dtype=torch.bool)
        which[order[:k]] = True
        out = copy.deepcopy(model)
        regularizers.zero_groups_(out, groups, which)
        return out, which

    low, high = 0, len(order)  # retained(k) falls with k: the least k that reaches the target
    while low < high:
        mid = (low + high) // 2
        if regularizers.sparsity_report(zeroed(mid)[0])["retained"] <= retained:
            high = mid
        else:
            low = mid + 1
    _, which = zeroed(low)
    regularizers.zero_groups_(model, groups, which)
    return low


def exclude_setting(exclude: Sequence[str], retained: float) -> dict[str, list[str]]:
    """``exclude`` as a run setting, only where it can change the result: pruning to 1.0
    zeroes nothing, so there it enters neither the run key nor the stored settings (the keys
    of earlier runs stay)."""
    return {"exclude": sorted(exclude)} if exclude and retained < 1 else {}


def group_magnitude_run(
    retained: float,
    *,
    baseline: Mapping[str, Any],
    epochs: int,
    lr: float = 1e-4,
    statistic: str = "rms",
    exclude: Sequence[str] = (),
    seed: int = 0,
    threads: int | None = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The control of the thesis's claim for Algorithm 1: plain group-magnitude pruning of the
    baseline to ``retained`` of its weights (:func:`prune_smallest_groups`; the layers named
    in ``exclude`` are never pruned, as Torch-Pruning's ``ignored_layers`` keeps the output
    layer), then ``epochs`` of fine-tuning at the constant ``lr`` with the pruned groups held
    at zero, as long as the Bayesian run it stands beside trained.

    Returns:
        A JSON-able dict: ``key``, ``groups_zeroed``, ``retained_reached``, ``pckh_before``,
        ``pckh_after``, ``table_after``, ``history``, ``train_seconds``, ``diverged``,
        ``checkpoint``.

    Raises:
        ValueError: at once, for ``retained`` outside (0, 1], epochs < 1, a learning rate
            <= 0 or an unknown baseline setting.
    """
    from pose_helpers.compress import regularizers
    from pose_helpers.train import loop as train

    retained = _check_keep(retained)
    epochs = check_count("epochs", epochs)
    lr = check_lr("lr", lr)
    settings = baseline_arguments(baseline)
    key = experiments.run_key(
        {
            "baseline": baseline_key(baseline),
            "retained": retained,
            "epochs": epochs,
            "lr": lr,
            "statistic": statistic,
            "seed": int(seed),
            **exclude_setting(exclude, retained),
        }
    )
    checkpoint = checkpoint_folder(checkpoint_dir) / f"group-magnitude-{key}.pt"
    net, _ = load_baseline(baseline, threads=threads, progress=progress)
    zeroed = prune_smallest_groups(net, retained, statistic, exclude)
    reached = float(regularizers.sparsity_report(net)["retained"])
    train_data, val_data = baseline_datasets(settings)
    _, before = train.evaluate(net, val_data, batch_size=EVAL_BATCH)
    config = dataclasses.replace(
        train_config(settings, epochs, lr, int(seed), threads), milestones=()
    )
    result = train.fit(
        net,
        train_data,
        val_data,
        config,
        checkpoint=checkpoint,
        after_step=regularizers.ZeroMask.capture(net),
        progress=progress,
    )
    return jsonable(
        {
            "key": key,
            "groups_zeroed": int(zeroed),
            "retained_reached": reached,
            "pckh_before": float(before["Mean"]),
            "pckh_after": float((result.table or nan_table()).get("Mean", math.nan)),
            "table_after": result.table or nan_table(),
            "history": result.history.to_dict("records"),
            "train_seconds": float(result.seconds),
            "diverged": bool(result.diverged),
            "checkpoint": checkpoint.name,
        }
    )


def group_magnitude_controls(
    targets: Mapping[str, tuple[float, int]],
    *,
    baseline: Mapping[str, Any],
    lr: float = 1e-4,
    statistic: str = "rms",
    exclude: Sequence[str] = (),
    seed: int = 0,
    threads: int | None = 1,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """:func:`group_magnitude_run` of every target, by label, each a stored run of
    :data:`GROUP_CONTROL_STUDY`.

    Args:
        targets: ``{label: (retained, epochs)}``: the retained fraction to prune to and the
            fine-tuning epochs (as long as the model it stands beside trained).
        exclude: layers the control never prunes (the heatmap layer, as a practitioner's
            pruner leaves it: its groups are the smallest, and pruning them blinds the
            network whatever else it keeps).
    """
    for retained, epochs in targets.values():
        _check_keep(retained)
        check_count("epochs", epochs)
    return {
        label: stored_run(
            group_magnitude_run,
            GROUP_CONTROL_STUDY,
            threads=threads,
            progress=progress,
            echo=("retained",),
            retained=float(retained),
            baseline=dict(baseline),
            epochs=int(epochs),
            lr=float(lr),
            statistic=statistic,
            seed=int(seed),
            **exclude_setting(exclude, retained),
        )
        for label, (retained, epochs) in targets.items()
    }


def magnitude_comparison(
    engineered: Mapping[str, Mapping[str, Any]], controls: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Each engineered model beside its group-magnitude control (the same labels): ``label``,
    ``lambda``, ``threshold``, ``retained`` and ``pckh`` (the method's model, cut and
    fine-tuned), ``control_retained``, ``control_pckh`` (pruned by group magnitude to the
    same fraction, fine-tuned as long), ``epochs`` and ``difference`` (method minus control,
    PCKh points)."""
    rows = []
    for label, record in engineered.items():
        control = controls[label]
        rows.append(
            {
                "label": label,
                "lambda": float(record["lam"]),
                "threshold": float(record["threshold"]),
                "retained": float(record["retained"]),
                "pckh": float(record["pckh_after"]),
                "control_retained": float(control["retained_reached"]),
                "control_pckh": float(control["pckh_after"]),
                "epochs": len(control["history"]),
                "difference": float(record["pckh_after"]) - float(control["pckh_after"]),
            }
        )
    return pd.DataFrame(rows)


def magnitude_note(table: pd.DataFrame, noise: float, method: str = "Algorithm 1") -> str:
    """Whether the method beat plain group-magnitude pruning (:func:`magnitude_comparison`),
    per model, judged against the PCKh ``noise`` (the baseline seeds' spread), in words."""
    words = {
        "holds": "beats",
        "does not hold": "does worse than",
        "inconclusive": "is within the noise of",
        "not tested": "cannot be told from",
    }
    lines = []
    for _, row in table.iterrows():
        verdict = margin_verdict(float(row["difference"]), noise)
        if min(row["retained"], row["control_retained"]) >= 1:
            lines.append(
                f"* *{row['label']}* (λ = {row['lambda']:g}, threshold {row['threshold']:g}): "
                f"neither prunes a weight, so both are fine-tunings of the baseline "
                f"({row['pckh']:.1f} % and {row['control_pckh']:.1f} %): no test of the claim."
            )
            continue
        lines.append(
            f"* *{row['label']}* (λ = {row['lambda']:g}, threshold {row['threshold']:g}): "
            f"{method}'s model keeps {row['retained']:.3f} of the parameters at "
            f"{row['pckh']:.1f} %; group magnitude to {row['control_retained']:.3f} with "
            f"{int(row['epochs'])} epochs of fine-tuning scores {row['control_pckh']:.1f} %: "
            f"{method} **{words[verdict]}** the control ({row['difference']:+.1f} points; seed "
            f"noise ±{noise:.1f})."
        )
    return "\n".join(lines)
