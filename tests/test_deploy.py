"""Tests of pose_helpers.cost.deploy: ONNX export checks, fp16/int8 files, ORT timing and the table.

Models are tiny (32 px inputs) and timings run once or twice: no test asserts on speed,
only that timings are positive and finite.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import matplotlib
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from pose_helpers.cost import deploy
from pose_helpers.cost.bench import Timing

matplotlib.use("Agg")

SHAPE = (3, 32, 32)


def tiny_net(width: int = 8) -> nn.Sequential:
    """Conv-BN-ReLU-Conv to 4 heatmaps (about 1k parameters at width 8)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 4, 3, padding=1),
    )


def wide_net() -> nn.Sequential:
    """Two 64 -> 64 3x3 convolutions: weights dominate the file, as in a real backbone."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 4, 1),
    )


class TwoStacks(nn.Module):
    """Returns a tuple of heatmaps, as a stacked hourglass does."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 4, 3, padding=1)
        self.second = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.first(x)
        return y, self.second(y)


def ort_outputs(path, x: torch.Tensor) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})


def double_conv_file(path) -> None:
    """A valid ONNX Conv in float64, for which ONNX Runtime's CPU provider has no kernel."""
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)
    w = helper.make_tensor("w", TensorProto.DOUBLE, [4, 3, 1, 1], [0.5] * 12)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [x], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.fixture(scope="module")
def wide_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wide")
    fp32 = deploy.export_onnx(wide_net(), folder / "wide.onnx", SHAPE)
    return {
        "fp32": fp32,
        "fp16": deploy.convert_fp16(fp32, folder / "wide_fp16.onnx"),
        "int8": deploy.quantize_int8(fp32, folder / "wide_int8.onnx"),
    }


def assert_timing(timing: Timing | None, threads: int) -> None:
    assert isinstance(timing, Timing)
    assert timing.threads == threads
    for value in (timing.median_ms, timing.p10_ms, timing.p90_ms):
        assert math.isfinite(value) and value > 0


# --------------------------------------------------------------------------- export


def test_export_writes_a_file_that_onnxruntime_runs_like_torch(tmp_path):
    model = tiny_net().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = deploy.export_onnx(model, tmp_path / "sub" / "tiny.onnx", SHAPE)
    assert path == tmp_path / "sub" / "tiny.onnx" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["tiny.onnx"]  # no temporary left
    x = torch.randn(1, *SHAPE)
    (got,) = ort_outputs(path, x)
    expected = tiny_net().eval()(x).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)
    # The caller's model keeps its train mode and its BatchNorm statistics.
    assert all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_export_compares_every_output_of_a_tuple(tmp_path):
    model = TwoStacks().eval()
    path = deploy.export_onnx(model, tmp_path / "two.onnx", SHAPE)
    x = torch.randn(1, *SHAPE)
    got = ort_outputs(path, x)
    assert len(got) == 2
    for out, ref in zip(got, model(x), strict=True):
        np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-4, rtol=1e-3)


def test_export_raises_on_a_mismatch_and_leaves_no_file(tmp_path, monkeypatch):
    real_run = deploy._run_onnx

    def perturbed(path, x):
        return [out + 0.5 for out in real_run(path, x)]

    monkeypatch.setattr(deploy, "_run_onnx", perturbed)
    with pytest.raises(ValueError, match=r"max \|diff\| = 0\.5.*atol=0\.0001"):
        deploy.export_onnx(tiny_net(), tmp_path / "bad.onnx", SHAPE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (3, 0, 32)}, "input_shape"),
        ({"input_shape": SHAPE, "atol": -1.0}, "atol"),
    ],
)
def test_export_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        deploy.export_onnx(tiny_net(), tmp_path / "x.onnx", **kwargs)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- fp16 and int8


def test_fp16_and_int8_files_are_smaller_and_run(wide_files):
    sizes = {fmt: path.stat().st_size for fmt, path in wide_files.items()}
    assert sizes["fp32"] / sizes["fp16"] > 1.8
    assert sizes["fp32"] / sizes["int8"] > 2.5
    x = torch.randn(1, *SHAPE)
    (ref,) = ort_outputs(wide_files["fp32"], x)
    for fmt in ("fp16", "int8"):
        (out,) = ort_outputs(wide_files[fmt], x)  # float32 in and out (keep_io_types)
        assert out.dtype == np.float32 and out.shape == ref.shape
        assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max(), fmt


def test_int8_quantizes_convolutions_through_conv_integer(wide_files):
    ops = {node.op_type for node in onnx.load(str(wide_files["int8"])).graph.node}
    assert {"DynamicQuantizeLinear", "ConvInteger"} <= ops


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize("fmt", ["fp32", "fp16", "int8"])
def test_ort_latency_is_a_bench_timing(wide_files, fmt):
    timing = deploy.ort_latency(wide_files[fmt], SHAPE, threads=1, warmup=1, repeats=2)
    assert_timing(timing, threads=1)
    assert timing.n == 2 and timing.batch_size == 1 and timing.device == "cpu"


def test_ort_latency_is_none_where_the_runtime_has_no_kernel(tmp_path):
    path = tmp_path / "double.onnx"
    double_conv_file(path)
    assert deploy.ort_latency(path, SHAPE, repeats=1) is None


def test_ort_latency_rejects_bad_arguments(wide_files):
    with pytest.raises(ValueError, match="threads"):
        deploy.ort_latency(wide_files["fp32"], SHAPE, threads=0)
    with pytest.raises(ValueError, match="repeats"):
        deploy.ort_latency(wide_files["fp32"], SHAPE, repeats=0)


# --------------------------------------------------------------------------- the table


def test_deployment_table_rows_columns_and_speedup(tmp_path):
    models = {"dense": tiny_net(16), "compressed": tiny_net(4)}
    table = deploy.deployment_table(
        models, SHAPE, threads=(1, 2), repeats=1, warmup=0, folder=tmp_path
    )
    expected_columns = {
        "model",
        "runtime",
        "format",
        "threads",
        "latency_ms",
        "latency_p10_ms",
        "latency_p90_ms",
        "size_mb",
        "supported",
        "max_abs_diff",
        "max_rel_diff",
        "speedup",
        "note",
    }
    assert expected_columns <= set(table.columns)
    # Per model and thread count: PyTorch fp32, then ONNX Runtime fp32, fp16 and int8.
    assert len(table) == 2 * 2 * 4
    combos = table[["model", "runtime", "format", "threads"]].drop_duplicates()
    assert len(combos) == len(table)
    assert set(table.loc[table["runtime"] == "pytorch", "format"]) == {"fp32"}
    assert table["supported"].all() and (table["note"] == "").all()
    assert (table["size_mb"] > 0).all()
    assert np.isfinite(table[["latency_ms", "latency_p10_ms", "latency_p90_ms"]]).all().all()
    assert (table["latency_ms"] > 0).all()
    reference = table[table["model"] == "dense"]
    np.testing.assert_allclose(reference["speedup"], 1.0)
    onnx_fp32 = table[(table["runtime"] == "onnxruntime") & (table["format"] == "fp32")]
    assert (onnx_fp32["max_abs_diff"] < 1e-4).all() and (onnx_fp32["max_rel_diff"] < 1e-3).all()
    assert (
        (table.loc[table["runtime"] == "pytorch", ["max_abs_diff", "max_rel_diff"]] == 0)
        .all()
        .all()
    )
    # The pytorch size is the checkpoint; the compressed model's files are smaller.
    sizes = table.groupby(["model", "runtime", "format"])["size_mb"].first()
    assert sizes["compressed"].lt(sizes["dense"]).all()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [
        "0_dense_fp16.onnx",
        "0_dense_fp32.onnx",
        "0_dense_int8.onnx",
        "1_compressed_fp16.onnx",
        "1_compressed_fp32.onnx",
        "1_compressed_int8.onnx",
    ]


def test_deployment_table_marks_formats_the_runtime_cannot_run(tmp_path, monkeypatch):
    def to_double(src, dst):
        double_conv_file(dst)
        return dst

    monkeypatch.setitem(deploy._CONVERTERS, "fp16", to_double)
    # The default folder is a temporary one, removed afterwards.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    table = deploy.deployment_table(
        {"only": tiny_net()}, SHAPE, threads=1, repeats=1, warmup=0, formats=("fp16",)
    )
    assert list(tmp_path.iterdir()) == []
    assert list(zip(table["runtime"], table["format"], strict=True)) == [
        ("pytorch", "fp32"),
        ("onnxruntime", "fp16"),
    ]
    pytorch, fp16 = table.iloc[0], table.iloc[1]
    assert pytorch["supported"] and pytorch["speedup"] == 1.0
    assert not fp16["supported"] and fp16["note"] == deploy.UNSUPPORTED
    assert fp16["size_mb"] > 0
    for column in (
        "latency_ms",
        "latency_p10_ms",
        "latency_p90_ms",
        "speedup",
        "max_abs_diff",
        "max_rel_diff",
    ):
        assert math.isnan(fp16[column]), column


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": {}}, "models is empty"),
        ({"threads": (0,)}, "threads"),
        ({"threads": (1, -2)}, "threads"),
        ({"threads": ()}, "threads"),
        ({"repeats": 0}, "repeats"),
        ({"formats": ("fp32", "int4")}, "formats"),
        ({"input_shape": (3, -1, 32)}, "input_shape"),
    ],
)
def test_deployment_table_validates_before_any_work(tmp_path, monkeypatch, kwargs, match):
    def no_work(*args, **kw):
        raise AssertionError("measured before validating")

    monkeypatch.setattr(deploy, "latency", no_work)
    monkeypatch.setattr(deploy, "export_onnx", no_work)
    arguments = {"models": {"m": tiny_net()}, "input_shape": SHAPE, "folder": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=match):
        deploy.deployment_table(**arguments)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- figure


def test_plot_deployment_draws_one_panel_per_thread_count():
    import matplotlib.pyplot as plt

    rows = [
        {
            "model": model,
            "runtime": runtime,
            "format": "fp32",
            "threads": threads,
            "latency_ms": 5.0,
        }
        for model in ("dense", "compressed")
        for runtime in ("pytorch", "onnxruntime")
        for threads in (1, 2)
    ]
    # An unsupported row has no latency and no bar.
    rows.append(
        {
            "model": "dense",
            "runtime": "onnxruntime",
            "format": "fp16",
            "threads": 1,
            "latency_ms": np.nan,
        }
    )
    fig = deploy.plot_deployment(pd.DataFrame(rows))
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert len(fig.axes) == 2
        assert [ax.get_title() for ax in fig.axes] == ["1 thread", "2 threads"]
    finally:
        plt.close(fig)


def test_rounds_interleave_the_models_and_take_the_median_of_round_medians(tmp_path, monkeypatch):
    calls = []
    # 4 measurements (a torch, a onnx, b torch, b onnx) x 3 rounds; round 2 of "a torch" is
    # disturbed (100 ms): the median of its rounds ignores it
    medians = iter([10.0, 20.0, 30.0, 40.0, 100.0, 21.0, 31.0, 41.0, 12.0, 22.0, 32.0, 42.0])

    def timing(label: str, threads: int) -> Timing:
        calls.append(label)
        m = next(medians)
        return Timing(m, m, m, m, 0.0, 1, threads, 1, "cpu")

    monkeypatch.setattr(deploy, "latency", lambda m, *a, threads, **k: timing("torch", threads))
    monkeypatch.setattr(
        deploy, "ort_latency", lambda path, *a, threads, **k: timing(Path(path).name[:3], threads)
    )
    models = {"a": tiny_net(), "b": tiny_net()}
    table = deploy.deployment_table(
        models, SHAPE, threads=1, repeats=1, warmup=0, rounds=3, formats=("fp32",), folder=tmp_path
    )
    assert calls == ["torch", "0_a", "torch", "1_b"] * 3  # each round goes over every model
    assert table["latency_ms"].tolist() == [12.0, 21.0, 31.0, 41.0]
    assert table["latency_p90_ms"].iloc[0] > 12.0  # the disturbed round shows in the spread
    assert table["speedup"].tolist() == [1.0, 1.0, 12.0 / 31.0, 21.0 / 41.0]
    with pytest.raises(ValueError, match="rounds=0"):
        deploy.deployment_table(models, SHAPE, rounds=0)
