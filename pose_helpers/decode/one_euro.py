"""The 1-euro filter (Casiez, Roussel & Vogel, CHI 2012) against frame-to-frame jitter (seed 001).

A low-pass filter whose cutoff rises with the signal's speed: at rest it smooths strongly
(low ``min_cutoff``: little jitter), in fast motion it follows closely (``beta`` raises the
cutoff by the filtered speed: little lag). Per scalar signal, at sampling rate ``freq``:

    alpha(c) = 1 / (1 + freq / (2 pi c))
    dx_hat_t = alpha(d_cutoff) * (x_t - x_hat_{t-1}) * freq + (1 - alpha(d_cutoff)) * dx_hat_{t-1}
    c_t = min_cutoff + beta * |dx_hat_t|
    x_hat_t = alpha(c_t) * x_t + (1 - alpha(c_t)) * x_hat_{t-1}

:func:`one_euro` filters whole sequences (every joint coordinate is its own signal);
:func:`jitter` is the mean magnitude of the joints' frame-to-frame acceleration.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["OneEuroFilter", "jitter", "one_euro"]


def _positive(name: str, value: Any) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return value


class OneEuroFilter:
    """A 1-euro filter over arrays of any shape, one sample per call.

    Args:
        freq: samples per second (frames per second of the sequence).
        min_cutoff: the cutoff frequency at rest (Hz); lower smooths more.
        beta: how fast the cutoff rises with speed (>= 0); higher lags less.
        d_cutoff: the cutoff of the speed estimate (Hz).

    Raises:
        ValueError: for a non-positive frequency or cutoff, or a negative ``beta``.
    """

    def __init__(
        self, freq: float, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0
    ) -> None:
        self.freq = _positive("freq", freq)
        self.min_cutoff = _positive("min_cutoff", min_cutoff)
        self.d_cutoff = _positive("d_cutoff", d_cutoff)
        beta = float(beta)
        if not (math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0; got {beta!r}")
        self.beta = beta
        self.x_hat: np.ndarray | None = None
        self.dx_hat: np.ndarray | None = None

    def _alpha(self, cutoff: Any) -> Any:
        return 1.0 / (1.0 + self.freq / (2 * math.pi * cutoff))

    def __call__(self, x: Any) -> np.ndarray:
        """The filtered value of the next sample ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if self.x_hat is None:
            self.x_hat, self.dx_hat = x.copy(), np.zeros_like(x)
            return x.copy()
        a_d = self._alpha(self.d_cutoff)
        self.dx_hat = a_d * (x - self.x_hat) * self.freq + (1 - a_d) * self.dx_hat
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self.dx_hat))
        self.x_hat = a * x + (1 - a) * self.x_hat
        return self.x_hat.copy()


def one_euro(
    sequence: Any, freq: float, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0
) -> np.ndarray:
    """A whole sequence (frames first: ``(T, ...)``) through one :class:`OneEuroFilter`.

    Raises:
        ValueError: for an empty sequence or bad filter parameters.
    """
    seq = np.asarray(sequence, dtype=np.float64)
    if seq.ndim < 1 or len(seq) == 0:
        raise ValueError(f"sequence must have at least one frame; got shape {seq.shape}")
    f = OneEuroFilter(freq, min_cutoff, beta, d_cutoff)
    return np.stack([f(frame) for frame in seq])


def jitter(sequence: Any) -> float:
    """Mean magnitude of the joints' frame-to-frame acceleration, ``|x_{t+1} - 2 x_t +
    x_{t-1}|``, for a ``(T, J, D)`` sequence (NaN with fewer than 3 frames), in the
    sequence's units per frame squared."""
    seq = np.asarray(sequence, dtype=np.float64)
    if seq.ndim != 3:
        raise ValueError(f"sequence must have shape (T, J, D); got {seq.shape}")
    if len(seq) < 3:
        return math.nan
    acc = seq[2:] - 2 * seq[1:-1] + seq[:-2]
    return float(np.linalg.norm(acc, axis=2).mean())
