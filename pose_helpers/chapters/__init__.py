"""The book's side of the package: the chapter runner (:mod:`.runner`, the CLI's engine),
display helpers for notebooks (:mod:`.display`) and the papers' numbers (:mod:`.references`)."""

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
