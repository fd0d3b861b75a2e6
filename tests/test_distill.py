"""Tests of pose_helpers.train.distill: teacher heatmaps once, targets blended per item."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from pose_helpers.train.distill import DistilledTargets, teacher_heatmaps


class Toy(Dataset):
    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> dict:
        return {
            "image": torch.full((3, 8, 8), float(i)),
            "heatmaps": torch.zeros(2, 4, 4),
            "target_weight": torch.ones(2),
        }


def test_targets_blend_the_teacher_with_the_truth():
    teacher = nn.Sequential(nn.Conv2d(3, 2, 1), nn.AvgPool2d(2)).train()
    maps = teacher_heatmaps(teacher, Toy(), batch_size=2)
    assert maps.shape == (5, 2, 4, 4) and maps.dtype == torch.float16 and teacher.training
    data = DistilledTargets(Toy(), maps, alpha=0.25)
    item = data[3]
    assert torch.allclose(item["heatmaps"], 0.25 * maps[3].float())
    assert torch.equal(item["target_weight"], torch.ones(2)) and len(data) == 5
    with pytest.raises(ValueError, match="alpha"):
        DistilledTargets(Toy(), maps, alpha=2)
    with pytest.raises(ValueError, match="teacher heatmaps for 4"):
        DistilledTargets(Toy(), maps[:4])
