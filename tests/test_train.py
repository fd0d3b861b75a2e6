"""Tests of pose_helpers.train.loop with a toy conv net, a toy blob dataset and stand-in metrics."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import pose_helpers
from pose_helpers.train import loop as train
from pose_helpers.train.loop import TrainConfig, fit, heatmap_loss, lr_at, resolve_milestones

NUM_JOINTS, SIZE, STRIDE = 16, 32, 4


# --------------------------------------------------------------------------- stand-ins


def _heatmaps_to_coords(heatmaps):
    hm = np.asarray(heatmaps)
    n, j, h, w = hm.shape
    flat = hm.reshape(n, j, h * w)
    idx = flat.argmax(-1)
    return np.stack([idx % w, idx // w], axis=-1).astype(np.float64), flat.max(-1)


def _pckh(pred, gt, head_size, visible, threshold=0.5):
    dist = (
        np.linalg.norm(np.asarray(pred) - np.asarray(gt), axis=-1) / np.asarray(head_size)[:, None]
    )
    hits = (dist <= threshold) & visible
    return 100.0 * hits.sum(0) / np.maximum(visible.sum(0), 1)


STANDIN_METRICS = SimpleNamespace(
    heatmaps_to_coords=_heatmaps_to_coords,
    pckh=_pckh,
    heatmap_to_image_coords=lambda coords, input_size, heatmap_size: (
        np.asarray(coords) * np.asarray(input_size) / np.asarray(heatmap_size)
    ),
    pckh_table=lambda per_joint: {
        "Head": float(per_joint[8:10].mean()),
        "Mean": float(np.mean(per_joint)),
    },
)


@pytest.fixture(autouse=True)
def standin_metrics(monkeypatch):
    """Use stand-in metrics, so these tests do not depend on pose_helpers.metrics.pose."""
    monkeypatch.setattr(pose_helpers, "metrics", STANDIN_METRICS, raising=False)


class Blobs(Dataset):
    """Images with a Gaussian blob per joint, target heatmaps at 1/4 resolution."""

    def __init__(self, n: int = 32, *, seed: int = 0, as_tuple: bool = False):
        rng = np.random.default_rng(seed)
        self.joints = rng.uniform(2, SIZE - 2, size=(n, NUM_JOINTS, 2)).astype(np.float32)
        self.visible = rng.random((n, NUM_JOINTS)) < 0.9
        self.as_tuple = as_tuple

    def __len__(self) -> int:
        return len(self.joints)

    @staticmethod
    def _blobs(joints: np.ndarray, size: int, sigma: float) -> np.ndarray:
        ys, xs = np.mgrid[0:size, 0:size]
        d2 = (xs[None] - joints[:, 0, None, None]) ** 2 + (ys[None] - joints[:, 1, None, None]) ** 2
        return np.exp(-d2 / (2 * sigma**2)).astype(np.float32)

    def __getitem__(self, i: int):
        joints, visible = self.joints[i], self.visible[i]
        image = np.repeat(self._blobs(joints, SIZE, 2.0).max(0, keepdims=True), 3, axis=0)
        item = {
            "image": torch.from_numpy(image),
            "target": torch.from_numpy(self._blobs(joints / STRIDE, SIZE // STRIDE, 1.0)),
            "joints": torch.from_numpy(joints),
            "head_size": torch.tensor(8.0),
            "visible": torch.from_numpy(visible),
            "target_weight": torch.from_numpy(visible.astype(np.float32))[:, None],
        }
        return tuple(item.values()) if self.as_tuple else item


class ToyNet(nn.Module):
    """(N, 3, 32, 32) -> (N, 16, 8, 8), or a list of such per stack; counts its calls."""

    def __init__(self, stacks: int = 1, width: int = 8):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.heads = nn.ModuleList(nn.Conv2d(width, NUM_JOINTS, 1) for _ in range(stacks))
        self.calls = 0

    def forward(self, X):
        self.calls += 1
        z = self.stem(X)
        outs = [head(z) for head in self.heads]
        return outs if len(outs) > 1 else outs[0]


def _net(seed: int = 0, **kwargs) -> ToyNet:
    torch.manual_seed(seed)
    return ToyNet(**kwargs)


CONFIG = TrainConfig(epochs=2, batch_size=8, lr=1e-2)


# --------------------------------------------------------------------------- loss and schedule


def test_heatmap_loss_weights_joints_and_sums_stacks():
    y = torch.zeros(2, 4, 3, 3)
    y_hat = torch.ones(2, 4, 3, 3)
    weight = torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 2)
    assert heatmap_loss(y_hat, y).item() == pytest.approx(1.0)
    assert heatmap_loss(y_hat, y, weight).item() == pytest.approx(0.5)
    assert heatmap_loss([y_hat, y_hat, y], y, weight[..., None]).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(2, 4, 6, 6\)"):
        heatmap_loss(torch.ones(2, 4, 6, 6), y)


def test_milestones_fractions_and_epochs():
    assert resolve_milestones((0.75, 0.85), 20) == (15, 17)
    report = TrainConfig.preset("course_report")
    assert [lr_at(report, e) for e in (14, 15, 16, 17, 19)] == pytest.approx(
        [1e-3, 1e-4, 1e-4, 1e-5, 1e-5]
    )
    sb = TrainConfig.preset("simple_baselines")
    assert (sb.optimizer, sb.epochs) == ("adam", 140)
    assert [lr_at(sb, e) for e in (89, 90, 119, 120)] == pytest.approx([1e-3, 1e-4, 1e-4, 1e-5])
    for bad in (1.5, 0, -0.2, "10"):
        with pytest.raises(ValueError, match="milestone"):
            resolve_milestones((bad,), 20)


def test_config_validation_and_presets():
    hg = TrainConfig.preset("hourglass", epochs=3)
    assert (hg.optimizer, hg.lr, hg.epochs) == ("rmsprop", 2.5e-4, 3)
    assert isinstance(train.make_optimizer(_net(), hg), torch.optim.RMSprop)
    assert TrainConfig(milestones=[0.5]).milestones == (0.5,)
    with pytest.raises(ValueError, match="adamw"):
        TrainConfig(optimizer="adamw")
    with pytest.raises(ValueError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(KeyError, match="resnet"):
        TrainConfig.preset("resnet")


# --------------------------------------------------------------------------- evaluation


class FixedHeatmaps(nn.Module):
    """Returns stored heatmaps whatever the input (a list: a wrong stack, then the right one)."""

    def __init__(self, heatmaps: torch.Tensor):
        super().__init__()
        self.heatmaps = heatmaps
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, X):
        right = self.heatmaps.expand(len(X), -1, -1, -1)
        return [torch.flip(right, dims=[-1, -2]), right]


def test_evaluate_maps_last_stack_to_input_pixels():
    peaks = np.stack([np.arange(NUM_JOINTS) % 8, np.arange(NUM_JOINTS) // 2 % 8], axis=-1)
    heatmaps = torch.zeros(1, NUM_JOINTS, 8, 8)
    heatmaps[0, np.arange(NUM_JOINTS), peaks[:, 1], peaks[:, 0]] = 1.0
    data = Blobs(4)
    data.joints[:] = peaks * STRIDE  # input pixels = heatmap pixels * 4
    data.visible[:] = True
    per_joint, table = train.evaluate(FixedHeatmaps(heatmaps), data, batch_size=3)
    assert per_joint.shape == (NUM_JOINTS,)
    np.testing.assert_allclose(per_joint, 100.0)
    assert table["Mean"] == pytest.approx(100.0)
    data.joints[:] += 5.0  # 7.07 px away > 0.5 * head size 8
    per_joint, _ = train.evaluate(FixedHeatmaps(heatmaps), data)
    np.testing.assert_allclose(per_joint, 0.0)


def test_predict_returns_pixels_beside_the_ground_truth():
    peaks = np.stack([np.arange(NUM_JOINTS) % 8, np.arange(NUM_JOINTS) // 2 % 8], axis=-1)
    heatmaps = torch.zeros(1, NUM_JOINTS, 8, 8)
    heatmaps[0, np.arange(NUM_JOINTS), peaks[:, 1], peaks[:, 0]] = 1.0
    data = Blobs(5)
    out = train.predict(FixedHeatmaps(heatmaps), data, batch_size=2)
    assert out["pred"].shape == out["gt"].shape == (5, NUM_JOINTS, 2)
    assert out["head_size"].shape == (5,) and out["visible"].dtype == bool
    np.testing.assert_allclose(out["pred"][0], peaks * STRIDE)
    np.testing.assert_allclose(out["gt"], data.joints)


# --------------------------------------------------------------------------- fit


def test_fit_history_pckh_and_stacks(capsys):
    result = fit(
        _net(stacks=2), Blobs(32), Blobs(8, seed=1), TrainConfig(epochs=3, batch_size=8, lr=1e-2)
    )
    assert list(result.history.columns) == [
        "epoch",
        "train_loss",
        "extra_loss",
        "val_pckh_mean",
        "seconds",
        "lr",
    ]
    assert result.history["epoch"].tolist() == [1, 2, 3]
    assert result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0]
    assert result.pckh.shape == (NUM_JOINTS,) and ((result.pckh >= 0) & (result.pckh <= 100)).all()
    assert result.history["val_pckh_mean"].iloc[-1] == pytest.approx(result.table["Mean"])
    assert (result.finished, result.diverged, result.epochs_run) == (True, False, 3)
    assert result.seconds == pytest.approx(result.history["seconds"].sum())
    assert "train" in capsys.readouterr().err  # the tqdm bar writes to stderr


def test_fit_tuple_batches_dataloader_extra_loss_and_hooks():
    steps, rows = [], []
    loader = DataLoader(Blobs(16, as_tuple=True), batch_size=4)
    result = fit(
        _net(),
        loader,
        None,
        TrainConfig(epochs=2, max_steps_per_epoch=3),
        extra_loss=lambda model: 0.5 * model.heads[0].weight.abs().sum(),
        after_step=lambda model: steps.append(1),
        after_epoch=lambda model, row: rows.append(row["epoch"]),
        progress=False,
    )
    assert (len(steps), rows) == (6, [1, 2])
    assert (result.history["extra_loss"] > 0).all()
    assert result.history["val_pckh_mean"].isna().all()
    assert (result.pckh, result.table) == (None, {})


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    config = TrainConfig(epochs=3, batch_size=8, lr=1e-2)
    reference = _net()
    fit(reference, Blobs(32), Blobs(8, seed=1), config, progress=False)

    path = tmp_path / "ckpt.pt"
    steps, first_rows = [], []

    def crash_in_epoch_2(model):
        steps.append(1)
        if len(steps) == 6:  # 4 steps per epoch: the second step of epoch 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(
            _net(),
            Blobs(32),
            Blobs(8, seed=1),
            config,
            checkpoint=path,
            after_step=crash_in_epoch_2,
            after_epoch=lambda model, row: first_rows.append(dict(row)),
            progress=False,
        )
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 1 and len(saved["history"]) == 1

    resumed = _net(seed=123)  # other initial weights: the checkpoint's must win
    result = fit(resumed, Blobs(32), Blobs(8, seed=1), config, checkpoint=path, progress=False)
    assert result.epochs_run == 2 and result.history["epoch"].tolist() == [1, 2, 3]
    assert result.history.iloc[0].to_dict() == pytest.approx(first_rows[0])
    for key, value in _weights(reference).items():
        torch.testing.assert_close(resumed.state_dict()[key], value)


def test_more_epochs_resume_and_finished_run_is_instant(tmp_path):
    path = tmp_path / "run" / "ckpt.pt"
    first = _net()
    fit(first, Blobs(32), Blobs(8, seed=1), CONFIG, checkpoint=path, progress=False)
    longer = dataclass_replace(CONFIG, epochs=3)
    model = _net()
    result = fit(model, Blobs(32), Blobs(8, seed=1), longer, checkpoint=path, progress=False)
    assert result.epochs_run == 1 and len(result.history) == 3 and model.calls > 0

    again, steps = _net(seed=5), []
    rerun = fit(
        again,
        Blobs(32),
        Blobs(8, seed=1),
        longer,
        checkpoint=path,
        after_step=lambda m: steps.append(1),
        progress=False,
    )
    assert (again.calls, steps, rerun.epochs_run, rerun.finished) == (0, [], 0, True)
    assert rerun.history.equals(result.history)
    np.testing.assert_array_equal(rerun.pckh, result.pckh)
    assert rerun.table == result.table
    for key, value in _weights(model).items():
        torch.testing.assert_close(again.state_dict()[key], value)


def dataclass_replace(config: TrainConfig, **changes) -> TrainConfig:
    return TrainConfig(**{**config.to_dict(), **changes})


def test_checkpoint_with_other_settings_raises(tmp_path):
    path = tmp_path / "ckpt.pt"
    fit(_net(), Blobs(16), None, CONFIG, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match=r"lr=0\.01 \(now 0\.001\)"):
        fit(
            _net(),
            Blobs(16),
            None,
            dataclass_replace(CONFIG, lr=1e-3),
            checkpoint=path,
            progress=False,
        )
    with pytest.raises(ValueError, match="holds 2 epochs but epochs=1"):
        fit(
            _net(),
            Blobs(16),
            None,
            dataclass_replace(CONFIG, epochs=1),
            checkpoint=path,
            progress=False,
        )


def test_time_budget_stops_between_epochs_and_rerun_goes_on(tmp_path):
    path = tmp_path / "ckpt.pt"
    budget = TrainConfig(epochs=3, batch_size=8, time_budget_s=0.0)
    first = fit(_net(), Blobs(16), None, budget, checkpoint=path, progress=False)
    assert (len(first.history), first.finished) == (1, False)
    rest = fit(
        _net(),
        Blobs(16),
        None,
        dataclass_replace(budget, time_budget_s=None),
        checkpoint=path,
        progress=False,
    )
    assert (rest.epochs_run, rest.finished) == (2, True)


def test_nan_loss_is_reported_as_diverged_not_raised(tmp_path):
    path = tmp_path / "ckpt.pt"
    nan = lambda model: torch.tensor(math.nan)  # noqa: E731
    result = fit(
        _net(), Blobs(16), Blobs(8), CONFIG, checkpoint=path, extra_loss=nan, progress=False
    )
    assert (result.diverged, result.finished, len(result.history), result.epochs_run) == (
        True,
        False,
        0,
        0,
    )
    model = _net()
    again = fit(model, Blobs(16), Blobs(8), CONFIG, checkpoint=path, extra_loss=nan, progress=False)
    assert again.diverged and model.calls == 0


def test_huge_lr_diverges():
    config = TrainConfig(epochs=3, batch_size=4, lr=1e9, optimizer="sgd")
    result = fit(_net(), Blobs(16), None, config, progress=False)
    assert result.diverged and not result.finished


def test_integration_with_project_modules(tmp_path):
    """Smoke test with the real registry, SynthPose and metrics."""
    from pose_helpers.data.synthpose import SynthPose
    from pose_helpers.models.registry import create_model

    torch.manual_seed(0)
    model = create_model("hourglass_baseline", width=16, num_stacks=2)
    config = TrainConfig(epochs=1, batch_size=4, lr=2.5e-4, optimizer="rmsprop")
    train_data = SynthPose("train", n=8, input_size=64)
    val_data = SynthPose("valid", n=4, input_size=64)
    result = fit(model, train_data, val_data, config, checkpoint=tmp_path / "hg.pt", progress=False)
    assert not result.diverged and result.finished and result.pckh.shape == (NUM_JOINTS,)
    assert set(result.table) >= {"Head", "Mean"} and len(result.history) == 1


def test_milestone_fractions_round_half_up():
    # round() would send both 7.5 and 8.5 to 8: two drops at once.
    assert resolve_milestones((0.75, 0.85), 10) == (8, 9)
    assert resolve_milestones((0.75, 0.85), 20) == (15, 17)
