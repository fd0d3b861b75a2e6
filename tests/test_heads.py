"""Tests of pose_helpers.models.heads: every design gives the same heatmap size; the head's
share is measured."""

from __future__ import annotations

import pytest
import torch

from pose_helpers.models.heads import Upsampled, head_design, head_share


def test_designs_give_the_same_heatmaps_and_cheaper_heads():
    x = torch.zeros(1, 3, 64, 64)
    full = head_design(32, 3, width=8)
    two = head_design(16, 2, width=8)
    assert isinstance(two, Upsampled) and two.factor == 2
    assert full.eval()(x).shape == two.eval()(x).shape == (1, 16, 16, 16)
    big, small = head_share(full, (3, 64, 64)), head_share(two, (3, 64, 64))
    assert 0 < small["macs"] < big["macs"] and 0 < big["params_share"] < 1
    assert 0 < big["macs_share"] < 1
    with pytest.raises(ValueError, match="num_deconv"):
        head_design(64, 4)
