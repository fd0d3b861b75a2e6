"""One module per study: the logic behind a chapter's tables, figures and verdicts."""

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
