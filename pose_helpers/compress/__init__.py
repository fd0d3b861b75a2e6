"""Compression methods: sparsity regularizers and Algorithm 1 (:mod:`.regularizers`), and
channel surgery on zeroed channels (:mod:`.surgery`)."""

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
