"""The Bayesian view of regularization and the reweighted group lasso of Algorithm 1.

Thesis section 4.3 (``../shared/seeds/003_d70e0f0fcd80c931.txt``), on a linear model
``y = X w + e``, ``e ~ N(0, sigma^2 I)``, whose weights come in groups:

* priors as penalties: a Gaussian prior is L2 (eq. 4.3), a Laplace prior is L1 (eq. 4.4);
* (the Laplace approximation, eqs. 4.8-4.16, is :mod:`pose_helpers.theory.laplace`);
* plain group lasso (the ``R_g`` term of eq. 4.5) solved to optimality by accelerated
  proximal gradient, with its KKT conditions as a check;
* Algorithm 1 (structured Bayesian compression, Zhou et al.; seed lines 589-608, Table 4.1
  at lines 612-616) with the
  group prior ``w_g ~ N(0, gamma_g I)`` of Table 4.1, where the Hessian of the data term is
  exact: ``H = X^T X / sigma^2``.

Where Algorithm 1 comes from (Wipf & Nagarajan's reweighted-L1 view of sparse Bayesian
learning, written out for groups so the code can be checked against it): the type-II
likelihood ``-log p(y | gamma) = y^T S^-1 y + log|S|``, ``S = sigma^2 I + X Gamma X^T`` is
bounded above by ``||y - X w||^2 / sigma^2 + sum_g (||w_g||^2 / gamma_g + omega_g^2 gamma_g)``
with ``omega_g^2 = d log|S| / d gamma_g = sum_{i in g} X_i^T S^-1 X_i`` (a tangent of the
concave ``log|S|``). Minimizing the bound over ``gamma_g`` gives ``gamma_g = ||w_g|| / omega_g``
(Table 4.1, ``gamma`` column) and leaves ``||y - X w||^2 / sigma^2 + 2 sum_g omega_g ||w_g||``:
a weighted group lasso (Algorithm 1, step 1). With the posterior covariance
``C = (Gamma^-1 + H)^-1`` the identity ``X_i^T S^-1 X_i = 1/gamma_i - C_ii / gamma_i^2`` is
Algorithm 1's ``alpha`` and ``omega_g = sqrt(sum_{i in g} |alpha_i|)`` is Table 4.1's
``omega`` column. The thesis (and Zhou et al.) keep only ``diag(H)`` in ``C``; the full
matrix is available here as ``hessian="full"``. In units of this module's data term
``(1 / 2n) ||y - X w||^2`` the bound's penalty weight is ``lam = sigma^2 / n``.

Defined for the chapter ``notebooks/regularization_theory.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "GroupProblem",
    "ReweightedResult",
    "algorithm1_omega",
    "compare_paths",
    "gaussian_neg_log_prior",
    "group_lasso",
    "group_lasso_kkt",
    "group_lasso_lambda_max",
    "group_norms",
    "laplace_neg_log_prior",
    "make_group_problem",
    "map_estimate_1d",
    "penalty_weight",
    "plot_coefficients",
    "plot_gamma_history",
    "plot_path_comparison",
    "plot_priors",
    "reweighted_group_lasso",
    "select_by_validation",
    "support_metrics",
]


# =========================================================================== priors as penalties
def gaussian_neg_log_prior(w: np.ndarray, scale: float) -> np.ndarray:
    """``-log N(w | 0, scale^2) = w^2 / (2 scale^2) + log(sqrt(2 pi) scale)``: a squared (L2) penalty."""
    w = np.asarray(w, dtype=float)
    return w**2 / (2 * scale**2) + np.log(np.sqrt(2 * np.pi) * scale)


def laplace_neg_log_prior(w: np.ndarray, scale: float) -> np.ndarray:
    """``-log Laplace(w | 0, scale) = |w| / scale + log(2 scale)``: an absolute-value (L1) penalty."""
    w = np.asarray(w, dtype=float)
    return np.abs(w) / scale + np.log(2 * scale)


def penalty_weight(noise_var: float, scale: float, prior: str) -> float:
    """The ``lambda`` of eq. 4.3 (``prior="gaussian"``) or 4.4 (``"laplace"``) that a prior implies.

    ``-log posterior = RSS / (2 sigma^2) + penalty``; multiplying by ``2 sigma^2`` gives
    ``RSS + (sigma^2 / tau^2) sum w^2`` (Gaussian, std ``tau``) or
    ``RSS + (2 sigma^2 / b) sum |w|`` (Laplace, scale ``b``).
    """
    if prior == "gaussian":
        return noise_var / scale**2
    if prior == "laplace":
        return 2 * noise_var / scale
    raise ValueError(f"prior must be 'gaussian' or 'laplace', got {prior!r}")


def map_estimate_1d(z: np.ndarray, noise_var: float, scale: float, prior: str) -> np.ndarray:
    """MAP weight from one observation ``z ~ N(w, noise_var)`` under a zero-mean prior.

    Gaussian prior (std ``scale``): ``z scale^2 / (scale^2 + noise_var)``, a shrinkage that is
    never exactly zero. Laplace prior (scale ``b``): soft thresholding at ``noise_var / b``,
    exactly zero for ``|z| <= noise_var / b``.
    """
    z = np.asarray(z, dtype=float)
    if prior == "gaussian":
        return z * scale**2 / (scale**2 + noise_var)
    if prior == "laplace":
        return np.sign(z) * np.maximum(np.abs(z) - noise_var / scale, 0.0)
    raise ValueError(f"prior must be 'gaussian' or 'laplace', got {prior!r}")


# =========================================================================== group-sparse problem
@dataclass(frozen=True)
class GroupProblem:
    """A linear regression with a group-sparse ground truth ``w_true``."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    w_true: np.ndarray
    groups: np.ndarray  # group index of each feature
    noise: float

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1

    @property
    def active(self) -> np.ndarray:
        """Boolean mask of the groups with a non-zero true weight."""
        return group_norms(self.w_true, self.groups) > 0


def make_group_problem(
    n_samples: int = 100,
    *,
    n_groups: int = 20,
    group_size: int = 5,
    n_active: int = 4,
    noise: float = 0.5,
    correlation: float = 0.5,
    n_test: int = 1000,
    seed: int = 0,
) -> GroupProblem:
    """Draw a regression problem whose true weights are non-zero in ``n_active`` groups.

    Features are standard normal with ``corr(x_i, x_j) = correlation^|i - j|`` (neighbouring
    groups are alike, which makes selection harder); active groups' weights are ``+-U(0.5, 1.5)``; noise is ``N(0, noise^2)``.
    """
    if not 0 < n_active <= n_groups or group_size < 1:
        raise ValueError(
            f"need 0 < n_active <= n_groups and group_size >= 1, got {n_active=} {n_groups=} {group_size=}"
        )
    if not 0 <= correlation < 1:
        raise ValueError(f"correlation must lie in [0, 1), got {correlation}")
    rng = np.random.default_rng(seed)
    p = n_groups * group_size
    groups = np.repeat(np.arange(n_groups), group_size)
    active = np.sort(rng.choice(n_groups, n_active, replace=False))
    w_true = np.zeros(p)
    for g in active:
        idx = groups == g
        w_true[idx] = rng.choice([-1.0, 1.0], group_size) * rng.uniform(0.5, 1.5, group_size)

    def draw(n):  # AR(1) across the feature index: corr(x_i, x_j) = correlation^|i - j|
        e = rng.standard_normal((n, p))
        x = np.empty((n, p))
        x[:, 0] = e[:, 0]
        for j in range(1, p):
            x[:, j] = correlation * x[:, j - 1] + np.sqrt(1 - correlation**2) * e[:, j]
        return x

    X, X_test = draw(n_samples), draw(n_test)
    y = X @ w_true + noise * rng.standard_normal(n_samples)
    y_test = X_test @ w_true + noise * rng.standard_normal(n_test)
    return GroupProblem(X, y, X_test, y_test, w_true, groups, float(noise))


def group_norms(w: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``||w_g||_2`` for every group ``g = 0 .. max(groups)``."""
    return np.sqrt(
        np.bincount(
            groups, weights=np.asarray(w, dtype=float) ** 2, minlength=int(groups.max()) + 1
        )
    )


# =========================================================================== group lasso
def _check_weights(weights, n_groups):
    weights = np.ones(n_groups) if weights is None else np.asarray(weights, dtype=float)
    if weights.shape != (n_groups,) or np.any(np.isnan(weights)) or np.any(weights < 0):
        raise ValueError(
            f"group weights must be {n_groups} numbers >= 0 (inf = pruned), got {weights}"
        )
    return weights


def group_lasso_lambda_max(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """The smallest ``lam`` at which :func:`group_lasso` returns all zeros."""
    weights = _check_weights(weights, int(groups.max()) + 1)
    grad = group_norms(X.T @ y / len(y), groups)
    with np.errstate(divide="ignore"):
        return float(np.max(np.where(weights > 0, grad / weights, np.inf)))


def group_lasso(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    lam: float,
    *,
    weights: np.ndarray | None = None,
    w0: np.ndarray | None = None,
    max_iter: int = 20000,
    tol: float = 1e-10,
) -> np.ndarray:
    """Minimize ``(1/2n) ||y - X w||^2 + lam sum_g weights_g ||w_g||_2`` exactly.

    Accelerated proximal gradient (FISTA with function-value restart) whose proximal step
    is the block soft-threshold ``w_g <- max(0, 1 - t lam weights_g / ||v_g||) v_g``; a group
    with ``weights_g = inf`` is held at zero (pruned). With unit weights this is the group
    lasso term ``R_g`` of eq. 4.5. Stops when an iteration moves ``w`` by less than
    ``tol * max(1, ||w||)``.
    """
    n, p = X.shape
    n_groups = int(groups.max()) + 1
    weights = _check_weights(weights, n_groups)
    if lam < 0 or not np.isfinite(lam):
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    gram, xty = X.T @ X / n, X.T @ y / n
    step = 1.0 / np.linalg.eigvalsh(gram)[-1]
    thresh = (step * lam * weights)[groups]  # per feature

    def prox(v):
        norms = group_norms(v, groups)[groups]
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(norms > 0, np.maximum(0.0, 1.0 - thresh / norms), 0.0)
        return v * scale

    w = prox(np.zeros(p) if w0 is None else np.asarray(w0, dtype=float).copy())
    z, t = w.copy(), 1.0
    for _ in range(max_iter):
        w_new = prox(z - step * (gram @ z - xty))
        if (z - w_new) @ (w_new - w) > 0:  # momentum points uphill: restart (O'Donoghue & Candes)
            t = 1.0
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = w_new + ((t - 1) / t_new) * (w_new - w)
        moved = np.linalg.norm(w_new - w)
        w, t = w_new, t_new
        if moved < tol * max(1.0, np.linalg.norm(w)):
            break
    return w


def group_lasso_kkt(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    lam: float,
    w: np.ndarray,
    *,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Per-group violation of the group lasso optimality (KKT) conditions at ``w``.

    With ``g = X^T (y - X w) / n`` restricted to group ``g``: a non-zero group needs
    ``g_g = lam weights_g w_g / ||w_g||`` (violation: the norm of the difference); a zero
    group needs ``||g_g|| <= lam weights_g`` (violation: the excess). Pruned groups
    (``weights_g = inf``) are always satisfied.
    """
    n_groups = int(groups.max()) + 1
    weights = _check_weights(weights, n_groups)
    grad = X.T @ (y - X @ w) / len(y)
    norms = group_norms(w, groups)
    out = np.zeros(n_groups)
    for g in range(n_groups):
        idx = groups == g
        if np.isinf(weights[g]):
            continue
        if norms[g] > 0:
            out[g] = np.linalg.norm(grad[idx] - lam * weights[g] * w[idx] / norms[g])
        else:
            out[g] = max(0.0, np.linalg.norm(grad[idx]) - lam * weights[g])
    return out


# =========================================================================== Algorithm 1
def algorithm1_omega(
    gamma: np.ndarray,
    h: np.ndarray,
    groups: np.ndarray,
    *,
    active: np.ndarray | None = None,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Algorithm 1, step 3 after the ``gamma`` update: ``C``, ``alpha`` and ``omega`` per group.

    Args:
        gamma: prior variance ``gamma_g`` per group (Table 4.1: ``Gamma = [gamma]``, the
            variance repeated over the group's weights).
        h: the Hessian of the data term: a vector (its diagonal, as in the thesis, seed
            line 604: ``C = (Gamma^-1 + diag(H))^-1``) or the full ``p x p`` matrix.
        groups: group index of each weight.
        active: groups to update (default all); the others (pruned) get ``omega = inf``.
        names: a name per group for error messages (default ``"group <index>"``).

    Returns:
        ``(C, alpha, omega)``: ``C`` the posterior variance of each weight (seed line 604),
        ``alpha = -C / gamma^2 + 1 / gamma`` (seed line 605), and
        ``omega_g = sqrt(sum_{i in g} |alpha_i|)`` (Table 4.1, ``omega`` column).

    Raises:
        ValueError: naming the group, if an active group's ``gamma`` or a weight's ``C`` is
            not positive and finite.
    """
    gamma = np.asarray(gamma, dtype=float)
    n_groups = int(groups.max()) + 1
    active = np.ones(n_groups, bool) if active is None else np.asarray(active, bool)

    def name(g: int) -> str:
        return f"group {g}" if names is None else str(names[g])

    for g in np.flatnonzero(active & ~(np.isfinite(gamma) & (gamma > 0)))[:1]:
        raise ValueError(
            f"{name(g)}: prior variance gamma = {gamma[g]} must be positive and finite"
        )
    idx = np.flatnonzero(active[groups])  # weights of active groups
    g_w = gamma[groups[idx]]
    h = np.asarray(h, dtype=float)
    c = np.zeros(len(groups))
    if h.ndim == 1:
        with np.errstate(divide="ignore"):
            c[idx] = 1.0 / (1.0 / g_w + h[idx])
    else:
        sub = np.diag(1.0 / g_w) + h[np.ix_(idx, idx)]
        c[idx] = np.diag(np.linalg.inv(sub))
    for i in idx[~(np.isfinite(c[idx]) & (c[idx] > 0))][:1]:
        raise ValueError(
            f"{name(groups[i])}: posterior variance C = {c[i]} of weight {i} must be positive "
            "and finite"
        )
    alpha = np.zeros(len(groups))
    alpha[idx] = -c[idx] / g_w**2 + 1.0 / g_w
    omega = np.full(n_groups, np.inf)
    omega[active] = np.sqrt(np.bincount(groups, weights=np.abs(alpha), minlength=n_groups))[active]
    return c, alpha, omega


@dataclass
class ReweightedResult:
    """What :func:`reweighted_group_lasso` returns: the weights and the per-iteration history."""

    w: np.ndarray
    lam: float
    gamma: np.ndarray  # (n_outer, n_groups), gamma_g(t); 0 once pruned
    omega: np.ndarray  # (n_outer + 1, n_groups), omega_g(t) from omega(0) = 1; inf once pruned
    weights: np.ndarray  # (n_outer, p), w(t)
    history: pd.DataFrame = field(repr=False)

    @property
    def support(self) -> np.ndarray:
        return np.isfinite(self.omega[-1])


def reweighted_group_lasso(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    noise_var: float,
    lam: float | None = None,
    n_outer: int = 10,
    hessian: str = "diag",
    w_true: np.ndarray | None = None,
    tol: float = 1e-10,
) -> ReweightedResult:
    """Algorithm 1 (seed lines 589-608) for the linear model with the group prior of Table 4.1.

    Per outer iteration ``t = 1 .. n_outer``:

    1. step 1 (line 597): ``w(t) = argmin (1/2n)||y - X w||^2 + lam sum_g omega_g(t-1) ||w_g||``
       (:func:`group_lasso`, warm-started; ``omega(0) = 1``);
    2. step 2 (line 599): the Hessian of the negative log likelihood ``||y - X w||^2 / (2 sigma^2)`` is
       exact and constant, ``H = X^T X / sigma^2``;
    3. step 3 (lines 603-606): ``gamma_g(t) = ||w_g(t)|| / omega_g(t-1)`` (Table 4.1), then ``C``, ``alpha``
       and ``omega(t)`` by :func:`algorithm1_omega`;
    4. step 4 (line 608): a group whose weights are exactly zero (``gamma_g = 0``) is pruned: it gets
       ``omega = inf`` and stays at zero.

    Args:
        noise_var: ``sigma^2`` of the likelihood (sets ``H``).
        lam: the ``lambda`` of step 1; ``None`` uses ``sigma^2 / n``, the value for which
            step 1 is exactly the bound of the type-II likelihood (module docstring).
        hessian: ``"diag"`` (the thesis's ``diag(H)``) or ``"full"``.
        w_true: if given, the history also records the coefficient error.
    """
    if hessian not in ("diag", "full"):
        raise ValueError(f"hessian must be 'diag' or 'full', got {hessian!r}")
    if not (np.isfinite(noise_var) and noise_var > 0):
        raise ValueError(f"noise_var must be positive and finite, got {noise_var}")
    n = len(y)
    lam = noise_var / n if lam is None else float(lam)
    n_groups = int(groups.max()) + 1
    h_full = X.T @ X / noise_var
    h = np.diag(h_full).copy() if hessian == "diag" else h_full

    omega = np.ones(n_groups)
    w = np.zeros(X.shape[1])
    gammas, omegas, ws, rows = [], [omega.copy()], [], []
    for t in range(1, n_outer + 1):
        w = group_lasso(X, y, groups, lam, weights=omega, w0=w, tol=tol)  # step 1
        norms = group_norms(w, groups)
        active = np.isfinite(omega) & (norms > 0)  # step 4: all-zero groups are pruned
        with np.errstate(invalid="ignore"):
            gamma = np.where(active, norms / omega, 0.0)  # Table 4.1: gamma = ||W_g|| / omega(t-1)
        _, _, omega = algorithm1_omega(gamma, h, groups, active=active)  # step 3
        gammas.append(gamma)
        omegas.append(omega.copy())
        ws.append(w.copy())
        row = {
            "iteration": t,
            "n_groups_kept": int(active.sum()),
            "train_rmse": float(np.sqrt(np.mean((y - X @ w) ** 2))),
        }
        if w_true is not None:
            row["coef_error"] = float(np.linalg.norm(w - w_true))
        rows.append(row)
    return ReweightedResult(
        w=w,
        lam=lam,
        gamma=np.array(gammas),
        omega=np.array(omegas),
        weights=np.array(ws),
        history=pd.DataFrame(rows),
    )


# =========================================================================== comparison
def support_metrics(w: np.ndarray, problem: GroupProblem) -> dict[str, float]:
    """Selected groups, false positives/negatives, exact recovery and errors of ``w``."""
    selected = group_norms(w, problem.groups) > 0
    truth = problem.active
    return {
        "n_selected": int(selected.sum()),
        "false_pos": int((selected & ~truth).sum()),
        "false_neg": int((~selected & truth).sum()),
        "exact_support": bool(np.array_equal(selected, truth)),
        "train_rmse": float(np.sqrt(np.mean((problem.y - problem.X @ w) ** 2))),
        "test_rmse": float(np.sqrt(np.mean((problem.y_test - problem.X_test @ w) ** 2))),
        "coef_error": float(np.linalg.norm(w - problem.w_true)),
    }


def compare_paths(
    problem: GroupProblem,
    lam_factors: Sequence[float],
    *,
    n_outer: int = 10,
    hessian: str = "diag",
) -> pd.DataFrame:
    """Group lasso and Algorithm 1 along a path of ``lam``, one row per (method, lam).

    Both methods use the same grid ``lam = factor * lam_max`` (``lam_max`` from
    :func:`group_lasso_lambda_max`, where plain group lasso is all zero); the group lasso
    path is warm-started, each Algorithm 1 run starts afresh from ``omega(0) = 1``.
    ``test_rmse`` is measured on the problem's held-out samples.
    """
    X, y, groups = problem.X, problem.y, problem.groups
    lam_max = group_lasso_lambda_max(X, y, groups)
    rows, w = [], None
    for f in sorted(lam_factors, reverse=True):
        w = group_lasso(X, y, groups, f * lam_max, w0=w)
        rows.append(
            {
                "method": "group lasso",
                "lam_factor": float(f),
                "lam": f * lam_max,
                **support_metrics(w, problem),
            }
        )
    for f in sorted(lam_factors, reverse=True):
        res = reweighted_group_lasso(
            X,
            y,
            groups,
            noise_var=problem.noise**2,
            lam=f * lam_max,
            n_outer=n_outer,
            hessian=hessian,
        )
        rows.append(
            {
                "method": "Algorithm 1",
                "lam_factor": float(f),
                "lam": f * lam_max,
                **support_metrics(res.w, problem),
            }
        )
    return pd.DataFrame(rows)


def select_by_validation(paths: pd.DataFrame) -> pd.DataFrame:
    """The row of each method of :func:`compare_paths` with the lowest held-out RMSE."""
    best = paths.loc[paths.groupby("method", sort=False)["test_rmse"].idxmin()]
    return best.reset_index(drop=True)


# =========================================================================== figures
def plot_priors(*, noise_var: float = 1.0, scale: float = 1.0, extent: float = 3.0):
    """Negative log priors (Gaussian = L2, Laplace = L1) and the MAP estimates they give."""
    import matplotlib.pyplot as plt

    w = np.linspace(-extent, extent, 601)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    ax = axes[0]
    ax.plot(w, gaussian_neg_log_prior(w, scale), label=f"Gaussian, std {scale:g}: w²/2τ² (L2)")
    ax.plot(w, laplace_neg_log_prior(w, scale), label=f"Laplace, scale {scale:g}: |w|/b (L1)")
    ax.set_xlabel("weight w")
    ax.set_ylabel("−ln p(w)")
    ax.set_title("priors as penalties")
    ax.legend(fontsize=8, loc="upper center")
    ax = axes[1]
    ax.plot(w, w, color="grey", ls=":", label="no prior (z)")
    ax.plot(w, map_estimate_1d(w, noise_var, scale, "gaussian"), label="Gaussian prior: shrink")
    ax.plot(
        w, map_estimate_1d(w, noise_var, scale, "laplace"), label="Laplace prior: soft threshold"
    )
    ax.axvspan(-noise_var / scale, noise_var / scale, color="C1", alpha=0.12, label="MAP exactly 0")
    ax.set_xlabel(f"observation z ~ N(w, {noise_var:g})")
    ax.set_ylabel("MAP estimate of w")
    ax.set_title("what each prior does to one weight")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_path_comparison(
    paths: pd.DataFrame, problem: GroupProblem, chosen: pd.DataFrame | None = None
):
    """Coefficient error and number of selected groups against training RMSE, per method."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for k, (method, g) in enumerate(paths.groupby("method", sort=False)):
        g = g.sort_values("train_rmse")
        axes[0].plot(g["train_rmse"], g["coef_error"], "o-", color=f"C{k}", ms=4, label=method)
        axes[1].plot(g["train_rmse"], g["n_selected"], "o-", color=f"C{k}", ms=4, label=method)
        if chosen is not None:
            row = chosen[chosen["method"] == method]
            axes[0].plot(
                row["train_rmse"], row["coef_error"], "*", color=f"C{k}", ms=16, mec="black"
            )
            axes[1].plot(
                row["train_rmse"], row["n_selected"], "*", color=f"C{k}", ms=16, mec="black"
            )
    from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

    def plain_log(axis):
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(NullFormatter())

    for ax in axes:
        ax.set_xscale("log")
        plain_log(ax.xaxis)
        ax.axvline(problem.noise, color="grey", ls=":", lw=1)
        ax.set_xlabel("training RMSE (log; dotted: noise σ)")
    axes[0].set_yscale("log")
    plain_log(axes[0].yaxis)
    axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("‖w − w_true‖₂ (log)")
    axes[0].set_title("coefficient error")
    axes[1].axhline(int(problem.active.sum()), color="black", lw=1, ls="--", label="true groups")
    axes[1].set_ylabel("groups selected")
    axes[1].set_title("support size")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    return fig


def plot_gamma_history(result: ReweightedResult, problem: GroupProblem):
    """``gamma_g`` over Algorithm 1's outer iterations; true groups in colour, pruned at the floor."""
    import matplotlib.pyplot as plt

    gam = result.gamma
    positive = gam[gam > 0]
    floor = positive.min() / 10 if positive.size else 1e-6
    it = np.arange(1, len(gam) + 1)
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    for g in range(gam.shape[1]):
        true = bool(problem.active[g])
        y = np.where(gam[:, g] > 0, gam[:, g], floor)
        ax.plot(
            it,
            y,
            "o-" if true else ".-",
            ms=5 if true else 3,
            lw=2 if true else 0.8,
            color=None if true else "grey",
            alpha=1.0 if true else 0.6,
            label=f"group {g} (true)" if true else None,
        )
    ax.axhline(floor, color="black", ls=":", lw=1)
    ax.annotate(
        "pruned (γ = 0)", (it[-1], floor), xytext=(-90, 6), textcoords="offset points", fontsize=8
    )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yscale("log")
    ax.set_xlabel("outer iteration t")
    ax.set_ylabel("γ_g(t) (log)")
    ax.set_title("prior variance per group (grey: groups that are zero in the truth)")
    ax.legend(fontsize=8, ncol=2, loc="center right")
    return fig


def plot_coefficients(problem: GroupProblem, estimates: dict[str, np.ndarray]):
    """True weights against each estimate, feature by feature; shaded bands mark the true groups."""
    import matplotlib.pyplot as plt

    p = len(problem.w_true)
    fig, axes = plt.subplots(
        len(estimates),
        1,
        figsize=(11, 1.9 * len(estimates) + 0.4),
        sharex=True,
        sharey=True,
        constrained_layout=True,
    )
    axes = np.atleast_1d(axes)
    idx = np.arange(p)
    size = int(np.sum(problem.groups == 0))
    for ax, (name, w) in zip(axes, estimates.items(), strict=True):
        for g in np.flatnonzero(problem.active):
            ax.axvspan(g * size - 0.5, (g + 1) * size - 0.5, color="tab:green", alpha=0.12)
        ax.plot(idx, problem.w_true, "_", color="black", ms=8, mew=2, label="true")
        ax.vlines(idx, 0, w, color="C0", lw=2)
        ax.plot(idx, w, "o", color="C0", ms=3, label=name)
        ax.axhline(0, color="grey", lw=0.8)
        n_sel = int((group_norms(w, problem.groups) > 0).sum())
        ax.set_title(f"{name}: {n_sel} groups non-zero", fontsize=10)
        ax.set_ylabel("w")
    axes[-1].set_xlabel("feature (groups of consecutive features; green: true groups)")
    axes[0].legend(fontsize=8, ncol=2, loc="upper right")
    return fig
