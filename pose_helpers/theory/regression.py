"""Over-fitting, weight decay and the geometry of L2 versus L1 on small regressions.

Three pieces, in the order of thesis section 4.1:

* polynomial regression of growing degree on noisy samples of ``sin(2 pi x)`` (the thesis's
  Figure 4.1, after Bishop), least squares (eq. 4.2) and ridge (eq. 4.3);
* the constraint view of eqs. 4.3/4.4: a quadratic loss minimized inside an L2 disc or an
  L1 diamond, solved numerically by projected gradient;
* lasso versus ridge coefficient paths on scikit-learn's bundled diabetes data.

Defined for the chapter ``notebooks/regularization_theory.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "PolyData",
    "constrained_optimum",
    "diabetes_paths",
    "fit_polynomial",
    "loss_grid",
    "make_poly_data",
    "poly_features",
    "polynomial_sweep",
    "predict_polynomial",
    "project_l1_ball",
    "project_l2_ball",
    "quadratic_loss",
    "ridge_sweep",
    "rmse",
]


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class PolyData:
    """Train and test samples of ``y = sin(2 pi x) + noise`` on ``x in [0, 1]``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    noise: float

    @staticmethod
    def truth(x: np.ndarray) -> np.ndarray:
        return np.sin(2 * np.pi * np.asarray(x, dtype=float))


def make_poly_data(
    n_samples: int = 12, *, noise: float = 0.3, n_test: int = 1000, seed: int = 0
) -> PolyData:
    """Draw ``n_samples`` noisy training points and ``n_test`` noisy test points."""
    if n_samples < 2 or n_test < 1:
        raise ValueError(f"need n_samples >= 2 and n_test >= 1, got {n_samples=} {n_test=}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(0, 1, n_samples))
    x_test = rng.uniform(0, 1, n_test)
    y_train = PolyData.truth(x_train) + noise * rng.standard_normal(n_samples)
    y_test = PolyData.truth(x_test) + noise * rng.standard_normal(n_test)
    return PolyData(x_train, y_train, x_test, y_test, noise)


# --------------------------------------------------------------------------- polynomial fits
def poly_features(x: np.ndarray, degree: int) -> np.ndarray:
    """Columns ``1, t, t^2, ..., t^degree`` with ``t = 2x - 1`` (better conditioned on [0, 1])."""
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    t = 2 * np.asarray(x, dtype=float) - 1
    return np.vander(t, degree + 1, increasing=True)


def fit_polynomial(x: np.ndarray, y: np.ndarray, degree: int, *, lam: float = 0.0) -> np.ndarray:
    """Minimize ``RSS + lam * sum_{j>=1} beta_j^2`` (eq. 4.3; ``lam = 0`` is eq. 4.2).

    The intercept ``beta_0`` is not penalized, as in the thesis. Solved as the least-squares
    problem ``[Phi; sqrt(lam) D] beta ~ [y; 0]`` with ``D = diag(0, 1, ..., 1)``, which stays
    well posed when ``degree + 1 > len(x)``.
    """
    if lam < 0 or not np.isfinite(lam):
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    phi = poly_features(x, degree)
    y = np.asarray(y, dtype=float)
    if lam > 0:
        d = np.sqrt(lam) * np.eye(degree + 1)[1:]
        phi = np.vstack([phi, d])
        y = np.concatenate([y, np.zeros(degree)])
    beta, *_ = np.linalg.lstsq(phi, y, rcond=None)
    return beta


def predict_polynomial(beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    return poly_features(x, len(beta) - 1) @ beta


def rmse(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(y_hat)) ** 2)))


def polynomial_sweep(data: PolyData, degrees: Sequence[int]) -> pd.DataFrame:
    """Train and test RMSE of the least-squares polynomial of each degree."""
    rows = []
    for degree in degrees:
        beta = fit_polynomial(data.x_train, data.y_train, degree)
        rows.append(
            {
                "degree": int(degree),
                "train_rmse": rmse(data.y_train, predict_polynomial(beta, data.x_train)),
                "test_rmse": rmse(data.y_test, predict_polynomial(beta, data.x_test)),
                "coef_norm": float(np.linalg.norm(beta[1:])),
            }
        )
    return pd.DataFrame(rows)


def ridge_sweep(data: PolyData, degree: int, lambdas: Sequence[float]) -> pd.DataFrame:
    """Train and test RMSE and the coefficient norm of the ridge polynomial for each lambda."""
    rows = []
    for lam in lambdas:
        beta = fit_polynomial(data.x_train, data.y_train, degree, lam=float(lam))
        rows.append(
            {
                "lam": float(lam),
                "train_rmse": rmse(data.y_train, predict_polynomial(beta, data.x_train)),
                "test_rmse": rmse(data.y_test, predict_polynomial(beta, data.x_test)),
                "coef_norm": float(np.linalg.norm(beta[1:])),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- constraint geometry
def quadratic_loss(beta: np.ndarray, center: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """``(beta - center)^T H (beta - center)`` for ``beta`` of shape ``(..., d)``."""
    diff = np.asarray(beta, dtype=float) - np.asarray(center, dtype=float)
    return np.einsum("...i,ij,...j->...", diff, np.asarray(hessian, dtype=float), diff)


def loss_grid(
    center: np.ndarray, hessian: np.ndarray, *, extent: float = 2.5, n: int = 201
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Meshgrid ``(B1, B2, loss)`` of a 2-D quadratic loss on ``[-extent, extent]^2`` (for contours)."""
    b = np.linspace(-extent, extent, n)
    b1, b2 = np.meshgrid(b, b)
    return b1, b2, quadratic_loss(np.stack([b1, b2], axis=-1), center, hessian)


def project_l2_ball(v: np.ndarray, radius: float) -> np.ndarray:
    """Euclidean projection onto ``{b : ||b||_2 <= radius}``."""
    v = np.asarray(v, dtype=float)
    norm = np.linalg.norm(v)
    return v if norm <= radius else v * (radius / norm)


def project_l1_ball(v: np.ndarray, radius: float) -> np.ndarray:
    """Euclidean projection onto ``{b : ||b||_1 <= radius}`` (sort-based, Duchi et al. 2008)."""
    v = np.asarray(v, dtype=float)
    if np.abs(v).sum() <= radius:
        return v.copy()
    u = np.sort(np.abs(v))[::-1]
    css = np.cumsum(u)
    k = np.arange(1, len(u) + 1)
    rho = np.nonzero(u * k > css - radius)[0][-1]
    theta = (css[rho] - radius) / (rho + 1.0)
    return np.sign(v) * np.maximum(np.abs(v) - theta, 0.0)


def constrained_optimum(
    center: np.ndarray,
    hessian: np.ndarray,
    radius: float,
    *,
    norm: str = "l1",
    max_iter: int = 20000,
    tol: float = 1e-12,
) -> np.ndarray:
    """Minimize ``quadratic_loss(beta)`` subject to ``||beta||_norm <= radius``.

    Accelerated projected gradient (FISTA) with step ``1 / (2 * lambda_max(H))``; the
    constrained form of eq. 4.3 (``norm="l2"``) and eq. 4.4 (``norm="l1"``).

    Raises:
        ValueError: for an unknown ``norm``, a non-positive radius or a Hessian that is not
            symmetric positive definite.
    """
    project = {"l1": project_l1_ball, "l2": project_l2_ball}.get(norm)
    if project is None:
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    hessian = np.asarray(hessian, dtype=float)
    center = np.asarray(center, dtype=float)
    eig = np.linalg.eigvalsh(hessian)
    if not np.allclose(hessian, hessian.T) or eig.min() <= 0:
        raise ValueError(f"hessian must be symmetric positive definite, eigenvalues {eig}")
    step = 1.0 / (2.0 * eig.max())
    beta = project(np.zeros_like(center), radius)
    z, t = beta.copy(), 1.0
    for _ in range(max_iter):
        new = project(z - step * 2.0 * hessian @ (z - center), radius)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = new + ((t - 1) / t_new) * (new - beta)
        done = np.linalg.norm(new - beta) < tol
        beta, t = new, t_new
        if done:
            break
    return beta


# --------------------------------------------------------------------------- diabetes paths
def diabetes_paths(n_alphas: int = 60) -> pd.DataFrame:
    """Lasso (eq. 4.4) and ridge (eq. 4.3) coefficient paths on scikit-learn's diabetes data.

    Features are standardized and the target centered; both penalties use the scale
    ``(1 / 2n) RSS + alpha * penalty`` of scikit-learn's ``lasso_path``, with ridge solved
    in closed form ``(X^T X / n + alpha I)^-1 X^T y / n``. The data set ships inside
    scikit-learn (no download).

    Returns:
        A long table: ``method``, ``alpha``, ``feature``, ``coef`` and ``shrinkage``
        (``||beta||_1 / ||beta_OLS||_1`` for lasso, ``||beta||_2 / ||beta_OLS||_2`` for ridge).
    """
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import lasso_path

    data = load_diabetes()
    x = data.data - data.data.mean(axis=0)
    x = x / x.std(axis=0)
    y = data.target - data.target.mean()
    n = len(y)
    names = list(data.feature_names)
    ols, *_ = np.linalg.lstsq(x, y, rcond=None)

    alpha_max = np.abs(x.T @ y).max() / n  # the smallest alpha at which lasso is all zero
    lasso_alphas = alpha_max * np.logspace(0, -3, n_alphas)
    alphas, coefs, _ = lasso_path(x, y, alphas=lasso_alphas, max_iter=100_000, tol=1e-10)
    gram, xty = x.T @ x / n, x.T @ y / n
    ridge_alphas = np.logspace(3, -3, n_alphas)
    ridge = np.stack(
        [np.linalg.solve(gram + a * np.eye(len(names)), xty) for a in ridge_alphas], axis=1
    )

    frames = []
    for method, alph, coef, order in (
        ("lasso", alphas, coefs, 1),
        ("ridge", ridge_alphas, ridge, 2),
    ):
        shrink = np.linalg.norm(coef, ord=order, axis=0) / np.linalg.norm(ols, ord=order)
        for j, name in enumerate(names):
            frames.append(
                pd.DataFrame(
                    {
                        "method": method,
                        "alpha": alph,
                        "feature": name,
                        "coef": coef[j],
                        "shrinkage": shrink,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- figures
def plot_overfitting(data: PolyData, fit_degrees: Sequence[int], sweep: pd.DataFrame):
    """Fits of the given degrees next to train/test RMSE against the degree."""
    import matplotlib.pyplot as plt

    k = len(fit_degrees)
    fig, axes = plt.subplots(1, k + 1, figsize=(3.3 * (k + 1), 3.4), constrained_layout=True)
    grid = np.linspace(0, 1, 400)
    for ax, degree in zip(axes[:k], fit_degrees, strict=True):
        beta = fit_polynomial(data.x_train, data.y_train, degree)
        ax.plot(grid, data.truth(grid), "--", color="tab:green", label="sin(2πx)")
        ax.plot(grid, predict_polynomial(beta, grid), color="tab:red", label="fit")
        ax.scatter(data.x_train, data.y_train, s=25, color="tab:blue", zorder=3, label="train")
        ax.set_ylim(-2, 2)
        ax.set_title(f"degree M = {degree}")
        ax.set_xlabel("x")
    axes[0].set_ylabel("y")
    axes[0].legend(loc="lower left", fontsize=8)
    ax = axes[k]
    ax.plot(sweep["degree"], sweep["train_rmse"], "o-", label="train")
    ax.plot(sweep["degree"], sweep["test_rmse"], "s-", label="test")
    ax.axhline(data.noise, color="grey", ls=":", label="noise level")
    ax.set_yscale("log")
    floor = 0.5 * min(data.noise, float(sweep["test_rmse"].min())) if data.noise > 0 else 1e-3
    ax.set_ylim(bottom=floor)
    tiny = sweep[sweep["train_rmse"] < floor]
    if len(tiny):  # an interpolating fit: train RMSE ~ 0 cannot be shown on a log axis
        ax.plot(
            tiny["degree"],
            np.full(len(tiny), floor),
            "v",
            color="C0",
            ms=9,
            clip_on=False,
            label="train ≈ 0 (off scale)",
        )
    ax.set_xlabel("degree M")
    ax.set_ylabel("RMSE (log)")
    ax.set_title("error against degree")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_ridge(data: PolyData, degree: int, sweep: pd.DataFrame, show_lambdas: Sequence[float]):
    """Ridge fits at a few lambdas (eq. 4.3) and train/test RMSE against lambda."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    grid = np.linspace(0, 1, 400)
    ax = axes[0]
    ax.plot(grid, data.truth(grid), "--", color="tab:green", label="sin(2πx)")
    for lam in show_lambdas:
        beta = fit_polynomial(data.x_train, data.y_train, degree, lam=lam)
        ax.plot(grid, predict_polynomial(beta, grid), label=f"λ = {lam:.0e}")
    ax.scatter(data.x_train, data.y_train, s=25, color="tab:blue", zorder=3)
    ax.set_ylim(-2, 2)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"degree {degree} with weight decay")
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[1]
    ax.plot(sweep["lam"], sweep["train_rmse"], "o-", label="train")
    ax.plot(sweep["lam"], sweep["test_rmse"], "s-", label="test")
    ax.axhline(data.noise, color="grey", ls=":", label="noise level")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("λ (log)")
    ax.set_ylabel("RMSE (log)")
    ax.set_title("error against λ")
    ax.legend(fontsize=8)
    return fig


def plot_constraint_geometry(center: np.ndarray, hessian: np.ndarray, radius: float):
    """Contours of a quadratic loss meeting the L2 disc and the L1 diamond of the same radius."""
    import matplotlib.pyplot as plt

    center = np.asarray(center, dtype=float)
    extent = 1.25 * max(np.abs(center).max(), radius) + 0.3
    b1, b2, loss = loss_grid(center, hessian, extent=extent)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4), constrained_layout=True)
    theta = np.linspace(0, 2 * np.pi, 400)
    shapes = {
        "l2": (radius * np.cos(theta), radius * np.sin(theta), "L2 (ridge): disc"),
        "l1": (
            radius * np.array([1, 0, -1, 0, 1]),
            radius * np.array([0, 1, 0, -1, 0]),
            "L1 (lasso): diamond",
        ),
    }
    for ax, norm in zip(axes, ("l2", "l1"), strict=True):
        opt = constrained_optimum(center, hessian, radius, norm=norm)
        level = float(quadratic_loss(opt, center, hessian))
        levels = level * np.array([0.15, 0.4, 1.0, 1.8, 3.0])
        ax.contour(
            b1, b2, loss, levels=np.sort(levels), colors="tab:red", linewidths=0.8, alpha=0.6
        )
        ax.contour(b1, b2, loss, levels=[level], colors="tab:red", linewidths=2)
        xs, ys, title = shapes[norm]
        ax.fill(xs, ys, color="tab:green", alpha=0.35, lw=0)
        ax.plot(*center, "k+", ms=12, mew=2, label="least squares")
        ax.plot(
            *opt,
            "o",
            color="black",
            ms=7,
            label=f"constrained optimum ({opt[0]:.2f}, {opt[1]:.2f})",
        )
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
        ax.set_xlabel("β₁")
        ax.set_ylabel("β₂")
        ax.set_title(title)
        ax.legend(loc="lower left", fontsize=8)
    return fig


def plot_coefficient_paths(paths: pd.DataFrame):
    """Lasso and ridge coefficient paths of :func:`diabetes_paths` against the shrinkage."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, constrained_layout=True)
    for ax, method, xlabel in (
        (axes[0], "lasso", "‖β‖₁ / ‖β_OLS‖₁"),
        (axes[1], "ridge", "‖β‖₂ / ‖β_OLS‖₂"),
    ):
        sub = paths[paths["method"] == method]
        for feature, g in sub.groupby("feature", sort=False):
            g = g.sort_values("shrinkage")
            (line,) = ax.plot(g["shrinkage"], g["coef"], lw=1.5)
            ax.annotate(
                feature,
                (g["shrinkage"].iloc[-1], g["coef"].iloc[-1]),
                xytext=(3, 0),
                textcoords="offset points",
                fontsize=7,
                color=line.get_color(),
                va="center",
            )
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.set_title(f"{method} ({'eq. 4.4' if method == 'lasso' else 'eq. 4.3'})")
    axes[0].set_ylabel("coefficient (standardized features)")
    return fig
