"""The toolkit chapter's metric check: our PCKh on the shipped predictions, and its curves."""

from __future__ import annotations

from pathlib import Path

import pytest

from pose_helpers.data import mpii
from pose_helpers.studies import toolkit


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """A data root with an empty ``mpii/`` folder."""
    (tmp_path / "mpii").mkdir()
    return tmp_path


@pytest.mark.real_data
def test_score_published_predictions_matches_to_a_hundredth(mpii_root):
    table = toolkit.score_published_predictions()
    ours = table[table["source"] == "ours"]
    assert len(ours) == 2 and (ours["max |diff|"] < 0.01).all()
    assert list(table["source"]) == ["ours", "published", "ours", "published"]
    assert set(mpii.PCKH_COLUMNS) <= set(table.columns)


@pytest.mark.real_data
def test_plot_published_curves_draws_one_rising_curve_per_model(mpii_root):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = [0.1, 0.3, 0.5, 1.0]
    fig = toolkit.plot_published_curves(thresholds, root=mpii_root.parent)
    try:
        (ax,) = fig.axes
        curves = [line for line in ax.lines if len(line.get_xdata()) == len(thresholds)]
        labels = [line.get_label() for line in curves]
        assert labels == list(mpii.published_pckh(mpii_root.parent)["predictions"])
        for line in curves:
            y = list(line.get_ydata())
            assert y == sorted(y) and 0 <= y[0] and y[-1] <= 100
    finally:
        plt.close(fig)


def test_without_annotations_both_raise(fake_root):
    with pytest.raises(FileNotFoundError, match="gt_valid.mat"):
        toolkit.score_published_predictions(fake_root)
    with pytest.raises(FileNotFoundError, match="gt_valid.mat"):
        toolkit.plot_published_curves([0.5], root=fake_root)
