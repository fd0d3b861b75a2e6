"""Infrastructure every study uses: paths, atomic files, seeds and threads, progress bars,
run keys and the run store, and the sweep runner. Nothing here knows about poses."""

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
