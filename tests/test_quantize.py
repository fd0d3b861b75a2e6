"""Tests of pose_helpers.cost.quantize: a calibrated int8 model runs in ONNX Runtime, stays
close to fp32 and is smaller."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from pose_helpers.cost.deploy import export_onnx
from pose_helpers.cost.quantize import quantize_static_int8


def test_static_int8_is_close_to_fp32_and_smaller(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU()
    ).eval()
    fp32 = export_onnx(net, tmp_path / "fp32.onnx", (3, 16, 16))
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(8)]
    int8 = quantize_static_int8(fp32, tmp_path / "int8.onnx", calibration)
    x = calibration[0]
    expected = net(torch.from_numpy(x)).detach().numpy()
    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    rms = float(np.sqrt(np.mean((got - expected) ** 2)) / np.sqrt(np.mean(expected**2)))
    assert rms < 0.25, rms  # int8 steps of a random network's activations; PCKh judges real ones
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size
    with pytest.raises(ValueError, match="calibration"):
        quantize_static_int8(fp32, tmp_path / "none.onnx", [])
