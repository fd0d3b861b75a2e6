"""Model zoo: every registered model runs, and the parameter counts match the papers."""

from __future__ import annotations

import csv
import dataclasses

import pytest
import torch

from pose_helpers.core.paths import REPO_ROOT
from pose_helpers.models.hourglass import HourglassNet, hourglass_two_dw_separable
from pose_helpers.models.registry import create_model, list_models, model_cfg
from pose_helpers.studies.hourglass import TABLE_1_DESIGNS

# Image models; the radar models (mmwave_*) take other inputs and are tested in test_mmwave.py.
MODELS = [n for n in list_models() if not n.startswith("mmwave_")]
HOURGLASSES = list_models("hourglass_*")
TABLE_1 = REPO_ROOT.parent / "shared" / "seeds" / "tables" / "hourglass_table_1.csv"

# Designs whose count is documented to miss the report's Table 1 (see the note in
# pose_helpers/models/hourglass.py): the count we assert instead.
DOCUMENTED_MISSES = {"hourglass_two_dw_separable": 2_373_856}
# Rows without a printed count: the report says they keep another row's parameters.
SAME_PARAMS_AS = {
    "hourglass_dilated": "hourglass_baseline",
    "hourglass_two_dilated_dw_separable": "hourglass_two_dw_separable",
}


def _tiny(name: str, **kwargs) -> torch.nn.Module:
    """Build ``name`` small: width 16 for hourglasses, a 16-channel head otherwise."""
    size = {"width": 16} if name.startswith("hourglass") else {"deconv_channels": 16}
    return create_model(name, **size, **kwargs)


def _last(y_hat) -> torch.Tensor:
    return y_hat[-1] if isinstance(y_hat, list) else y_hat


def _num_params(name: str, **kwargs) -> int:
    with torch.device("meta"):  # no memory, no init cost
        return sum(p.numel() for p in create_model(name, **kwargs).parameters())


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny convolutions: a second thread only spins on a shared machine (5x slower here).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n.endswith(("101", "152")) else n for n in MODELS],
)
def test_forward_shapes_head_and_backward(name):
    model = _tiny(name)
    model.eval()
    X = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        y_hat = model(X)
        torch.testing.assert_close(
            _last(model.forward_head(model.forward_features(X))), _last(y_hat)
        )
    outputs = y_hat if isinstance(y_hat, list) else [y_hat]
    if name.startswith("hourglass"):
        assert isinstance(y_hat, list) and len(y_hat) == 2
    assert all(out.shape == (1, 16, 16, 16) for out in outputs)

    model.train()  # batch 2: the hourglass's lowest level is 1x1 at 64 px
    y_hat = model(torch.randn(2, 3, 64, 64))
    sum(out.square().mean() for out in (y_hat if isinstance(y_hat, list) else [y_hat])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [64, 96, 128, 256])
def test_hourglass_input_sizes(size):
    model = create_model("hourglass_baseline", width=8, num_stacks=1).eval()
    with torch.no_grad():
        (y_hat,) = model(torch.randn(1, 3, size, size))
    assert y_hat.shape == (1, 16, size // 4, size // 4)


def test_hourglass_kwargs_shrink_the_model():
    model = create_model(
        "hourglass_baseline", width=32, num_stacks=3, num_blocks=2, num_joints=5, depth=2
    ).eval()
    assert len(model.hg) == 3 and model.hg[0].depth == 2
    assert len(model.res[0]) == 2 and model.score[0].weight.shape == (5, 32, 1, 1)
    with torch.no_grad():
        y_hat = model(torch.randn(1, 3, 32, 32))
    assert [tuple(out.shape) for out in y_hat] == [(1, 5, 8, 8)] * 3


def test_hourglass_baseline_has_exactly_the_reference_count():
    assert _num_params("hourglass_baseline") == 6_730_912


def test_simple_baselines_resnet50_has_exactly_the_thesis_count():
    # thesis Table 5.3: 33.9M, 136.3 MB
    assert _num_params("simple_baselines_resnet50") == 33_999_440
    assert _num_params("simple_baselines_resnet50", num_joints=17) == 33_999_440 + 257


# Every default count, exactly: a regression guard finer than the 2 % of Table 1.
DEFAULT_COUNTS = {
    "hourglass_baseline": 6_730_912,
    "hourglass_dilated": 6_730_912,
    "hourglass_dw_separable_3x3": 2_805_024,
    "hourglass_dw_separable_all": 2_920_224,
    "hourglass_no_bottleneck": 17_954_528,
    "hourglass_no_skip": 6_689_568,
    "hourglass_patchify": 6_723_232,
    "hourglass_two_dilated_dw_separable": 2_373_856,
    "hourglass_two_dw_separable": 2_373_856,
    "simple_baselines_resnet18": 15_376_464,
    "simple_baselines_resnet34": 25_484_624,
    "simple_baselines_resnet50": 33_999_440,
    "simple_baselines_resnet101": 52_991_568,
    "simple_baselines_resnet152": 68_635_216,
}


def test_default_counts_cover_every_model():
    assert set(DEFAULT_COUNTS) == set(MODELS)


@pytest.mark.parametrize("name", sorted(DEFAULT_COUNTS))
def test_default_parameter_counts(name):
    assert _num_params(name) == DEFAULT_COUNTS[name]


def _table_1_rows() -> list[dict[str, str]]:
    if not TABLE_1.is_file():
        pytest.skip(f"seed table {TABLE_1} is absent")
    with TABLE_1.open(newline="") as f:
        return list(csv.DictReader(f))


def test_report_table_1_maps_every_row_to_a_model():
    rows = _table_1_rows()
    assert {row["variant"] for row in rows} == set(TABLE_1_DESIGNS)
    assert {name for name, _ in TABLE_1_DESIGNS.values()} == set(HOURGLASSES)


@pytest.mark.parametrize("variant", [v for v, (_, kwargs) in TABLE_1_DESIGNS.items() if not kwargs])
def test_hourglass_designs_match_report_table_1(variant):
    rows = {row["variant"]: row for row in _table_1_rows()}
    name, _ = TABLE_1_DESIGNS[variant]
    count = _num_params(name)
    printed = rows[variant]["params_m"]
    if name in DOCUMENTED_MISSES:
        assert count == DOCUMENTED_MISSES[name]
        assert count / 1e6 != pytest.approx(float(printed), rel=0.02), "no longer a miss"
    elif name in SAME_PARAMS_AS:
        assert not printed
        assert count == _num_params(SAME_PARAMS_AS[name])
    else:
        assert count / 1e6 == pytest.approx(float(printed), rel=0.02)


def test_documented_miss_is_stated_in_the_builder_docstring():
    doc = hourglass_two_dw_separable.__doc__
    assert "2,373,856" in doc and "1.90M" in doc


def test_merge_weights_validation():
    with pytest.raises(ValueError, match="expected length 2"):
        create_model("hourglass_baseline", width=16, merge_weights=(0.3, 0.3, 0.4))
    with pytest.raises(ValueError, match="expected length 3"):
        create_model("hourglass_baseline", width=16, num_stacks=3, merge_weights=(0.3, 0.7))


def test_merge_weights_weight_the_hourglass_outputs():
    plain = create_model("hourglass_baseline", width=16).eval()
    X = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = plain(X)
        for weights, same in (((0.0, 1.0), True), ((0.3, 0.7), False)):
            merged = create_model("hourglass_baseline", width=16, merge_weights=weights)
            merged.load_state_dict(plain.state_dict())
            y_hat = merged.eval()(X)
            torch.testing.assert_close(y_hat[0], expected[0])  # stack 1 untouched
            assert torch.allclose(y_hat[1], expected[1]) == same


@pytest.mark.parametrize("name", ["hourglass_baseline", "simple_baselines_resnet18"])
def test_zero_init_head_gives_all_zero_heatmaps(name):
    model = _tiny(name, zero_init_head=True).eval()
    with torch.no_grad():
        y_hat = model(torch.randn(1, 3, 64, 64))
    for out in y_hat if isinstance(y_hat, list) else [y_hat]:
        assert torch.count_nonzero(out) == 0
    default = _tiny(name).eval()
    with torch.no_grad():
        assert torch.count_nonzero(_last(default(torch.randn(1, 3, 64, 64)))) > 0


@pytest.mark.parametrize("name", ["hourglass_baseline", "simple_baselines_resnet18"])
def test_reset_head_changes_the_number_of_joints(name):
    model = _tiny(name)
    model.reset_head(5, zero_init=True)
    with torch.no_grad():
        y_hat = _last(model.eval()(torch.randn(1, 3, 64, 64)))
    assert y_hat.shape == (1, 5, 16, 16) and torch.count_nonzero(y_hat) == 0


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, (1, 16, 16, 16)),
        ({"deconv_kernel": 3}, (1, 16, 16, 16)),
        ({"deconv_kernel": 2}, (1, 16, 16, 16)),
        ({"num_deconv_layers": 2, "deconv_channels": [16, 8]}, (1, 16, 8, 8)),
        ({"num_joints": 4}, (1, 4, 16, 16)),
    ],
)
def test_simple_baselines_head_options(kwargs, expected):
    model = create_model("simple_baselines_resnet18", **{"deconv_channels": 16, **kwargs})
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == expected


def test_simple_baselines_head_layout():
    model = create_model("simple_baselines_resnet50")
    deconvs = [m for m in model.deconv_layers if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(deconvs) == 3
    for m in deconvs:
        assert (m.kernel_size, m.stride, m.padding, m.output_padding) == (
            (4, 4),
            (2, 2),
            (1, 1),
            (0, 0),
        )
        assert m.bias is None and m.out_channels == 256
    assert model.final_layer.kernel_size == (1, 1) and model.final_layer.bias is not None
    assert not hasattr(model, "fc") and not hasattr(model, "avgpool")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"deconv_kernel": 5}, "deconv_kernel must be 4, 3 or 2, got 5"),
        ({"deconv_channels": [256, 256]}, "expected length 3, got 2"),
        ({"backbone": "vgg16"}, "'vgg16'"),
    ],
)
def test_simple_baselines_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_model("simple_baselines_resnet18", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 30}, "multiple of 4, got 30"),
        ({"num_stacks": 0}, "num_stacks must be at least 1, got 0"),
        ({"stem": "conv5x5"}, "'conv5x5'"),
        ({"block_kwargs": {"separable": "1x1"}}, "'1x1'"),
    ],
)
def test_hourglass_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_model("hourglass_baseline", **kwargs)


def test_design_details():
    def blocks(name):
        return [m for m in create_model(name, width=16).modules() if hasattr(m, "skip")]

    assert all(b.conv2.dilation == (2, 2) for b in blocks("hourglass_dilated"))
    assert all(not b.skip and b.downsample is None for b in blocks("hourglass_no_skip"))
    patchify = create_model("hourglass_patchify", width=16)
    assert (patchify.conv1.kernel_size, patchify.conv1.stride) == ((3, 3), (2, 2))
    two_dilated = blocks("hourglass_two_dilated_dw_separable")
    assert all(b.conv2.depthwise.dilation == (2, 2) for b in two_dilated)
    assert all(b.conv1.depthwise.dilation == (1, 1) for b in two_dilated)
    assert isinstance(create_model("hourglass_baseline", width=16), HourglassNet)


def test_model_cfg_is_frozen_and_per_family():
    cfg = model_cfg("hourglass_baseline")
    assert cfg.input_size == (256, 256) and cfg.heatmap_stride == 4
    assert model_cfg("simple_baselines_resnet50").mean == (0.485, 0.456, 0.406)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.heatmap_stride = 2


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_simple_baselines_backbone_is_torchvisions_resnet(backbone):
    import torchvision

    ours = create_model(f"simple_baselines_{backbone}").state_dict()
    theirs = getattr(torchvision.models, backbone)(weights=None).state_dict()
    backbone_keys = {k for k in theirs if not k.startswith("fc.")}
    assert backbone_keys <= set(ours)
    assert all(ours[k].shape == theirs[k].shape for k in backbone_keys)


def test_simple_baselines_width_scales_the_backbone():
    model = create_model("simple_baselines_resnet50", width=16, deconv_channels=64)
    assert model.conv1.out_channels == 16
    assert model.layer4[-1].conv3.out_channels == 16 * 8 * 4
    assert model.deconv_layers[0].in_channels == 512
    out = model.eval()(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 16, 16, 16)
    with pytest.raises(ValueError, match="width"):
        create_model("simple_baselines_resnet50", width=0)
