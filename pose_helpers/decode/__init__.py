"""From a network's outputs to the joints a user sees: distribution-aware sub-pixel decoding
of heatmaps (:mod:`.dark`) and the 1-euro filter against frame-to-frame jitter
(:mod:`.one_euro`). The argmax-and-quarter-pixel decoding every chapter uses is
:func:`pose_helpers.metrics.heatmaps_to_coords`."""

from __future__ import annotations

from .dark import dark_coords
from .one_euro import OneEuroFilter, jitter, one_euro

__all__ = ["OneEuroFilter", "dark_coords", "jitter", "one_euro"]
