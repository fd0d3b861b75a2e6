"""Model registry: lookup, duplicate names, ``None`` kwargs and helpful errors."""

from __future__ import annotations

import pytest

from pose_helpers.models import registry
from pose_helpers.models.registry import create_model, is_model, list_models, register_model


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry that the test may change."""
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_CFGS", dict(registry._CFGS))


def test_list_models_is_sorted_and_filters():
    names = list_models()
    assert names == sorted(names) and len(names) == len(set(names))
    assert "hourglass_baseline" in names and "simple_baselines_resnet50" in names
    assert list_models("simple_baselines_*") == [n for n in names if n.startswith("simple_")]
    assert list_models("no_such_*") == []


def test_is_model():
    assert is_model("hourglass_baseline")
    assert not is_model("hourglass")


def test_unknown_name_lists_close_names():
    with pytest.raises(ValueError) as info:
        create_model("hourglass_basline")
    message = str(info.value)
    assert "'hourglass_basline'" in message and "'hourglass_baseline'" in message
    assert "list_models()" in message
    with pytest.raises(ValueError, match="list_models"):
        registry.model_cfg("zzz")


def test_duplicate_registration_raises(scratch_registry):
    with pytest.raises(ValueError, match="'hourglass_baseline' is already registered"):
        register_model("hourglass_baseline")(lambda **kwargs: None)

    @register_model()
    def scratch_model(**kwargs):
        return kwargs

    with pytest.raises(ValueError, match="already registered"):
        register_model()(scratch_model)


def test_register_model_needs_parentheses():
    with pytest.raises(TypeError, match="parentheses"):
        register_model(lambda: None)


def test_create_model_drops_none_kwargs(scratch_registry):
    @register_model("scratch_echo", cfg=registry.ModelCfg(heatmap_stride=2))
    def echo(*, a=1, b=2):
        return {"a": a, "b": b}

    assert create_model("scratch_echo", a=None, b=5) == {"a": 1, "b": 5}
    assert registry.model_cfg("scratch_echo").heatmap_stride == 2
    model = create_model("hourglass_baseline", width=16, num_stacks=None, merge_weights=None)
    assert model.num_stacks == 2
