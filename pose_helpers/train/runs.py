"""One training run on SynthPose as a plain function: the unit the chapters sweep over.

``synthpose_run(...)`` builds the data and the model, trains with :func:`train.fit` into a
checkpoint keyed by every setting (so a re-run resumes, a finished run returns at once,
and a damaged checkpoint is moved aside and the run trained again), scores the validation
set, and returns a JSON-able record. Being a module-level function of plain arguments, it
runs in :func:`sweep.run_sweep`'s worker processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from pose_helpers.core.io import need_checkpoint
from pose_helpers.core.paths import cache_dir
from pose_helpers.core.store import RunStore

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1


#: Where SynthPose runs keep their checkpoints (the cache); results are stored by the caller.
STORE = RunStore("synthpose", STUDY_VERSION)


def run_key(settings: dict[str, Any]) -> str:
    """The key of a SynthPose run: the run store's key of study ``synthpose`` (its checkpoint
    is ``.cache/checkpoints/synthpose/<key>.pt``)."""
    return STORE.key(settings)


def run_settings(**kwargs: Any) -> dict[str, Any]:
    """The settings that key a run: all but execution details (progress bars, worker and
    thread counts), which do not change the result."""
    return {k: v for k, v in kwargs.items() if k not in ("progress", "num_workers", "threads")}


def synthpose_run(
    model: str,
    *,
    model_kwargs: dict[str, Any] | None = None,
    input_size: int = 64,
    sigma: float = 2.0,
    difficulty: str = "medium",
    n_train: int = 10000,
    n_valid: int = 1000,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    optimizer: str = "adam",
    milestones: tuple[float, ...] | list[float] = (),
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int = 1,
    num_workers: int = 0,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    cache_renders: bool = False,
) -> dict[str, Any]:
    """Train ``create_model(model, **model_kwargs)`` on SynthPose and score it.

    Training images are SynthPose ``train`` renders (seeded by ``seed``); validation is
    the first ``n_valid`` persons of MPII's validation set rendered with a fixed seed, the
    same for every run, so runs differ only by what they are meant to.

    ``cache_renders=True`` renders both sets once to disk (:func:`synthpose.render_set`)
    and serves them from memory: the items are identical, so it is not part of the key;
    parallel runs then spend their cores on training instead of re-rendering each epoch.

    Returns:
        A JSON-able dict: ``key``, ``source`` (``mpii`` or ``procedural`` poses), ``params``,
        ``history`` (list of per-epoch dicts), ``pckh`` (per joint), ``table`` (Head ... Mean),
        ``swaps`` (left/right swap rate of limb joints), ``diverged``, ``seconds``,
        ``checkpoint``.
    """
    from pose_helpers import metrics
    from pose_helpers.core.repro import seed_everything
    from pose_helpers.cost import bench
    from pose_helpers.data.synthpose import SynthPose
    from pose_helpers.models.registry import create_model
    from pose_helpers.train import loop as train

    settings = run_settings(
        model=model,
        model_kwargs=dict(model_kwargs or {}),
        input_size=input_size,
        sigma=sigma,
        difficulty=difficulty,
        n_train=n_train,
        n_valid=n_valid,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        milestones=list(milestones),
        seed=seed,
    )
    key = run_key(settings)
    checkpoint = (
        Path(checkpoint_dir) / f"{key}.pt" if checkpoint_dir else STORE.checkpoint(settings)
    )

    # Validation renders use a fixed seed: every run is scored on the same images.
    rendering = dict(
        input_size=input_size,
        sigma=sigma,
        difficulty=difficulty,
        data_root=data_root,
        cache=cache_renders,
    )
    train_data = SynthPose("train", n=n_train, seed=seed, **rendering)
    val_data = SynthPose("valid", n=n_valid, seed=0, **rendering)
    # Seed the initialization: without it, a run's weights would depend on whatever this
    # process drew before (a sweep worker's earlier points), not on ``seed`` alone.
    seed_everything(seed, threads)
    net = create_model(model, **(model_kwargs or {}))
    config = train.TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        milestones=tuple(milestones),
        seed=seed,
        threads=threads,
        num_workers=num_workers,
    )
    result = train.fit(net, train_data, val_data, config, checkpoint=checkpoint, progress=progress)
    out = train.predict(net, val_data, batch_size=64)
    swaps = metrics.left_right_swaps(out["pred"], out["gt"], out["head_size"], out["visible"])
    per_joint = result.pckh if result.pckh is not None else np.full(16, np.nan)
    return {
        "key": key,
        "source": train_data.source,
        "params": bench.count_params(net),
        "history": result.history.to_dict("records"),
        "pckh": [float(v) for v in per_joint],
        "table": result.table,
        "swaps": float(swaps),
        "diverged": bool(result.diverged),
        "seconds": float(result.seconds),
        # relative to the cache: a stored record must not hold this machine's paths
        "checkpoint": _relative_to_cache(checkpoint),
    }


def _relative_to_cache(path: Path) -> str:
    try:
        return path.resolve().relative_to(cache_dir().resolve()).as_posix()
    except ValueError:
        return str(path)


def checkpoint_path(record: dict[str, Any]) -> Path:
    """The checkpoint file of a :func:`synthpose_run` record (paths are kept relative to the
    cache, so a record committed on one machine points into another machine's cache)."""
    return cache_dir() / record["checkpoint"]


def load_run_model(record: dict[str, Any], model: str, model_kwargs: dict[str, Any] | None = None):
    """The trained model of a :func:`synthpose_run` record, in eval mode.

    Raises:
        FileNotFoundError: naming the checkpoint, where it is missing or does not load (it
            is then moved aside): ``synthpose_run`` with the same settings trains it again.
    """
    from pose_helpers.models.registry import create_model

    net = create_model(model, **(model_kwargs or {}))
    state = need_checkpoint(
        checkpoint_path(record),
        f"call synthpose_run with the settings of run {record['key']} to train its weights",
    )
    net.load_state_dict(state["model"])
    return net.eval()


def plot_learning_curve(run: dict[str, Any]):
    """Training loss and validation mean PCKh per epoch of a :func:`synthpose_run` record."""
    import matplotlib.pyplot as plt
    import pandas as pd

    history = pd.DataFrame(run["history"])
    fig, (ax_loss, ax_pckh) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_loss.plot(history["epoch"], history["train_loss"], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss (heatmap MSE)", yscale="log", title="loss")
    ax_pckh.plot(history["epoch"], history["val_pckh_mean"], marker="o", color="C1")
    ax_pckh.axhline(50, color="grey", linestyle=":", label="50 %")
    ax_pckh.set(xlabel="epoch", ylabel="mean PCKh@0.5 (%)", ylim=(0, 100), title="validation")
    ax_pckh.legend(loc="lower right")
    fig.tight_layout()
    return fig


def run_table(run: dict[str, Any]):
    """The PCKh table (Head ... Mean) and the left/right swap rate of a run, as one row."""
    import pandas as pd

    row = {
        k: run["table"][k]
        for k in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean")
    }
    row["L/R swaps (%)"] = 100 * run["swaps"]
    return pd.DataFrame([row])
