"""The deconvolution head (seed 002, "Rethinking the deconvolution head"): what Simple
Baselines' head costs at full scale, and what a cheaper head costs in accuracy.

A design is ``(deconv_channels, num_deconv)`` at full scale (256 channels, three
deconvolutions: the thesis's model). Cost is counted and timed on the full-scale network
(:func:`head_costs`). Accuracy comes from the CPU-scale baseline of the compression chapters
**re-headed** (:func:`reheaded_run`): the trained backbone is kept, the head is built anew
with the design's channels scaled as the baseline's head is scaled (64 of 256 at width 16),
and the whole network is trained for a few epochs with the baseline's recipe. The baseline's
own design re-headed the same way is the control: every design gets the same budget, so the
differences are the head's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pose_helpers.core.paths import cache_dir
from pose_helpers.core.store import jsonable
from pose_helpers.core.sweep import run_sweep
from pose_helpers.studies.compression.baseline import load_baseline
from pose_helpers.studies.compression.common import (
    EVAL_BATCH,
    FULL_SCALE_MODEL,
    baseline_arguments,
    baseline_datasets,
    baseline_key,
    check_count,
    check_lr,
    train_config,
)
from pose_helpers.studies.deployment.decoding import heatmap_pckh, validation_heatmaps
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1

__all__ = [
    "FULL_HEAD_CHANNELS",
    "HEAD_STUDY",
    "check_designs",
    "cpu_channels",
    "design_label",
    "head_costs",
    "head_table",
    "heads_note",
    "reheaded_run",
    "reheaded_runs",
]

#: The run store's study of the re-headed CPU-scale models.
HEAD_STUDY = "deployment_heads"
#: Deconvolution channels of the full-scale head (Simple Baselines, the thesis).
FULL_HEAD_CHANNELS = 256
# The head's modules: everything else of a Simple Baselines network is the backbone.
_HEAD_PREFIXES = ("deconv_layers.", "final_layer.")


def check_designs(designs: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """``designs`` as ``[(deconv_channels, num_deconv), ...]`` at full scale.

    Raises:
        ValueError: for no design, a pair that is not two ints, fewer than one channel or a
            number of deconvolutions outside 1-3, or a repeated design.
    """
    out = []
    for design in designs:
        if len(design) != 2:
            raise ValueError(f"design {design!r}: expected [deconv_channels, num_deconv]")
        channels, num = (int(v) for v in design)
        if channels < 1 or num not in (1, 2, 3):
            raise ValueError(
                f"design {design!r}: expected deconv_channels >= 1 and num_deconv in 1-3"
            )
        out.append((channels, num))
    if not out:
        raise ValueError("designs is empty; expected at least one [deconv_channels, num_deconv]")
    if len(set(out)) != len(out):
        raise ValueError(f"designs {designs!r} repeat a design")
    return out


def design_label(channels: int, num_deconv: int) -> str:
    """A design's name: ``'256 × 3'`` (full-scale channels × deconvolutions)."""
    return f"{channels} × {num_deconv}"


def cpu_channels(channels: int, baseline: Mapping[str, Any]) -> int:
    """The CPU-scale channels of a full-scale design: scaled as the baseline's head is
    (its ``deconv_channels`` over :data:`FULL_HEAD_CHANNELS`), at least one."""
    ours = baseline_arguments(baseline)["model_kwargs"]["deconv_channels"]
    return max(1, round(channels * ours / FULL_HEAD_CHANNELS))


def _bare(net: Any) -> Any:
    """The Simple Baselines network inside a head design (an ``Upsampled`` wraps it)."""
    return getattr(net, "model", net)


def reheaded_run(
    deconv_channels: int,
    num_deconv: int,
    *,
    baseline: Mapping[str, Any],
    epochs: int,
    lr: float,
    seed: int = 0,
    threads: int | None = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The trained CPU-scale baseline with a new head of ``num_deconv`` deconvolutions of
    ``deconv_channels`` channels (CPU-scale channels), trained for ``epochs`` with the
    baseline's optimizer, batch size and milestones at learning rate ``lr``.

    The backbone's weights are the trained baseline's; the head starts as a new model's
    (the heatmap layer at zero, as the baseline's did). The whole network trains.

    Returns:
        A JSON-able dict: ``key``, ``params``, ``pckh`` (mean PCKh@0.5 on the validation
        renders, the quarter-pixel decoder), ``pckh_dark`` (the same heatmaps by DARK), ``table``, ``history``, ``train_seconds``, ``diverged``, ``checkpoint``.

    Raises:
        ValueError: at once, for a bad design, epochs < 1, a learning rate <= 0 or an
            unknown baseline setting; or when the backbone's weights do not fit.
    """
    from pose_helpers.core.repro import seed_everything
    from pose_helpers.cost import bench
    from pose_helpers.models.heads import head_design
    from pose_helpers.train import loop as train

    check_designs([(deconv_channels, num_deconv)])
    epochs = check_count("epochs", epochs)
    lr = check_lr("lr", lr)
    settings = baseline_arguments(baseline)
    key = experiments.run_key(
        {
            "baseline": baseline_key(baseline),
            "deconv_channels": int(deconv_channels),
            "num_deconv": int(num_deconv),
            "epochs": epochs,
            "lr": lr,
            "seed": int(seed),
        }
    )
    folder = cache_dir("deployment") if checkpoint_dir is None else checkpoint_dir
    checkpoint = os.path.join(folder, f"reheaded-{key}.pt")
    trained, _ = load_baseline(baseline, threads=threads, progress=progress)
    seed_everything(int(seed), threads)
    kwargs = {k: v for k, v in (settings["model_kwargs"] or {}).items() if k != "deconv_channels"}
    net = head_design(int(deconv_channels), int(num_deconv), model=settings["model"], **kwargs)
    backbone = {k: v for k, v in trained.state_dict().items() if not k.startswith(_HEAD_PREFIXES)}
    missing, unexpected = _bare(net).load_state_dict(backbone, strict=False)
    if unexpected or any(not k.startswith(_HEAD_PREFIXES) for k in missing):
        raise ValueError(
            f"the baseline's backbone does not fit the design: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    train_data, val_data = baseline_datasets(settings)
    config = train_config(settings, epochs, lr, int(seed), threads)
    result = train.fit(net, train_data, val_data, config, checkpoint=checkpoint, progress=progress)
    if result.table is None:  # no evaluation happened (a diverged first epoch)
        _, table = train.evaluate(net, val_data, batch_size=EVAL_BATCH)
    else:
        table = result.table
    # The same heatmaps decoded by DARK as well (the training loop's decoder is the
    # quarter-pixel shift): the decoder's effect on each design, with no second training.
    outputs = validation_heatmaps(net, val_data, batch_size=EVAL_BATCH, threads=threads)
    dark = heatmap_pckh(outputs, "dark", sigma=settings["sigma"])
    return jsonable(
        {
            "key": key,
            "params": bench.count_params(net),
            "pckh": float(table.get("Mean", math.nan)),
            "pckh_dark": float(dark),
            "table": table,
            "history": result.history.to_dict("records"),
            "train_seconds": float(result.seconds),
            "diverged": bool(result.diverged),
            "checkpoint": os.path.basename(checkpoint),
        }
    )


def reheaded_runs(
    designs: Sequence[Sequence[int]],
    *,
    baseline: Mapping[str, Any],
    epochs: int,
    lr: float,
    seed: int = 0,
    workers: int = 2,
) -> pd.DataFrame:
    """:func:`reheaded_run` of every full-scale design (its channels scaled by
    :func:`cpu_channels`), in ``workers`` processes, one stored record per design of
    :data:`HEAD_STUDY`.

    Returns:
        One row per design: ``design``, ``deconv_channels`` (full scale), ``num_deconv``,
        ``cpu_channels`` and the run's ``params_cpu``, ``pckh``, ``pckh_dark``, ``epochs``,
        ``train_seconds``, ``diverged``.
    """
    pairs = check_designs(designs)
    epochs = check_count("epochs", epochs)
    lr = check_lr("lr", lr)
    points = [
        {
            "deconv_channels": cpu_channels(c, baseline),
            "num_deconv": n,
            "baseline": dict(baseline),
            "epochs": epochs,
            "lr": lr,
            "seed": int(seed),
        }
        for c, n in pairs
    ]
    runs = run_sweep(
        reheaded_run,
        points,
        name=HEAD_STUDY,
        workers=min(workers, len(points)),
        raise_errors=True,
        progress=False,
        # one process per run; fewer runs than workers share out the threads
        execution={"threads": max(1, workers // len(points)), "progress": False},
    )
    return pd.DataFrame(
        {
            "design": [design_label(c, n) for c, n in pairs],
            "deconv_channels": [c for c, _ in pairs],
            "num_deconv": [n for _, n in pairs],
            "cpu_channels": [p["deconv_channels"] for p in points],
            "params_cpu": runs["params"].astype(int).to_numpy(),
            "pckh": runs["pckh"].astype(float).to_numpy(),
            "pckh_dark": runs["pckh_dark"].astype(float).to_numpy(),
            "epochs": epochs,
            "train_seconds": runs["train_seconds"].astype(float).to_numpy(),
            "diverged": runs["diverged"].astype(bool).to_numpy(),
        }
    )


def head_costs(
    designs: Sequence[Sequence[int]],
    *,
    input_size: int = 256,
    threads: int = 1,
    repeats: int = 10,
    rounds: int = 3,
    model: str = FULL_SCALE_MODEL,
    model_kwargs: Mapping[str, Any] | None = None,
    folder: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Each design at full scale: ``params``, ``macs``, the head's ``head_params_share``
    and ``head_macs_share``, and batch-1 latency in ONNX Runtime fp32 on ``threads``
    threads (``latency_ms``, ``latency_p10_ms``, ``latency_p90_ms``: the median and
    spread over ``rounds`` interleaved rounds of ``repeats`` runs).

    Raises:
        ValueError: for bad designs or a failed export check.
    """
    import torch

    from pose_helpers.cost import bench, deploy
    from pose_helpers.models.heads import head_design, head_share
    from pose_helpers.studies.deployment.formats import interleaved_ort, work_folder

    pairs = check_designs(designs)
    shape = (3, int(input_size), int(input_size))
    rows, files = [], {}
    with work_folder(folder) as work:
        for c, n in pairs:
            torch.manual_seed(0)
            kwargs = {k: v for k, v in (model_kwargs or {}).items() if k != "deconv_channels"}
            net = head_design(c, n, model=model, **kwargs).eval()
            share = head_share(net, shape)
            label = design_label(c, n)
            files[label] = deploy.export_onnx(net, work / f"head-{c}-{n}.onnx", shape)
            rows.append(
                {
                    "design": label,
                    "deconv_channels": c,
                    "num_deconv": n,
                    "params": bench.count_params(net),
                    "macs": bench.macs(net, shape),
                    "head_params_share": share["params_share"],
                    "head_macs_share": share["macs_share"],
                }
            )
        timings = interleaved_ort(files, shape, threads=threads, repeats=repeats, rounds=rounds)
    table = pd.DataFrame(rows)
    for column, field in (
        ("latency_ms", "median_ms"),
        ("latency_p10_ms", "p10_ms"),
        ("latency_p90_ms", "p90_ms"),
    ):
        table[column] = [getattr(timings[d], field) for d in table["design"]]
    return table


def head_table(costs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``deconv_head.csv``: each design's full-scale cost beside its CPU-scale accuracy,
    with ``pckh_change`` against the baseline's design (256 × 3) re-headed the same way.

    Columns: ``design``, ``deconv_channels``, ``num_deconv``, ``params``, ``macs``,
    ``head_params_share``, ``head_macs_share``, ``latency_ms`` (+ p10/p90), ``speedup``
    (the 256 × 3 design's latency over this one's), ``cpu_channels``, ``pckh``,
    ``pckh_change``, ``epochs``.
    """
    table = costs.merge(
        runs.drop(columns=["deconv_channels", "num_deconv"]), on="design", validate="1:1"
    )
    reference = table[(table["deconv_channels"] == FULL_HEAD_CHANNELS) & (table["num_deconv"] == 3)]
    if reference.empty:
        table["speedup"] = math.nan
        table["pckh_change"] = math.nan
    else:
        ref = reference.iloc[0]
        table["speedup"] = ref["latency_ms"] / table["latency_ms"]
        table["pckh_change"] = table["pckh"] - ref["pckh"]
    return table


def heads_note(table: pd.DataFrame, noise: float) -> str:
    """What the head costs at full scale and what the cheaper heads lose, against ``noise``
    (the baseline's seed spread in PCKh points), computed from :func:`head_table`."""
    ref = table[(table["deconv_channels"] == FULL_HEAD_CHANNELS) & (table["num_deconv"] == 3)]
    if ref.empty:
        return "The 256 × 3 design (the thesis's head) is not among the designs: no reference."
    ref = ref.iloc[0]
    parts = [
        f"At full scale the thesis's head holds {100 * ref['head_params_share']:.0f} % of the "
        f"parameters and {100 * ref['head_macs_share']:.0f} % of the multiply-accumulates."
    ]
    others = table[table["design"] != ref["design"]]
    if math.isfinite(noise):
        same = others[others["pckh_change"] >= -noise]
        if len(same):
            best = same.sort_values("latency_ms").iloc[0]
            parts.append(
                f"The fastest design within the seed noise (±{noise:.2f} points) of the "
                f"re-headed control is **{best['design']}**: {best['speedup']:.2f}× its speed "
                f"at {best['pckh_change']:+.2f} points."
            )
        lost = others[others["pckh_change"] < -noise]
        if len(lost):
            parts.append(
                "Beyond the noise: "
                + ", ".join(
                    f"{r['design']} ({r['pckh_change']:+.2f} points, {r['speedup']:.2f}×)"
                    for _, r in lost.iterrows()
                )
                + "."
            )
    return " ".join(parts)
