"""Tests of pose_helpers.cost.bench: hand-counted MACs, sizes, kernel counts and timing contracts.

No test asserts anything about speed: timings only have to be well-formed.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pose_helpers.cost import bench


@pytest.mark.parametrize(
    ("layer", "input_shape", "batch_size", "expected"),
    [
        # Conv2d: Cout * Cin/groups * k * k * H_out * W_out per sample
        (nn.Conv2d(3, 8, 3, padding=1), (3, 16, 16), 1, 8 * 3 * 9 * 16 * 16),
        (nn.Conv2d(3, 8, 3, stride=2, padding=1), (3, 16, 16), 2, 2 * 8 * 3 * 9 * 8 * 8),
        (nn.Conv2d(8, 8, 3, padding=1, groups=8), (8, 6, 6), 1, 8 * 1 * 9 * 6 * 6),
        # ConvTranspose2d: each input pixel scatters a k x k kernel: Cin * Cout * k * k * H_in * W_in
        (nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), (16, 6, 5), 1, 16 * 8 * 4 * 4 * 6 * 5),
        (nn.ConvTranspose2d(4, 2, 3, stride=1, padding=1), (4, 7, 7), 1, 4 * 2 * 3 * 3 * 7 * 7),
        # Linear: in * out per sample
        (nn.Linear(20, 5), (20,), 3, 3 * 20 * 5),
    ],
)
def test_macs_match_hand_counts(layer, input_shape, batch_size, expected):
    assert bench.macs(layer, input_shape, batch_size=batch_size) == expected


def test_transposed_conv_is_not_counted_per_output_pixel():
    """Counting Cin*Cout*k*k per *output* pixel (as some counters do) is 4x too high at stride 2."""
    deconv = nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1, bias=False)
    per_input_pixel = 32 * 16 * 4 * 4 * 8 * 8
    assert bench.macs(deconv, (32, 8, 8)) == per_input_pixel
    assert 32 * 16 * 4 * 4 * 16 * 16 == 4 * per_input_pixel


def test_macs_of_a_small_network_add_up():
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1),
        nn.Flatten(),
        nn.Linear(2 * 16 * 16, 10),
    )
    expected = 4 * 3 * 9 * 8 * 8 + 4 * 2 * 16 * 8 * 8 + 2 * 16 * 16 * 10
    assert bench.macs(net, (3, 8, 8)) == expected
    assert net.training  # the mode is restored


def test_params_of_torchvision_resnet18():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    assert bench.count_params(model) == 11_689_512
    model.fc.requires_grad_(False)
    assert bench.count_params(model, trainable_only=True) == 11_689_512 - (512 * 1000 + 1000)


def test_sizes_in_decimal_megabytes():
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 2))
    n = 4 * 3 * 9 + 4 + 4 * 2 + 2
    assert bench.size_mb(plain) == pytest.approx(n * 4 / 1e6)
    assert bench.size_mb(plain, "fp16") == pytest.approx(bench.size_mb(plain, "fp32") / 2)
    assert bench.size_mb(plain, "int8") == pytest.approx(n / 1e6)

    with_bn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    params = 4 * 3 * 9 + 4 + 2 * 4
    # buffers: running mean and variance (4 + 4 floats) and num_batches_tracked (one int64)
    assert bench.size_mb(with_bn) == pytest.approx((params * 4 + 8 * 4 + 8) / 1e6)
    assert bench.size_mb(with_bn, "fp16", buffers=False) == pytest.approx(params * 2 / 1e6)
    assert bench.checkpoint_mb(with_bn) > bench.size_mb(with_bn)  # the file adds its headers
    assert bench.checkpoint_mb(with_bn, "fp16") < bench.checkpoint_mb(with_bn)
    with pytest.raises(ValueError, match="'fp8'"):
        bench.size_mb(plain, "fp8")
    with pytest.raises(ValueError, match="'int8'"):
        bench.checkpoint_mb(plain, "int8")


class Shared(nn.Module):
    """A conv used twice, a transposed conv, and a functional conv that no hook sees."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.kernel = nn.Parameter(torch.randn(2, 2, 1, 1))

    def forward(self, X):
        X = self.conv(torch.relu(self.conv(X)))
        return F.conv2d(self.up(X), self.kernel)


def test_conv_kernel_count_counts_calls():
    model = Shared()
    assert bench.conv_kernel_count(model, (4, 8, 8)) == 3
    ops = bench.op_counts(model, (4, 8, 8))
    assert ops["convolution"] == 4  # the functional conv too
    assert ops["relu"] == 1
    assert not model.conv._forward_hooks  # hooks are removed


def test_latency_is_well_formed_and_restores_threads():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    before = torch.get_num_threads()
    timing = bench.latency(model, (3, 16, 16), threads=1, warmup=2, repeats=7)
    assert (
        timing.n == 7 and timing.threads == 1 and timing.batch_size == 1 and timing.device == "cpu"
    )
    assert timing.median_ms > 0 and timing.p10_ms <= timing.median_ms <= timing.p90_ms
    assert timing.std_ms >= 0 and timing.median_s == pytest.approx(timing.median_ms / 1e3)
    assert torch.get_num_threads() == before and model.training
    assert bench.latency(model, (3, 16, 16), threads=2, repeats=2).threads == 2
    assert torch.get_num_threads() == before
    assert bench.latency(model, (3, 16, 16), repeats=2, min_time=0.02).n >= 2
    with pytest.raises(ValueError, match="repeats=0"):
        bench.latency(model, (3, 16, 16), repeats=0)
    with pytest.raises(ValueError, match="input_shape"):
        bench.latency(model, ())


class TwoStacks(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, X):
        y1 = self.a(X)
        return [y1, self.b(y1)]


def test_train_step_time_leaves_the_model_unchanged():
    model = TwoStacks()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    timing = bench.train_step_time(model, (3, 8, 8), 4, warmup=1, repeats=3, optimizer="sgd")
    assert timing.n == 3 and timing.batch_size == 4 and timing.median_ms > 0
    assert timing.p10_ms <= timing.median_ms <= timing.p90_ms
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    with pytest.raises(ValueError, match="'lbfgs'"):
        bench.train_step_time(model, (3, 8, 8), 2, optimizer="lbfgs")


def test_model_card_is_json_able():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))
    card = bench.model_card(model, (3, 8, 8), repeats=3, warmup=1)
    json.dumps(card)
    assert card["params"] == 3 * 4 * 9 + 4 + 4 * 2 + 2
    assert card["macs"] == 4 * 3 * 9 * 64 + 2 * 4 * 64 and card["conv_kernels"] == 2
    assert card["size_mb_fp16"] == pytest.approx(card["size_mb_fp32"] / 2)
    assert card["latency_p10_ms"] <= card["latency_ms"] <= card["latency_p90_ms"]
    assert card["input_shape"] == [3, 8, 8] and card["threads"] == 1
    assert math.isnan(bench.model_card(model, (3, 8, 8), repeats=0)["latency_ms"])


def test_simple_baselines_resnet50_checkpoint_is_the_thesis_136_3_mb():
    """Thesis Table 5.3: 33.9 M parameters, 136.3 MB: the size of the saved state_dict."""
    registry = pytest.importorskip(
        "pose_helpers.models.registry", reason="the registry is written in parallel"
    )
    model = registry.create_model("simple_baselines_resnet50")
    assert bench.count_params(model) == 33_999_440
    assert round(bench.checkpoint_mb(model), 1) == 136.3
    assert (
        round(bench.size_mb(model), 1) == 136.2
        and round(bench.size_mb(model, buffers=False), 1) == 136.0
    )


# --------------------------------------------------------------------------- the timing API


def test_time_calls_warms_up_then_times_at_least_repeats_calls():
    calls = []
    seconds = bench.time_calls(lambda: calls.append(1), warmup=3, repeats=5)
    assert len(calls) == 8 and seconds.shape == (5,) and (seconds >= 0).all()
    assert len(bench.time_calls(lambda: None, warmup=0, repeats=2, min_time=0.01)) >= 2
    for bad in ({"repeats": 0}, {"warmup": -1}):
        with pytest.raises(ValueError, match="expected repeats >= 1, warmup >= 0"):
            bench.time_calls(lambda: None, **bad)


def test_time_interleaved_takes_turns():
    order = []
    seconds = bench.time_interleaved(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, warmup=1, repeats=3
    )
    assert order == ["a", "b"] + ["a", "b"] * 3  # warm-ups, then one call of each per round
    assert list(seconds) == ["a", "b"] and all(s.shape == (3,) for s in seconds.values())
    with pytest.raises(ValueError, match="repeats=0"):
        bench.time_interleaved({"a": lambda: None}, repeats=0)


def test_summarize_gives_percentiles_in_milliseconds():
    timing = bench.summarize([0.001, 0.002, 0.003, 0.004, 0.010], threads=2, batch_size=4)
    assert timing.median_ms == pytest.approx(3.0) and timing.n == 5
    assert timing.p10_ms == pytest.approx(1.4) and timing.p90_ms == pytest.approx(7.6)
    assert timing.mean_ms == pytest.approx(4.0)
    assert (timing.threads, timing.batch_size, timing.device) == (2, 4, "cpu")
    assert bench.summarize([0.5], threads=1, device=torch.device("cpu")).device == "cpu"
    with pytest.raises(ValueError, match="empty"):
        bench.summarize([], threads=1)


def test_over_rounds_is_the_summary_of_the_rounds_medians():
    rounds = [bench.Timing(m, m, m, m, 0.0, 5, 1, 1, "cpu") for m in (10.0, 100.0, 12.0)]
    timing = bench.over_rounds(rounds)
    assert timing.median_ms == 12.0 and timing.n == 15
    assert timing.p90_ms > 12.0  # the disturbed round shows in the spread, not in the median
    same = bench.summarize([0.010, 0.100, 0.012], threads=1)
    assert timing.p10_ms == pytest.approx(same.p10_ms) and timing.std_ms == pytest.approx(
        same.std_ms
    )
    assert bench.over_rounds([rounds[0], None]) is None
    with pytest.raises(ValueError, match="empty"):
        bench.over_rounds([])


def test_interleaved_rounds_take_turns_and_summarize_each_measurement():
    from pose_helpers.cost.rounds import check_rounds, interleaved_rounds

    order = []

    def measure(name, ms):
        def call():
            order.append(name)
            return bench.summarize(np.array([ms / 1e3]), threads=1, batch_size=1, device="cpu")

        return call

    out = interleaved_rounds([measure("a", 2.0), measure("b", 4.0)], 3)
    assert order == ["a", "b"] * 3  # every round goes over every measurement in turn
    assert [t.median_ms for t in out] == pytest.approx([2.0, 4.0])
    assert out[0].n == 3  # the runs of all rounds
    assert interleaved_rounds([lambda: None], 2) == [None]  # a runtime that cannot run it
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match="rounds="):
            check_rounds(bad)
