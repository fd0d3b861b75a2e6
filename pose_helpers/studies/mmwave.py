"""The mmWave component-size study: training runs, cost cards, tables, figures and findings.

The chapter calls:

- :func:`radar_run` (one configuration, data set and seed; a module-level function of
  plain arguments, so ``sweep.run_sweep(radar_run, sweep.grid(...))`` runs it in worker
  processes) and :func:`mean_pose_floor` (the error of always predicting the mean pose);
- :func:`cost_cards` (parameters, memory and batch-1 CPU latency of each configuration);
- :func:`study_table` (runs averaged over seeds, joined with the cost cards), then
  :func:`plot_latency_vs_mae`, :func:`plot_component_sweep`, :func:`plot_learning_curves`
  and :func:`findings` (the poster's two headline comparisons, measured).

Training (:func:`radar_run`): Adam (lr 1e-3, PyTorch's default betas for every model),
MSE on the 57 coordinates after **normalising the labels**: minus the training split's
mean pose (per coordinate), divided by one common scale (the standard deviation of all
centred coordinates), so the loss weighs x, y and z errors alike in metres. The model
holds the mean and scale as buffers and outputs metres (``models.mmwave``). Every frame
of the training split (or a fixed random subset of ``n_train`` frames, the same for every
seed and configuration) is a target, its window padded at the sequence start
(``mars.window_indices``). After each epoch the validation MAE (a fixed subset of
``n_valid`` frames) is recorded and a checkpoint is written atomically under
``paths.cache_dir('mmwave')``, named by a hash of the settings: an interrupted run
resumes, a finished run returns its record at once. A NaN or infinite loss stops the run
and marks it ``diverged`` (no exception, so a sweep goes on). The test split is scored
once, at the end. The simulated data set (:mod:`radarsim`) always uses data seed 0, so
seeds differ only in initialisation and batch order.

The default cell (GRU) and window (4 frames) are measured choices; the numbers are in
:mod:`pose_helpers.models.mmwave` and :func:`compare_cells` repeats the latency part.
Measured on the project's 2-core CPU with one thread (while another job ran): the
baseline's training epoch over the full MARS training split (14,365 windows of 4 frames,
batch 64, with the 1,000-frame validation) took 10-16 s; one epoch of all 13
configurations takes about 9.5 baseline epochs (``2000_feat`` 2.3, ``impr_small`` 0.2).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.core.paths import cache_dir, dataset_dir
from pose_helpers.models.mmwave import CONFIGS, DEFAULT_CELL, DEFAULT_WINDOW, FRAME_SHAPE

__all__ = [
    "CONFIG_NAMES",
    "DATASETS",
    "REFERENCE",
    "available_datasets",
    "compare_cells",
    "component_scale",
    "cost_card",
    "cost_cards",
    "findings",
    "load_dataset",
    "mean_pose_floor",
    "model_name",
    "plot_component_sweep",
    "plot_latency_vs_mae",
    "plot_learning_curves",
    "radar_run",
    "run_key",
    "study_table",
]

#: The poster's 13 configurations, in the poster's order.
CONFIG_NAMES = tuple(CONFIGS)
#: The MARS paper's single-frame CNN, a reference row.
REFERENCE = "mars_cnn"
#: MAE (cm) the MARS paper (An & Ogras 2021) reports for its CNN on the official features:
#: a labelled reference, quoted from the paper via the study's issue, not a result of ours.
MARS_PAPER_MAE_CM = 5.87
DATASETS = ("mars", "sim")
#: Bump when the data, the model code or the loop change what a cached run would contain.
STUDY_VERSION = 1
SIM_DATA_SEED = 0
_COMPONENTS = {"feat": "feature extractor", "rec": "recurrent layer", "head": "regression head"}


# --------------------------------------------------------------------------- names and data


def model_name(config: str) -> str:
    """Registry name of a configuration: ``'baseline'`` -> ``'mmwave_baseline'``.

    Raises:
        ValueError: for a name that is neither a configuration nor ``'mars_cnn'``.
    """
    short = config.removeprefix("mmwave_")
    if short not in CONFIGS and short != REFERENCE:
        raise ValueError(f"config={config!r}; expected one of {list(CONFIG_NAMES) + [REFERENCE]}")
    return f"mmwave_{short}"


def available_datasets(data_root: str | os.PathLike | None = None) -> list[str]:
    """``['mars', 'sim']`` where the real MARS data is present, else ``['sim']``."""
    folder = dataset_dir("mars", data_root)
    return ["mars", "sim"] if folder is not None and (folder / "feature").is_dir() else ["sim"]


@functools.lru_cache(maxsize=8)
def _cached_split(dataset: str, split: str, root: str | None) -> tuple[np.ndarray, ...]:
    # A sweep worker runs many points: load (or simulate) each split once per process.
    if dataset == "mars":
        from pose_helpers.data.mars import load_split

        features, labels, index = load_split(split, root)
    else:
        from pose_helpers.data.radarsim import simulate

        features, labels, index = simulate(split, seed=SIM_DATA_SEED)
    arrays = (features, labels, index[["subject", "movement", "frame"]].to_numpy())
    for array in arrays:
        array.setflags(write=False)  # shared by every caller of the cache
    return arrays


def load_dataset(
    dataset: str, split: str, data_root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """One split of ``'mars'`` (real data) or ``'sim'`` (:func:`radarsim.simulate`, seed 0).

    Returns read-only ``features``, ``labels`` and a fresh ``index`` DataFrame.

    Raises:
        ValueError: for an unknown data set or split.
        FileNotFoundError: for ``'mars'`` without the real data.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}; expected one of {DATASETS}")
    root = None if data_root in (None, "") else str(data_root)
    features, labels, index = _cached_split(dataset, split, root)
    return features, labels, pd.DataFrame(index, columns=["subject", "movement", "frame"])


def _subset(n: int, k: int | None, *, spread: bool = False) -> np.ndarray:
    """``k`` of ``n`` row numbers, the same for every run: random (seed 0) or evenly spread."""
    if k is None or k >= n:
        return np.arange(n)
    if k < 1:
        raise ValueError(f"subset size {k!r}; expected >= 1 or None")
    if spread:
        return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
    return np.sort(np.random.default_rng(0).choice(n, size=k, replace=False))


# --------------------------------------------------------------------------- training


def run_key(settings: dict[str, Any]) -> str:
    """A short hash of a run's settings (the checkpoint's name)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _predict(net: Any, features: Any, rows: Any, batch_size: int = 512) -> np.ndarray:
    """Predictions (metres) for the windows ``rows`` (row numbers into ``features``)."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            out.append(net(features[rows[start : start + batch_size]]))
    return torch.cat(out).numpy().astype(np.float64)


def _train_epoch(
    net: Any,
    optimizer: Any,
    features: Any,
    rows: Any,
    targets: Any,
    batch_size: int,
    generator: Any,
) -> float:
    """One pass over the training windows in a seeded order; the mean normalised MSE.

    Returns NaN as soon as a batch's loss is not finite (the caller marks divergence).
    """
    import torch

    net.train()
    order = torch.randperm(len(rows), generator=generator)
    scale = net.output_scale.label_scale
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        if len(batch) < 2:  # BatchNorm needs two samples
            continue
        pred = net(features[rows[batch]])
        loss = torch.nn.functional.mse_loss(pred / scale, targets[batch] / scale)
        if not torch.isfinite(loss):
            return math.nan
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
        count += len(batch)
    return total / max(count, 1)


def radar_run(
    config: str,
    dataset: str = "sim",
    seed: int = 0,
    window: int = DEFAULT_WINDOW,
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 1e-3,
    n_train: int | None = None,
    n_valid: int | None = 1000,
    n_test: int | None = None,
    data_root: str | os.PathLike | None = None,
    threads: int | None = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train one configuration on one data set and score it on the test split.

    Args:
        config: a configuration (``'baseline'``, ``'0125_feat'`` ... or ``'mars_cnn'``;
            the ``mmwave_`` prefix is optional).
        dataset: ``'mars'`` (real data; :func:`available_datasets`) or ``'sim'``.
        seed: initialisation and batch order.
        window: frames per input window ``T`` (the MARS CNN uses the last one only).
        epochs: passes over the training windows.
        batch_size: windows per optimizer step.
        lr: Adam's learning rate.
        n_train: training frames (a fixed random subset); ``None``: all.
        n_valid: validation frames scored after each epoch (evenly spread); ``None``: all.
        n_test: test frames scored at the end (evenly spread); ``None``: all (the book's
            setting; a subset only to make smoke runs fast).
        data_root: where the real data is (``None``: ``$POSE_HELPERS_DATA``, else
            ``../shared/data``); not part of the cache key.
        threads: torch CPU threads (restored afterwards); not part of the key.
        progress: a progress bar over the epochs.
        checkpoint_dir: default ``paths.cache_dir('mmwave')``.

    Returns:
        A JSON-able dict whose keys never repeat an argument's name (``run_sweep`` adds
        the grid's columns itself and refuses records that shadow them): ``key``,
        ``model``, ``params``, ``n_train_frames``, ``n_test_frames``, ``history`` (per
        epoch: ``epoch``, ``train_loss`` (normalised MSE), ``val_mae_cm``, ``seconds``), the
        test metrics of
        :func:`radar_metrics.summary` (``mae_cm``, ``mae_x`` ... ``per_joint_cm``; NaN
        when diverged), ``train_seconds``, ``epochs_run`` (this call), ``diverged`` and
        ``checkpoint``.

    Raises:
        ValueError: for unknown names or non-positive sizes.
        FileNotFoundError: for ``dataset='mars'`` without the real data.
    """
    import torch

    from pose_helpers.core.io import save_torch
    from pose_helpers.core.progress import progress_bar
    from pose_helpers.data.mars import window_indices
    from pose_helpers.metrics import radar as radar_metrics
    from pose_helpers.models.registry import create_model

    name = model_name(config)
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}; expected one of {DATASETS}")
    if epochs < 1 or batch_size < 2 or window < 1 or not lr > 0:
        raise ValueError(
            f"epochs={epochs}, batch_size={batch_size}, window={window}, lr={lr}; "
            "expected epochs >= 1, batch_size >= 2, window >= 1, lr > 0"
        )
    settings = {
        "model": name,
        "dataset": dataset,
        "seed": int(seed),
        "window": int(window),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "n_train": None if n_train is None else int(n_train),
        "n_valid": None if n_valid is None else int(n_valid),
        "n_test": None if n_test is None else int(n_test),
        "cell": DEFAULT_CELL,
        "version": STUDY_VERSION,
    }
    key = run_key(settings)
    folder = Path(checkpoint_dir) if checkpoint_dir else cache_dir("mmwave")
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / f"{name}-{dataset}-{key}.pt"
    saved = torch.load(checkpoint, weights_only=True) if checkpoint.is_file() else None
    if saved is not None and saved.get("record") is not None:
        return {**saved["record"], "epochs_run": 0, "checkpoint": str(checkpoint)}

    def split(name_: str, k: int | None, spread: bool) -> tuple[Any, Any, Any]:
        features, labels, index = load_dataset(dataset, name_, data_root)
        rows = window_indices(index, window)[_subset(len(labels), k, spread=spread)]
        x = torch.tensor(np.asarray(features, dtype=np.float32))
        return x, torch.as_tensor(rows), labels[rows[:, -1]]

    with _torch_threads(threads):
        x_train, rows_train, y_train = split("train", n_train, spread=False)
        x_val, rows_val, y_val = split("validate", n_valid, spread=True)
        torch.manual_seed(int(seed))
        net = create_model(name)
        centred = y_train - y_train.mean(axis=0)
        net.set_label_stats(y_train.mean(axis=0), float(centred.std()))
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        history: list[dict[str, Any]] = []
        diverged = False
        if saved is not None:
            net.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            history, diverged = list(saved["history"]), bool(saved["diverged"])
        targets = torch.as_tensor(y_train, dtype=torch.float32)
        start = len(history)
        bar = progress_bar(
            enabled=progress, total=epochs, initial=start, desc=f"{name} {dataset}", unit="epoch"
        )
        try:
            for epoch in range(start, epochs):
                if diverged:
                    break
                t0 = time.perf_counter()
                # The order of epoch e depends only on (seed, e): a resumed run repeats it.
                generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
                loss = _train_epoch(
                    net, optimizer, x_train, rows_train, targets, batch_size, generator
                )
                diverged = not math.isfinite(loss)
                val_mae = (
                    math.nan
                    if diverged
                    else radar_metrics.mae_cm(_predict(net, x_val, rows_val), y_val)["mean"]
                )
                history.append(
                    {
                        "epoch": epoch + 1,
                        "train_loss": loss,
                        "val_mae_cm": val_mae,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                state = {
                    "settings": settings,
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "history": history,
                    "diverged": diverged,
                    "record": None,
                }
                save_torch(state, checkpoint)
                bar.update()
        finally:
            bar.close()

        if diverged:
            nan = float("nan")
            metrics: dict[str, Any] = {
                k: nan
                for k in ("mae_cm mae_x mae_y mae_z rmse_cm rmse_x rmse_y rmse_z mpjpe_cm".split())
            }
            metrics["per_joint_cm"] = [nan] * 19
            n_test_frames = 0
        else:
            x_test, rows_test, y_test = split("test", n_test, spread=True)
            metrics = radar_metrics.summary(_predict(net, x_test, rows_test), y_test)
            n_test_frames = len(rows_test)
    record = {
        "key": key,
        "model": name,
        "params": int(sum(p.numel() for p in net.parameters())),
        "n_train_frames": len(rows_train),
        "n_test_frames": n_test_frames,
        "history": history,
        **metrics,
        "train_seconds": float(sum(row["seconds"] for row in history)),
        "diverged": diverged,
    }
    save_torch(
        {
            "settings": settings,
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "history": history,
            "diverged": diverged,
            "record": record,
        },
        checkpoint,
    )
    return {**record, "epochs_run": len(history) - start, "checkpoint": str(checkpoint)}


def mean_pose_floor(
    dataset: str = "sim",
    n_train: int | None = None,
    data_root: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Test metrics of predicting the training split's mean pose for every frame.

    The error a model must beat to have learnt anything from the radar; same keys as
    :func:`radar_metrics.summary`.
    """
    from pose_helpers.metrics import radar as radar_metrics

    _, labels, _ = load_dataset(dataset, "train", data_root)
    mean = labels[_subset(len(labels), n_train)].mean(axis=0)
    _, test_labels, _ = load_dataset(dataset, "test", data_root)
    return radar_metrics.summary(np.broadcast_to(mean, test_labels.shape), test_labels)


# --------------------------------------------------------------------------- costs


def _activation_bytes(model: Any, x: Any) -> tuple[int, int]:
    """(distinct tensors a forward creates, largest input + output of one layer), in bytes.

    Forward hooks on the leaf modules see each layer's inputs and outputs; a tensor is
    counted once however many layers see it (an in-place ReLU returns its input).
    """
    import torch

    seen: dict[int, int] = {x.data_ptr(): x.numel() * x.element_size()}
    # Hold every tensor until the end: a freed tensor's memory (and data_ptr) is reused by
    # the next one, which would merge distinct tensors and make the sum vary run to run.
    alive: list[torch.Tensor] = [x]
    peak = [0]

    def tensors(value: Any) -> list[torch.Tensor]:
        if isinstance(value, torch.Tensor):
            return [value]
        if isinstance(value, list | tuple):
            return [t for v in value for t in tensors(v)]
        return []

    def hook(module: Any, args: Any, output: Any) -> None:
        outs = tensors(output)
        alive.extend(outs)
        for t in outs:
            seen.setdefault(t.data_ptr(), t.numel() * t.element_size())
        layer = {t.data_ptr(): t.numel() * t.element_size() for t in tensors(args) + outs}
        peak[0] = max(peak[0], sum(layer.values()))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return sum(seen.values()), peak[0]


def cost_card(
    config: str,
    window: int = DEFAULT_WINDOW,
    repeats: int = 100,
    warmup: int = 10,
    threads: int | None = 1,
) -> dict[str, Any]:
    """Size, memory, MACs and batch-1 CPU latency of one configuration (eval mode).

    Returns:
        ``config``, ``params``, ``weights_mb`` (parameters at fp32, decimal MB),
        ``activation_mb`` (all distinct tensors a batch-1 forward creates, input included,
        fp32, from forward hooks on the leaf modules: the memory if nothing is freed),
        ``peak_layer_mb`` (the largest input + output of a single layer: what a
        layer-by-layer runtime holds at least), ``macs`` (``bench.macs``; it counts the
        GRU's matrix products, but not an LSTM's fused kernel), ``latency_ms`` (median),
        ``latency_p10_ms``, ``latency_p90_ms``, ``threads`` and ``window``.
    """
    import torch

    from pose_helpers.cost import bench
    from pose_helpers.models.registry import create_model

    name = model_name(config)
    torch.manual_seed(0)
    model = create_model(name).eval()
    shape = (window, *FRAME_SHAPE)
    params = bench.count_params(model)
    activation, peak = _activation_bytes(model, torch.randn(1, *shape).abs())
    timing = bench.latency(model, shape, threads=threads, warmup=warmup, repeats=repeats)
    return {
        "config": name.removeprefix("mmwave_"),
        "params": params,
        "weights_mb": params * 4 / 1e6,
        "activation_mb": activation / 1e6,
        "peak_layer_mb": peak / 1e6,
        "macs": bench.macs(model, shape),
        "latency_ms": timing.median_ms,
        "latency_p10_ms": timing.p10_ms,
        "latency_p90_ms": timing.p90_ms,
        "threads": timing.threads,
        "window": int(window),
    }


def cost_cards(
    configs: Sequence[str] = (*CONFIG_NAMES, REFERENCE),
    window: int = DEFAULT_WINDOW,
    repeats: int = 100,
    threads: int | None = 1,
) -> pd.DataFrame:
    """:func:`cost_card` of each configuration, one row each."""
    return pd.DataFrame(
        [cost_card(c, window=window, repeats=repeats, threads=threads) for c in configs]
    )


def compare_cells(
    windows: Sequence[int] = (1, 2, 4, 8),
    config: str = "baseline",
    repeats: int = 100,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Parameters and batch-1 latency of a configuration with a GRU and with an LSTM.

    The measurement behind the default cell (``models.mmwave.DEFAULT_CELL``).
    """
    import torch

    from pose_helpers.cost import bench
    from pose_helpers.models.registry import create_model

    rows = []
    for cell in ("gru", "lstm"):
        torch.manual_seed(0)
        model = create_model(model_name(config), cell=cell).eval()
        for window in windows:
            timing = bench.latency(model, (window, *FRAME_SHAPE), threads=threads, repeats=repeats)
            rows.append(
                {
                    "cell": cell,
                    "window": int(window),
                    "params": bench.count_params(model),
                    "latency_ms": timing.median_ms,
                    "latency_p10_ms": timing.p10_ms,
                    "latency_p90_ms": timing.p90_ms,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- tables


def component_scale(config: str) -> tuple[str, float]:
    """Which component a configuration scales, and by what: ``'0250_rec'`` -> ``('rec', 0.25)``.

    The baseline is ``('baseline', 1.0)``; ``impr_*`` are ``('improved', nan)`` and the
    MARS CNN ``('reference', nan)``. ``0250_feat`` counts as x0.25 by its name although
    its printed third layer (64) is unscaled.
    """
    short = model_name(config).removeprefix("mmwave_")
    if short == "baseline":
        return "baseline", 1.0
    if short == REFERENCE:
        return "reference", math.nan
    if short.startswith("impr_"):
        return "improved", math.nan
    factor, component = short.split("_")
    return component, int(factor) / 1000


def study_table(runs: pd.DataFrame, cards: pd.DataFrame) -> pd.DataFrame:
    """Runs averaged over seeds per (config, dataset), joined with the cost cards.

    Args:
        runs: :func:`sweep.run_sweep` of :func:`radar_run` (columns ``config``, ``dataset``,
            ``seed``, the metrics, ``diverged``, ``error``).
        cards: :func:`cost_cards`.

    Returns:
        One row per (config, dataset) in the poster's order: ``component``, ``scale``,
        ``mae_cm`` (mean over seeds), ``mae_sd_cm`` (between seeds), ``rmse_cm``,
        ``mpjpe_cm``, ``seeds`` (finished, not diverged), ``diverged`` (count), then the
        cost columns (``params``, ``weights_mb``, ``activation_mb``, ``latency_ms`` ...).
    """
    data = runs.copy()
    data["config"] = [model_name(c).removeprefix("mmwave_") for c in data["config"]]
    failed = data["error"].notna() if "error" in data else pd.Series(False, index=data.index)
    diverged = (
        data["diverged"].fillna(False).astype(bool)
        if "diverged" in data
        else pd.Series(False, index=data.index)
    )
    ok = data[~failed & ~diverged]
    grouped = ok.groupby(["config", "dataset"], sort=False)
    table = grouped.agg(
        mae_cm=("mae_cm", "mean"),
        mae_sd_cm=("mae_cm", "std"),
        rmse_cm=("rmse_cm", "mean"),
        mpjpe_cm=("mpjpe_cm", "mean"),
        seeds=("mae_cm", "size"),
    ).reset_index()
    counts = data[diverged].groupby(["config", "dataset"]).size().rename("diverged")
    # outer: a configuration whose every seed diverged keeps its row (with seeds = 0)
    table = table.merge(counts.reset_index(), on=["config", "dataset"], how="outer")
    table["seeds"] = table["seeds"].fillna(0).astype(int)
    table["diverged"] = table["diverged"].fillna(0).astype(int)
    cost = cards.drop(columns=[c for c in ("window", "threads") if c in cards])
    table = table.merge(cost, on="config", how="left")
    scales = [component_scale(c) for c in table["config"]]
    table.insert(2, "component", [s[0] for s in scales])
    table.insert(3, "scale", [s[1] for s in scales])
    order = {c: i for i, c in enumerate((*CONFIG_NAMES, REFERENCE))}
    table["_order"] = table["config"].map(order)
    return table.sort_values(["dataset", "_order"]).drop(columns="_order").reset_index(drop=True)


def findings(table: pd.DataFrame, seeds_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The poster's conclusions as measured numbers: impr_small and 0250_rec vs the baseline.

    Per data set: latency saving % = ``100 * (1 - latency / latency_baseline)``; accuracy
    cost % = ``100 * (mae / mae_baseline - 1)`` (relative MAE increase) and in cm. The
    poster's values (``seed_table('mmwave_findings')``: impr_small saves 85.9 % latency at
    4.8 % accuracy cost) sit beside them as ``paper_*`` columns (NaN where none is printed).
    """
    from pose_helpers.chapters.references import seed_table

    paper = seed_table("mmwave_findings", seeds_dir)
    printed = {
        (row.model, row.metric): float(row.value_pct) for row in paper.itertuples(index=False)
    }
    rows = []
    for dataset, part in table.groupby("dataset", sort=False):
        by_config = part.set_index("config")
        if "baseline" not in by_config.index:
            continue
        base = by_config.loc["baseline"]
        for config in ("impr_small", "0250_rec"):
            if config not in by_config.index:
                continue
            row = by_config.loc[config]
            rows.append(
                {
                    "dataset": dataset,
                    "config": config,
                    "latency_ms": row["latency_ms"],
                    "baseline_latency_ms": base["latency_ms"],
                    "latency_saving_pct": 100 * (1 - row["latency_ms"] / base["latency_ms"]),
                    "paper_latency_saving_pct": printed.get((config, "latency"), math.nan),
                    "mae_cm": row["mae_cm"],
                    "baseline_mae_cm": base["mae_cm"],
                    "accuracy_cost_pct": 100 * (row["mae_cm"] / base["mae_cm"] - 1),
                    "accuracy_cost_cm": row["mae_cm"] - base["mae_cm"],
                    "paper_accuracy_cost_pct": printed.get((config, "accuracy"), math.nan),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- figures


def _datasets(table: pd.DataFrame, dataset: str | None) -> list[str]:
    names = list(dict.fromkeys(table["dataset"])) if dataset is None else [dataset]
    if not names or any(n not in set(table["dataset"]) for n in names):
        raise ValueError(f"dataset={dataset!r}; the table holds {sorted(set(table['dataset']))}")
    return names


def plot_latency_vs_mae(table: pd.DataFrame, dataset: str | None = None):
    """Batch-1 CPU latency against test MAE, one labelled point per configuration.

    One panel per data set (or only ``dataset``); colour = the component scaled.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = _datasets(table, dataset)
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 4.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        part = table[table["dataset"] == name]
        sns.scatterplot(data=part, x="latency_ms", y="mae_cm", hue="component", s=60, ax=ax)
        for row in part.itertuples(index=False):
            ax.annotate(
                row.config,
                (row.latency_ms, row.mae_cm),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=8,
            )
        ax.set(
            xlabel="latency, batch 1, 1 CPU thread (ms)",
            ylabel="test MAE (cm)",
            title=f"{name}: faster is left, more accurate is down",
        )
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_component_sweep(table: pd.DataFrame, dataset: str | None = None):
    """Latency and MAE against each component's scale factor (x0.125, x0.25, x1, x2).

    Each component's line runs through the baseline at x1. One row of two panels
    (latency, MAE) per data set.
    """
    import matplotlib.pyplot as plt

    names = _datasets(table, dataset)
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.8 * len(names)), squeeze=False)
    for (ax_lat, ax_mae), name in zip(axes, names, strict=True):
        part = table[table["dataset"] == name]
        base = part[part["component"] == "baseline"]
        for component, label in _COMPONENTS.items():
            line = pd.concat([part[part["component"] == component], base]).sort_values("scale")
            for ax, column in ((ax_lat, "latency_ms"), (ax_mae, "mae_cm")):
                ax.plot(line["scale"], line[column], marker="o", label=label)
        for ax, ylabel in ((ax_lat, "latency (ms)"), (ax_mae, "test MAE (cm)")):
            ax.set_xscale("log", base=2)
            ax.set_xticks([0.125, 0.25, 1, 2], ["x0.125", "x0.25", "x1", "x2"])
            ax.set_xlim(0.1, 2.5)  # the same four sizes on every panel
            ax.set(xlabel="component size (x baseline)", ylabel=ylabel, title=name)
        if "mae_sd_cm" in part:
            ax_mae.errorbar(
                base["scale"],
                base["mae_cm"],
                yerr=base["mae_sd_cm"],
                color="black",
                capsize=3,
                fmt="none",
            )
        ax_lat.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_learning_curves(runs: pd.DataFrame, dataset: str, seed: int = 0):
    """Validation MAE per epoch of each configuration's run on ``dataset`` with ``seed``."""
    import matplotlib.pyplot as plt

    part = runs[(runs["dataset"] == dataset) & (runs["seed"] == seed) & runs["history"].notna()]
    if part.empty:
        raise ValueError(f"no runs with dataset={dataset!r} and seed={seed!r}")
    fig, ax = plt.subplots(figsize=(7, 4))
    for row in part.itertuples(index=False):
        history = pd.DataFrame(row.history)
        ax.plot(history["epoch"], history["val_mae_cm"], marker=".", label=row.config)
    ax.set(xlabel="epoch", ylabel="validation MAE (cm)", title=f"{dataset}, seed {seed}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


#: Bones of the 19-joint Kinect skeleton (pairs of :data:`mars.JOINTS` names), for figures.
BONES = (
    ("SpineBase", "SpineMid"),
    ("SpineMid", "SpineShoulder"),
    ("SpineShoulder", "Neck"),
    ("Neck", "Head"),
    ("SpineShoulder", "ShoulderLeft"),
    ("ShoulderLeft", "ElbowLeft"),
    ("ElbowLeft", "WristLeft"),
    ("SpineShoulder", "ShoulderRight"),
    ("ShoulderRight", "ElbowRight"),
    ("ElbowRight", "WristRight"),
    ("SpineBase", "HipLeft"),
    ("HipLeft", "KneeLeft"),
    ("KneeLeft", "AnkleLeft"),
    ("AnkleLeft", "FootLeft"),
    ("SpineBase", "HipRight"),
    ("HipRight", "KneeRight"),
    ("KneeRight", "AnkleRight"),
    ("AnkleRight", "FootRight"),
)


def points_per_frame(features: np.ndarray) -> np.ndarray:
    """Radar points in each frame of ``(N, 8, 8, 5)`` features (zero-padded slots excluded)."""
    points = np.asarray(features).reshape(len(features), -1, 5)
    return (np.abs(points).sum(axis=2) > 0).sum(axis=1)


def plot_frames(datasets: Sequence[str], data_root: Any = None, n: int = 3, seed: int = 0):
    """Radar points (front view, colour = Doppler) over the Kinect skeleton for ``n`` test
    frames of each data set, and the distribution of points per frame.

    Frames are drawn at random (seeded) from the test split.
    """
    import matplotlib.pyplot as plt

    from pose_helpers.data.mars import JOINTS

    joint = {name: i for i, name in enumerate(JOINTS)}
    fig, axes = plt.subplots(
        len(datasets), n + 1, figsize=(3.0 * (n + 1), 3.4 * len(datasets)), squeeze=False
    )
    rng = np.random.default_rng(seed)
    for row, name in zip(axes, datasets, strict=True):
        features, labels, _ = load_dataset(name, "test", data_root)
        counts = points_per_frame(features)
        frames = rng.choice(np.flatnonzero(counts > 0), n, replace=False)
        for ax, i in zip(row[:n], frames, strict=True):
            pose = np.asarray(labels[i]).reshape(3, 19)  # x, y, z rows
            for a, b in BONES:
                ax.plot(pose[0, [joint[a], joint[b]]], pose[2, [joint[a], joint[b]]], "k-", lw=1.5)
            pts = np.asarray(features[i]).reshape(-1, 5)
            pts = pts[np.abs(pts).sum(axis=1) > 0]
            sc = ax.scatter(
                pts[:, 0], pts[:, 2], c=pts[:, 3], cmap="coolwarm", s=14, vmin=-1, vmax=1
            )
            # Frame the body: stray clutter points would otherwise shrink it to a dot.
            (x0, z0), (x1, z1) = pose[[0, 2]].min(axis=1) - 0.4, pose[[0, 2]].max(axis=1) + 0.4
            ax.set(
                title=f"{name} test frame {i} ({len(pts)} points)",
                xlabel="x (m)",
                xlim=(x0, x1),
                ylim=(z0, z1),
                aspect="equal",
            )
            ax.title.set_fontsize(8)
        row[0].set_ylabel("z (m)")
        row[n].hist(counts, bins=np.arange(0, 66, 2), color="C0")
        row[n].set(title=f"{name}: points per frame", xlabel="points", ylabel="frames")
        row[n].title.set_fontsize(8)
        fig.colorbar(sc, ax=row[n - 1], label="Doppler (m/s)", fraction=0.046)
    fig.tight_layout()
    return fig


def component_effects(table: pd.DataFrame) -> pd.DataFrame:
    """Per data set and component: the range of latency and MAE over its scales (x0.125-x2).

    Each component's configurations are taken together with the baseline (its x1 point).
    ``mae_range_cm`` beside ``seed_sd_cm`` (the mean between-seed standard deviation of
    those configurations) tells a real effect from noise.
    """
    rows = []
    for dataset, part in table.groupby("dataset", sort=False):
        base = part[part["component"] == "baseline"]
        for component, label in _COMPONENTS.items():
            group = pd.concat([base, part[part["component"] == component]])
            if len(group) < 2:
                continue
            rows.append(
                {
                    "dataset": dataset,
                    "component": label,
                    "latency_min_ms": group["latency_ms"].min(),
                    "latency_max_ms": group["latency_ms"].max(),
                    "latency_range_ms": group["latency_ms"].max() - group["latency_ms"].min(),
                    "mae_min_cm": group["mae_cm"].min(),
                    "mae_max_cm": group["mae_cm"].max(),
                    "mae_range_cm": group["mae_cm"].max() - group["mae_cm"].min(),
                    "seed_sd_cm": group["mae_sd_cm"].mean(),
                }
            )
    return pd.DataFrame(rows)


def discussion(table: pd.DataFrame, floors: dict[str, dict[str, float]]) -> str:
    """The poster's findings, each as a measured statement (Markdown), from the study table."""
    lines = []
    effects = component_effects(table)
    for dataset, part in effects.groupby("dataset", sort=False):
        by = part.set_index("component")
        slowest = by["latency_range_ms"].idxmax()
        widest = by["mae_range_cm"].idxmax()
        detail = "; ".join(
            f"{c}: latency {r.latency_min_ms:.3f}-{r.latency_max_ms:.3f} ms, "
            f"MAE {r.mae_min_cm:.2f}-{r.mae_max_cm:.2f} cm (seeds' sd {r.seed_sd_cm:.2f} cm)"
            for c, r in by.iterrows()
        )
        lines.append(
            f"- **`{dataset}`**: scaling the {slowest} moves latency the most and scaling the "
            f"{widest} moves the error the most ({detail}); the mean-pose floor is "
            f"{floors[dataset]['mae_cm']:.2f} cm."
        )
        for component in ("recurrent layer", "regression head"):
            if component in by.index:
                r = by.loc[component]
                real = r.mae_range_cm > 2 * r.seed_sd_cm
                lines.append(
                    f"  The {component}'s effect on the error ({r.mae_range_cm:.2f} cm across its "
                    f"sizes) is {'larger' if real else 'not larger'} than twice the seeds' spread."
                )
    found = findings(table)
    for row in found.itertuples(index=False):
        paper = (
            f" (poster: {row.paper_latency_saving_pct:.1f} % and {row.paper_accuracy_cost_pct:.1f} %)"
            if not math.isnan(row.paper_latency_saving_pct)
            else " (the poster prints no number for it)"
        )
        lines.append(
            f"- **`{row.config}` on `{row.dataset}`** saves {row.latency_saving_pct:.1f} % of the "
            f"baseline's latency at {row.accuracy_cost_pct:+.1f} % MAE "
            f"({row.accuracy_cost_cm:+.2f} cm){paper}."
        )
    reference = table[table["config"] == REFERENCE]
    if len(reference):
        lines.append(
            "- **The MARS paper's CNN** (single frames, no recurrence) reaches "
            + " and ".join(
                f"{row.mae_cm:.2f} cm MAE on `{row.dataset}`"
                for row in reference.itertuples(index=False)
            )
            + f"; the MARS paper reports {MARS_PAPER_MAE_CM:.2f} cm on its official features, "
            "which were not available here (our rebuilt MARS features are harder, see the "
            "data README)."
        )
    return "\n".join(lines)
