"""Tests for pose_helpers.cost.sparsity: correctness of the pruned convs and the byte arithmetic.

No timing assertions: timings depend on the machine; only the table's shape is checked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pose_helpers.cost import bench
from pose_helpers.cost import sparsity as st


def test_random_sparse_zeroes_the_exact_fraction():
    pair = st.make_conv_pair(8, seed=0)
    st.random_sparse_(pair.conv1, 0.75, seed=1)
    w = pair.conv1.weight
    assert int((w == 0).sum()) == round(0.75 * w.numel())
    assert w.shape == (8, 8, 3, 3), "random sparsity keeps the dense shape"
    with pytest.raises(ValueError, match="sparsity"):
        st.random_sparse_(pair.conv1, 1.0)


def test_pruned_out_channels_equal_the_dense_output_on_kept_channels():
    conv = torch.nn.Conv2d(6, 10, 3, padding=1, bias=True)
    keep = [0, 3, 4, 9]
    small = st.prune_conv_out_channels(conv, keep)
    x = torch.randn(2, 6, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(small(x), conv(x)[:, keep])
    assert small.weight.shape == (4, 6, 3, 3)


def test_structured_pair_equals_dense_pair_with_zeroed_channels():
    torch.manual_seed(0)
    pair = st.make_conv_pair(16, seed=0)
    small, keep = st.structured_pair(pair, 0.75, seed=3)
    assert keep.numel() == 4
    assert small.conv1.weight.shape == (4, 16, 3, 3)
    assert small.conv2.weight.shape == (16, 4, 3, 3)
    removed = torch.ones(16, dtype=torch.bool)
    removed[keep] = False
    with torch.no_grad():
        pair.conv1.weight[removed] = 0.0  # the structured zeros a group prior would leave
    x = torch.randn(1, 16, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(small(x), pair(x), rtol=1e-5, atol=1e-6)
    assert small.num_weights() == pair.num_weights() // 4


def test_bad_channel_indices_raise():
    conv = torch.nn.Conv2d(4, 4, 3)
    with pytest.raises(ValueError, match="duplicate"):
        st.prune_conv_out_channels(conv, [1, 1])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        st.prune_conv_in_channels(conv, [0, 4])
    with pytest.raises(ValueError, match="zero"):
        st.prune_conv_out_channels(conv, [])


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta state")
def test_csr_bytes_arithmetic_matches_torch_storage():
    assert st.csr_nbytes(3, 4, 5) == 5 * (4 + 4) + 4 * 4
    w = torch.zeros(6, 20)
    w[torch.rand(6, 20, generator=torch.Generator().manual_seed(0)) < 0.3] = 1.0
    csr = w.to_sparse_csr()
    actual = sum(
        t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(), csr.crow_indices())
    )
    assert st.csr_nbytes(6, 20, int((w != 0).sum()), value_bytes=4, index_bytes=8) == actual
    with pytest.raises(ValueError):
        st.csr_nbytes(2, 2, 5)


def test_csr_conv_matches_the_dense_conv():
    pair = st.make_conv_pair(8, seed=0)
    st.random_sparse_(pair.conv1, 0.5, seed=0)
    csr = st._CSRConv(pair.conv1)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(csr(x), pair.conv1(x), rtol=1e-5, atol=1e-5)
    assert csr.nnz == int((pair.conv1.weight != 0).sum())


def test_memory_table():
    df = st.memory_table(channels=64, size=8, sparsity_levels=(0.5, 0.9))
    dense = df[df["storage"] == "dense"].iloc[0]
    assert dense["weights_kib"] == 2 * 64 * 64 * 9 * 4 / 1024
    structured = df[df["storage"] == "structured"].set_index("sparsity")
    assert structured.loc[0.5, "weights_fraction"] == pytest.approx(0.5)
    assert structured.loc[0.9, "activation_kib"] == pytest.approx(round(0.1 * 64) * 64 * 4 / 1024)
    csr = df[df["storage"] == "random, CSR"].set_index("sparsity")
    assert csr.loc[0.5, "weights_fraction"] > 1.0, (
        "value + index per non-zero: CSR at 50% is larger than dense"
    )
    assert csr.loc[0.9, "weights_fraction"] == pytest.approx(0.2, abs=0.01)
    random_dense = df[df["storage"] == "random, dense tensor"]
    assert (random_dense["weights_fraction"] == 1.0).all()


def test_benchmark_table_shape_and_threads_restored():
    before = torch.get_num_threads()
    df = st.benchmark_sparsity(
        channels=8, size=8, sparsity_levels=(0.5, 0.9), repeats=2, warmup=1, threads=1
    )
    assert torch.get_num_threads() == before
    assert len(df) == 1 + 3 * 2
    assert set(df["method"]) == {"dense", "random", "random (CSR)", "structured"}
    assert df.loc[df["method"] == "dense", "speedup"].iloc[0] == 1.0
    assert (df["median_ms"] > 0).all() and (df["iqr_ms"] >= 0).all()
    frac = df.set_index(["method", "sparsity"])["flops_fraction"]
    assert frac[("structured", 0.5)] == 0.5 and frac[("random", 0.9)] == 1.0


def test_verdict_on_a_fixed_table():
    df = pd.DataFrame(
        {
            "method": ["dense", "random", "structured", "random", "structured"],
            "sparsity": [0.0, 0.5, 0.5, 0.9, 0.9],
            "speedup": [1.0, 1.02, 1.9, 0.98, 6.0],
        }
    )
    v = st.verdict(df)
    assert v["sparsity"] == 0.9
    assert v["structured_over_random"] == pytest.approx(6.0 / 0.98)
    assert v["structured_wins"] and v["random_saves_nothing"]
    assert np.isnan(v["csr_speedup"])
    df.loc[3, "speedup"] = 5.0
    assert not st.verdict(df)["structured_wins"]


def test_time_calls_counts_calls():
    # sparsity times with bench's timing loop (time_callable moved there as time_calls)
    calls = []
    times = bench.time_calls(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6 and times.shape == (4,)
    with pytest.raises(ValueError):
        bench.time_calls(lambda: None, repeats=0)


def test_benchmark_refuses_a_bad_thread_count():
    with pytest.raises(ValueError, match="threads=0"):
        st.benchmark_sparsity(channels=8, size=8, sparsity_levels=(0.5,), repeats=1, threads=0)


def _timing_table(random_speedups, structured_speedups, csr=None):
    rows = [{"method": "dense", "sparsity": 0.0, "speedup": 1.0}]
    for s, r, t in zip((0.5, 0.9), random_speedups, structured_speedups, strict=True):
        rows += [
            {"method": "random", "sparsity": s, "speedup": r},
            {"method": "structured", "sparsity": s, "speedup": t},
        ]
        if csr is not None:
            rows.append({"method": "random (CSR)", "sparsity": s, "speedup": csr})
    return pd.DataFrame(rows)


def test_verdict_markdown_states_the_measured_ratios():
    text = st.verdict_markdown(_timing_table([1.02, 0.98], [1.9, 6.0], csr=0.5))
    assert text == (
        "At 90% sparsity the structured pair runs 6.0× faster than dense, 6.1× faster than the "
        "randomly sparse pair, whose speed-up stays between 0.98× and 1.02× at every level: "
        "dense speed, up to timing noise, and the CSR kernel on the random zeros reaches 0.50×. "
        "Only structured sparsity turns zeros into time saved."
    )
    busy = st.verdict_markdown(_timing_table([1.0, 1.0], [1.1, 1.2]))
    assert busy.startswith("On this run the measurement is inconclusive: at 90% sparsity")
    assert "CSR" not in busy and busy.endswith(
        "Only structured sparsity turns zeros into time saved."
    )
