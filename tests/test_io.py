"""Atomic files and checkpoints that may be damaged: moved aside with one warning, not fatal."""

from __future__ import annotations

import warnings

import pytest
import torch

from pose_helpers.core.io import (
    CorruptFileWarning,
    load_checkpoint,
    move_aside,
    need_checkpoint,
    save_torch,
)


def _truncate(path, keep: float = 0.5) -> bytes:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return data[: int(len(data) * keep)]


def test_a_checkpoint_loads_and_a_missing_one_is_none(tmp_path):
    path = save_torch({"model": {"w": torch.ones(3)}}, tmp_path / "run.pt")
    assert torch.equal(load_checkpoint(path, ("model",))["model"]["w"], torch.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to report for a missing file
        assert load_checkpoint(tmp_path / "none.pt") is None


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_a_truncated_checkpoint_is_named_moved_aside_and_kept(tmp_path, keep):
    path = save_torch({"model": {"w": torch.ones(100)}}, tmp_path / "run.pt")
    damaged = _truncate(path, keep)
    with pytest.warns(CorruptFileWarning, match=r"run\.pt does not load .*run\.pt\.corrupt") as w:
        assert load_checkpoint(path) is None
    assert len(w) == 1 and "\n" not in str(w[0].message)
    assert not path.exists() and (tmp_path / "run.pt.corrupt").read_bytes() == damaged
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # moved aside: not reported again
        assert load_checkpoint(path) is None


def test_a_checkpoint_without_the_expected_keys_counts_as_damaged(tmp_path):
    path = save_torch({"weights": 1}, tmp_path / "run.pt")
    with pytest.warns(CorruptFileWarning, match="lacks 'model'"):
        assert load_checkpoint(path, ("model",)) is None
    path = save_torch([1, 2], tmp_path / "list.pt")
    with pytest.warns(CorruptFileWarning, match="holds a list"):
        assert load_checkpoint(path) is None


def test_move_aside_numbers_what_is_already_there(tmp_path):
    path = tmp_path / "x.json"
    for n in range(3):
        path.write_text(str(n))
        move_aside(path)
    assert [(tmp_path / name).read_text() for name in ("x.json.corrupt", "x.json.corrupt-1")] == [
        "0",
        "1",
    ]
    assert (tmp_path / "x.json.corrupt-2").read_text() == "2" and not path.exists()


def test_need_checkpoint_names_the_file_and_the_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none\.pt is missing: train it"):
        need_checkpoint(tmp_path / "none.pt", "train it")
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint")
    with (
        pytest.warns(CorruptFileWarning),
        pytest.raises(
            FileNotFoundError, match=r"bad\.pt did not load and was moved aside: train it"
        ),
    ):
        need_checkpoint(path, "train it")
    assert (tmp_path / "bad.pt.corrupt").is_file()
