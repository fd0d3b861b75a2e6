"""The one tracer of the package: Torch-Pruning's dependency graph of a network, built once
and queried by every module that needs to know how layers are coupled.

:func:`dependency_graph` builds it (one forward pass on an example input); surgery removes
channels along its groups (:mod:`pose_helpers.compress.surgery`), and the regularizers ask
it which BatchNorm reads each convolution and which convolutions touch the network's input
and output (:func:`conv_roles`, for the groups of Table 4.1).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pose_helpers.cost.bench import CONV_TYPES

__all__ = ["conv_roles", "default_input", "dependency_graph"]

#: Side of the example input when a caller gives none (enough for ResNet's five halvings).
DEFAULT_SIDE = 64


def default_input(model: nn.Module, side: int = DEFAULT_SIDE) -> torch.Tensor:
    """A zero example input for ``model``: its first convolution's input channels, ``side``
    pixels square, batch 1.

    Raises:
        ValueError: for a model without a convolution.
    """
    first = next((m for m in model.modules() if isinstance(m, CONV_TYPES)), None)
    if first is None:
        raise ValueError(f"{type(model).__name__} has no convolution to trace")
    return torch.zeros(1, first.in_channels, side, side)


def dependency_graph(model: nn.Module, example_input: Any) -> Any:
    """Torch-Pruning's ``DependencyGraph`` of ``model`` (traced in eval mode, with gradients,
    on ``example_input``: a tensor or a tuple of them); the model's mode is restored.

    Raises:
        ValueError: naming the model, when tracing fails.
    """
    import torch_pruning as tp

    inputs = tuple(example_input) if isinstance(example_input, list | tuple) else (example_input,)
    was_training = model.training
    try:
        with torch.enable_grad():
            model.eval()
            return tp.DependencyGraph().build_dependency(
                model, example_inputs=inputs, verbose=False
            )
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(
            f"tracing {type(model).__name__} with Torch-Pruning's dependency graph failed: {err}"
        ) from err
    finally:
        model.train(was_training)


def conv_roles(
    model: nn.Module, example_input: Any = None
) -> tuple[dict[str, str], set[str], set[str]]:
    """Where each convolution sits, from :func:`dependency_graph`: (convolution -> the
    BatchNorm that alone reads it, convolutions whose output is a model output, convolutions
    that read a model input). ``example_input`` defaults to :func:`default_input`."""
    graph = dependency_graph(
        model, default_input(model) if example_input is None else example_input
    )
    names = {m: n for n, m in model.named_modules()}
    bn_after: dict[str, str] = {}
    outputs: set[str] = set()
    inputs: set[str] = set()
    for module, node in graph.module2node.items():
        if not isinstance(module, CONV_TYPES):
            continue
        name = names[module]
        readers = list(node.outputs)
        if not readers:
            outputs.add(name)
        elif len(readers) == 1 and isinstance(readers[0].module, nn.modules.batchnorm._BatchNorm):
            bn_after[name] = names[readers[0].module]
        if not node.inputs:
            inputs.add(name)
    return bn_after, outputs, inputs
