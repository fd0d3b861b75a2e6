"""What a model costs: parameters, MACs, memory and latency (:mod:`.bench`), sparse-kernel
timing (:mod:`.sparsity`), and deployment runtimes (:mod:`.deploy`: ONNX Runtime)."""

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
