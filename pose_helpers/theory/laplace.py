"""The Laplace approximation of the thesis's section 4.3: eqs. 4.8-4.14 in one dimension
(a density replaced by the Gaussian that matches its log in value, slope and curvature at
the mode) and eq. 4.16 in ``k`` dimensions, checked on gamma kernels whose normalizer is
known.

Defined for the chapter ``notebooks/regularization_theory.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "gamma_kernel_log_density",
    "laplace_approximation",
    "laplace_log_normalizer_nd",
    "laplace_table",
    "LaplaceApprox",
    "numeric_normalizer",
    "plot_laplace",
]


@dataclass(frozen=True)
class LaplaceApprox:
    """A Laplace approximation around the mode ``x0`` (eqs. 4.9-4.14)."""

    x0: float  # the mode, where c_1 = 0 (eq. 4.10)
    c: float  # -d^2/dx^2 ln P at x0 (eq. 4.12)
    log_p0: float  # ln P(x0)

    @property
    def log_z(self) -> float:
        """``ln Z_Q = ln P(x0) + 0.5 ln(2 pi / c)`` (eq. 4.14)."""
        return self.log_p0 + 0.5 * np.log(2 * np.pi / self.c)

    @property
    def z(self) -> float:
        return float(np.exp(self.log_z))

    def log_q(self, x: np.ndarray) -> np.ndarray:
        """Unnormalized ``ln Q(x) = ln P(x0) - c (x - x0)^2 / 2`` (eqs. 4.11, 4.13)."""
        return self.log_p0 - 0.5 * self.c * (np.asarray(x, dtype=float) - self.x0) ** 2

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """The normalized approximation ``Q(x) / Z_Q = N(x | x0, 1/c)``."""
        return np.exp(self.log_q(x) - self.log_z)


def laplace_approximation(
    log_p: Callable[[np.ndarray], np.ndarray],
    bounds: tuple[float, float],
    *,
    d2_log_p: Callable[[float], float] | None = None,
    step: float = 1e-4,
) -> LaplaceApprox:
    """Laplace-approximate the unnormalized 1-D density ``exp(log_p)`` (eqs. 4.8-4.14).

    The mode is found numerically inside ``bounds``; ``c`` (eq. 4.12) comes from
    ``d2_log_p`` when given, else from a central second difference with step
    ``step * max(1, |x0|)``.

    Raises:
        ValueError: if the curvature at the mode is not positive and finite (no peak).
    """
    from scipy.optimize import minimize_scalar

    lo, hi = bounds
    res = minimize_scalar(
        lambda x: -float(log_p(x)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-10}
    )
    x0 = float(res.x)
    if d2_log_p is not None:
        c = -float(d2_log_p(x0))
    else:
        h = step * max(1.0, abs(x0))
        c = -float(log_p(x0 + h) - 2 * log_p(x0) + log_p(x0 - h)) / h**2
    if not (np.isfinite(c) and c > 0):
        raise ValueError(f"curvature c = {c} at x0 = {x0} is not positive: no peak to approximate")
    return LaplaceApprox(x0=x0, c=c, log_p0=float(log_p(x0)))


def numeric_normalizer(
    log_p: Callable[[np.ndarray], np.ndarray], bounds: tuple[float, float]
) -> float:
    """``Z_p = integral of exp(log_p)`` over ``bounds`` by adaptive quadrature (eq. 4.8)."""
    from scipy.integrate import quad

    value, _ = quad(lambda x: np.exp(log_p(x)), *bounds, limit=200, epsabs=0.0, epsrel=1e-11)
    return float(value)


def laplace_log_normalizer_nd(log_p0: float, hessian: np.ndarray) -> float:
    """``ln Z_A = ln P(x0) + (k/2) ln(2 pi) - (1/2) ln det A`` (eq. 4.16).

    Raises:
        ValueError: if ``A`` (the negative Hessian of ``ln P`` at the mode) is not symmetric
            positive definite.
    """
    a = np.atleast_2d(np.asarray(hessian, dtype=float))
    if a.shape[0] != a.shape[1] or not np.allclose(a, a.T):
        raise ValueError(f"A must be a symmetric square matrix, got shape {a.shape}")
    sign, logdet = np.linalg.slogdet(a)
    if sign <= 0 or np.linalg.eigvalsh(a).min() <= 0:
        raise ValueError("A must be positive definite (the mode must be a peak)")
    k = a.shape[0]
    return float(log_p0 + 0.5 * k * np.log(2 * np.pi) - 0.5 * logdet)


def gamma_kernel_log_density(shape: float) -> Callable[[np.ndarray], np.ndarray]:
    """``ln P(x) = (shape - 1) ln x - x`` for ``x > 0``: a skewed density with ``Z_p = Gamma(shape)``.

    Its Laplace approximation has ``x0 = shape - 1`` and ``c = 1 / (shape - 1)``, so eq. 4.14
    becomes Stirling's formula for ``Gamma(shape)``.
    """
    if shape <= 1:
        raise ValueError(f"shape must be > 1 for an interior mode, got {shape}")

    def log_p(x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, (shape - 1) * np.log(np.where(x > 0, x, 1.0)) - x, -np.inf)

    return log_p


def laplace_table(shapes: Sequence[float]) -> pd.DataFrame:
    """Eq. 4.14 against the numeric integral (and the exact ``Gamma(shape)``) for gamma kernels."""
    from scipy.special import gammaln

    rows = []
    for a in shapes:
        log_p = gamma_kernel_log_density(a)
        hi = a + 60 * np.sqrt(a) + 60
        approx = laplace_approximation(log_p, (1e-9, hi))
        z_num = numeric_normalizer(log_p, (0.0, hi))
        rows.append(
            {
                "shape": float(a),
                "x0": approx.x0,
                "c": approx.c,
                "Z_laplace": approx.z,
                "Z_numeric": z_num,
                "Z_exact": float(np.exp(gammaln(a))),
                "ratio": approx.z / z_num,
            }
        )
    return pd.DataFrame(rows)


def plot_laplace(shape: float):
    """A gamma kernel against its Laplace approximation (eqs. 4.11-4.14), linear and log."""
    import matplotlib.pyplot as plt
    from scipy.special import gammaln

    log_p = gamma_kernel_log_density(shape)
    hi = shape + 5 * np.sqrt(shape) + 2
    approx = laplace_approximation(log_p, (1e-9, hi))
    z_num = numeric_normalizer(log_p, (0.0, shape + 60 * np.sqrt(shape) + 60))
    x = np.linspace(1e-3, hi, 600)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    ax = axes[0]
    ax.plot(x, np.exp(log_p(x) - np.log(z_num)), label="P(x) / Z_p (numeric, eq. 4.8)")
    ax.plot(x, approx.pdf(x), "--", label="Q(x) / Z_Q (eqs. 4.13, 4.14)")
    ax.axvline(approx.x0, color="grey", ls=":", lw=1)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(f"x^{shape - 1:g} e^(−x): Z_Q / Z_p = {approx.z / z_num:.3f}")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(x, log_p(x) - gammaln(shape), label="ln P(x) − ln Γ(a)")
    ax.plot(x, approx.log_q(x) - gammaln(shape), "--", label="2nd-order Taylor (eq. 4.11)")
    ax.set_ylim(approx.log_p0 - gammaln(shape) - 6, approx.log_p0 - gammaln(shape) + 1)
    ax.set_xlabel("x")
    ax.set_ylabel("log density")
    ax.set_title(f"around the mode x₀ = {approx.x0:.2f}, c = {approx.c:.3f}")
    ax.legend(fontsize=8, loc="upper right")
    return fig
