"""Heatmap distillation (seed 001's teacher-student training; Zhang et al.'s fast pose
distillation): a student learns from a blend of the ground-truth heatmaps and a trained
teacher's.

The teacher's heatmaps of every training image are computed once (:func:`teacher_heatmaps`,
in eval mode, kept as float16) and :class:`DistilledTargets` wraps the training set so that
each item's target becomes ``alpha x teacher + (1 - alpha) x ground truth``. The training
loop (:func:`pose_helpers.train.loop.fit`) is unchanged: the same loss, optimizer and
budget as a plain run, only the targets differ, so "distilled against plain" isolates what
the teacher adds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

__all__ = ["DistilledTargets", "teacher_heatmaps"]

#: The keys a dataset item may hold its target heatmaps under (``fit`` reads either).
TARGET_KEYS = ("heatmaps", "target")


@torch.no_grad()
def teacher_heatmaps(teacher: nn.Module, dataset: Dataset, batch_size: int = 64) -> torch.Tensor:
    """The teacher's (last stack's) heatmaps of every item of ``dataset``, in order, as a
    float16 ``(N, J, H, W)`` tensor on the CPU. The teacher's train/eval mode is restored."""
    was_training = teacher.training
    teacher.eval()
    out = []
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            y = teacher(batch["image"])
            y = y[-1] if isinstance(y, list | tuple) else y
            out.append(y.detach().to(torch.float16).cpu())
    finally:
        teacher.train(was_training)
    return torch.cat(out)


class DistilledTargets(Dataset):
    """``dataset`` with each item's target heatmaps blended with the teacher's.

    Args:
        dataset: a dataset of dict items with an ``image`` and a target under one of
            :data:`TARGET_KEYS` (SynthPose's ``heatmaps``).
        teacher: :func:`teacher_heatmaps` of that dataset (same order and heatmap size).
        alpha: the teacher's share of the target, in [0, 1] (1: the teacher alone).

    Raises:
        ValueError: for ``alpha`` outside [0, 1] or teacher heatmaps of another length.
    """

    def __init__(self, dataset: Dataset, teacher: torch.Tensor, alpha: float = 0.5) -> None:
        if not 0 <= float(alpha) <= 1:
            raise ValueError(f"alpha must lie in [0, 1]; got {alpha!r}")
        if len(teacher) != len(dataset):
            raise ValueError(
                f"teacher heatmaps for {len(teacher)} items, but the dataset has {len(dataset)}"
            )
        self.dataset, self.teacher, self.alpha = dataset, teacher, float(alpha)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.dataset[i])
        key = next((k for k in TARGET_KEYS if k in item), None)
        if key is None:
            raise ValueError(f"item {i} has no target heatmaps (keys {sorted(item)})")
        truth = torch.as_tensor(item[key], dtype=torch.float32)
        taught = self.teacher[i].to(torch.float32)
        if taught.shape != truth.shape:
            raise ValueError(
                f"teacher heatmaps {tuple(taught.shape)} do not match the targets "
                f"{tuple(truth.shape)}"
            )
        item[key] = self.alpha * taught + (1 - self.alpha) * truth
        return item
