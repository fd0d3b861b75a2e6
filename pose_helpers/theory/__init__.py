"""The thesis's chapter 4 in code: over-fitting and L1/L2 regression (:mod:`.regression`)
and the Bayesian group lasso (:mod:`.bayes_group_lasso`)."""

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
