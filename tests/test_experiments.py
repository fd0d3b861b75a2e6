"""One SynthPose training run as a function: cached by its settings, resumable, JSON-able."""

from __future__ import annotations

import json
import re

import pytest

from pose_helpers.core.io import CorruptFileWarning
from pose_helpers.train import runs as experiments

TINY = dict(
    model_kwargs={"width": 8, "zero_init_head": True},
    input_size=64,
    n_train=8,
    n_valid=4,
    epochs=1,
    batch_size=4,
)


def test_synthpose_run_is_cached_and_json_able(tmp_path):
    first = experiments.synthpose_run("hourglass_baseline", checkpoint_dir=tmp_path, **TINY)
    json.dumps(first)
    assert len(first["history"]) == 1 and len(first["pckh"]) == 16
    assert set(first["table"]) >= {"Head", "Wrist", "Mean"}
    assert 0.0 <= first["swaps"] <= 1.0
    again = experiments.synthpose_run("hourglass_baseline", checkpoint_dir=tmp_path, **TINY)
    assert again["key"] == first["key"] and again["history"] == first["history"]
    other = experiments.synthpose_run("hourglass_baseline", checkpoint_dir=tmp_path, seed=1, **TINY)
    assert other["key"] != first["key"]
    model = experiments.load_run_model(first, "hourglass_baseline", TINY["model_kwargs"])
    assert not model.training


def test_run_key_ignores_execution_details():
    a = experiments.run_settings(model="m", seed=0, threads=1, num_workers=0, progress=True)
    b = experiments.run_settings(model="m", seed=0, threads=2, num_workers=1, progress=False)
    assert experiments.run_key(a) == experiments.run_key(b)


def test_cached_renders_train_the_same_run(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE_HELPERS_CACHE", str(tmp_path / "cache"))
    live = experiments.synthpose_run("hourglass_baseline", checkpoint_dir=tmp_path / "a", **TINY)
    cached = experiments.synthpose_run(
        "hourglass_baseline", checkpoint_dir=tmp_path / "b", cache_renders=True, **TINY
    )
    # Same key (an execution detail) and the same images, so the same training.
    assert cached["key"] == live["key"]
    assert cached["history"][0]["train_loss"] == live["history"][0]["train_loss"]
    assert list((tmp_path / "cache" / "synthpose").glob("*.npz"))


def test_initialization_depends_on_the_seed_alone(tmp_path):
    import torch

    first = experiments.synthpose_run("hourglass_baseline", checkpoint_dir=tmp_path / "a", **TINY)
    torch.rand(100)  # what the process drew before must not matter
    second = experiments.synthpose_run("hourglass_baseline", checkpoint_dir=tmp_path / "b", **TINY)
    assert second["history"][0]["train_loss"] == first["history"][0]["train_loss"]


def test_a_damaged_checkpoint_is_moved_aside_and_its_run_trained_again(tmp_path):
    first = experiments.synthpose_run("hourglass_baseline", checkpoint_dir=tmp_path, **TINY)
    path = tmp_path / f"{first['key']}.pt"
    cut = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(cut)  # a copy cut short: torch cannot read the zip archive
    with pytest.warns(CorruptFileWarning, match=re.escape(f"{path} does not load")) as caught:
        again = experiments.synthpose_run("hourglass_baseline", checkpoint_dir=tmp_path, **TINY)
    assert len(caught) == 1 and f"{path.name}.corrupt" in str(caught[0].message)
    # trained again from the same seed: the same first epoch, and a new checkpoint
    assert again["history"][0]["train_loss"] == first["history"][0]["train_loss"]
    assert not experiments.load_run_model(
        again, "hourglass_baseline", TINY["model_kwargs"]
    ).training
    assert (tmp_path / f"{path.name}.corrupt").read_bytes() == cut  # kept, not deleted

    # the weights of a finished run cannot be retrained from its record: say what to do
    path.write_bytes(b"not a checkpoint")
    with (
        pytest.warns(CorruptFileWarning),
        pytest.raises(
            FileNotFoundError, match=r"did not load and was moved aside: .*synthpose_run"
        ),
    ):
        experiments.load_run_model(again, "hourglass_baseline", TINY["model_kwargs"])
    assert (tmp_path / f"{path.name}.corrupt-1").read_bytes() == b"not a checkpoint"
