"""Model registry: one dict of builders, looked up by name.

Follows torchvision's ``models/_api.py``: ``@register_model()`` stores a builder
under its function name (or the name given) and refuses duplicates;
``create_model(name, **kwargs)`` calls it, dropping ``None`` keyword arguments
(as timm does) so that a sweep can pass "unset" values; ``list_models`` returns
sorted names. Each builder comes with a small frozen :class:`ModelCfg` holding
its data settings (input size, heatmap stride, normalization), which stay out
of the ``nn.Module``.

The built-in families live in :mod:`pose_helpers.models`; the query functions
import that package on first use, so ``ph.registry.create_model(...)`` works
without importing the models yourself.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "ModelCfg",
    "create_model",
    "is_model",
    "list_models",
    "model_cfg",
    "register_model",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelCfg:
    """Data settings that belong with a model but not inside it.

    Attributes:
        input_size: ``(height, width)`` of the input crop the model was designed for.
        heatmap_stride: input pixels per heatmap pixel (4: a 256 px crop gives 64 px heatmaps).
        mean: per-channel RGB mean used to normalize inputs in [0, 1].
        std: per-channel RGB standard deviation.
        checkpoint: path or URL of trained weights, ``None`` when there are none.
    """

    input_size: tuple[int, int] = (256, 256)
    heatmap_stride: int = 4
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    checkpoint: str | None = None


_MODELS: dict[str, Callable[..., Any]] = {}
_CFGS: dict[str, ModelCfg] = {}

F = TypeVar("F", bound=Callable[..., Any])


def register_model(name: str | None = None, *, cfg: ModelCfg | None = None) -> Callable[[F], F]:
    """Return a decorator that registers a model builder.

    Args:
        name: registry key; defaults to the builder's ``__name__``.
        cfg: the builder's data settings; defaults to ``ModelCfg()``.

    Returns:
        A decorator that stores the builder and returns it unchanged.

    Raises:
        TypeError: if ``name`` is not a string (e.g. ``@register_model`` without parentheses).
        ValueError: if the name is already registered.
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(
            f"register_model takes a name string or None, got {name!r}; "
            "write @register_model() with parentheses"
        )

    def wrapper(fn: F) -> F:
        key = name if name is not None else fn.__name__
        if key in _MODELS:
            raise ValueError(f"a model named {key!r} is already registered")
        _MODELS[key] = fn
        _CFGS[key] = cfg if cfg is not None else ModelCfg()
        return fn

    return wrapper


def _lookup(name: str) -> str:
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}{hint} (list_models() shows all {len(_MODELS)} names)"
        )
    return name


def create_model(name: str, **kwargs: Any) -> Any:
    """Build the registered model ``name``.

    Keyword arguments whose value is ``None`` are dropped, so the builder's own
    default applies (a sweep can pass ``width=None`` for "unset").

    Args:
        name: a name from :func:`list_models`.
        **kwargs: passed on to the builder.

    Returns:
        The model (an ``nn.Module``).

    Raises:
        ValueError: for an unknown name; the message lists the closest names.
    """
    builder = _MODELS[_lookup(name)]
    return builder(**{k: v for k, v in kwargs.items() if v is not None})


def list_models(pattern: str = "*") -> list[str]:
    """Return the sorted registered names matching the shell-style ``pattern``."""
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def is_model(name: str) -> bool:
    """Return whether ``name`` is registered."""
    return name in _MODELS


def model_cfg(name: str) -> ModelCfg:
    """Return the data settings (:class:`ModelCfg`) registered with ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the closest names.
    """
    return _CFGS[_lookup(name)]
