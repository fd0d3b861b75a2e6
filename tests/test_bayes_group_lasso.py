"""Tests for pose_helpers.theory.bayes_group_lasso: priors, Laplace approximation, group lasso, Algorithm 1."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammaln

from pose_helpers.theory import bayes_group_lasso as bg
from pose_helpers.theory import laplace as lp


@pytest.fixture(scope="module")
def problem():
    return bg.make_group_problem(150, n_groups=20, group_size=5, n_active=4, noise=0.5, seed=0)


# ----------------------------------------------------------------------------- priors
def test_map_estimates_minimize_the_posterior():
    z = np.linspace(-3, 3, 13)
    grid = np.linspace(-4, 4, 80_001)
    for prior, nlp in (
        ("gaussian", bg.gaussian_neg_log_prior),
        ("laplace", bg.laplace_neg_log_prior),
    ):
        for zi in z:
            post = (zi - grid) ** 2 / (2 * 0.5) + nlp(grid, 0.8)
            assert bg.map_estimate_1d(zi, 0.5, 0.8, prior) == pytest.approx(
                grid[np.argmin(post)], abs=2e-4
            )
    assert np.all(bg.map_estimate_1d(np.array([-0.6, 0.3, 0.62]), 0.5, 0.8, "laplace") == 0.0)
    assert np.all(bg.map_estimate_1d(np.array([-0.6, 0.3]), 0.5, 0.8, "gaussian") != 0.0)


def test_priors_are_normalized_and_give_the_penalty_weights():
    w = np.linspace(-30, 30, 600_001)
    for nlp in (bg.gaussian_neg_log_prior, bg.laplace_neg_log_prior):
        assert np.trapezoid(np.exp(-nlp(w, 1.3)), w) == pytest.approx(1.0, abs=1e-6)
    assert bg.penalty_weight(0.5, 2.0, "gaussian") == pytest.approx(0.125)
    assert bg.penalty_weight(0.5, 2.0, "laplace") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="prior"):
        bg.penalty_weight(1.0, 1.0, "cauchy")


# ----------------------------------------------------------------------------- Laplace approximation
def test_laplace_approximation_of_a_gaussian_is_exact():
    mean, std, k = 1.3, 0.7, 2.0
    approx = lp.laplace_approximation(lambda x: -((x - mean) ** 2) / (2 * std**2) + k, (-10, 10))
    assert approx.x0 == pytest.approx(mean, abs=1e-7)
    assert approx.c == pytest.approx(1 / std**2, rel=1e-6)
    assert approx.z == pytest.approx(np.exp(k) * np.sqrt(2 * np.pi) * std, rel=1e-6)
    x = np.linspace(-2, 4, 7)
    np.testing.assert_allclose(
        approx.pdf(x),
        np.exp(-((x - mean) ** 2) / (2 * std**2)) / (np.sqrt(2 * np.pi) * std),
        rtol=1e-5,
    )


def test_laplace_normalizer_of_a_gamma_kernel_is_stirling():
    table = lp.laplace_table([2.0, 5.0, 30.0])
    np.testing.assert_allclose(table["Z_numeric"], table["Z_exact"], rtol=1e-8)
    np.testing.assert_allclose(table["x0"], [1.0, 4.0, 29.0], atol=1e-6)
    stirling = (
        np.sqrt(2 * np.pi)
        * (table["shape"] - 1) ** (table["shape"] - 0.5)
        * np.exp(-(table["shape"] - 1))
    )
    np.testing.assert_allclose(table["Z_laplace"], stirling, rtol=1e-6)
    ratio = table["ratio"].to_numpy()
    assert np.all(ratio < 1) and np.all(np.diff(ratio) > 0), (
        "the approximation improves as the peak sharpens"
    )
    assert ratio[-1] > 0.99


def test_nd_laplace_normalizer_of_a_gaussian_is_exact():
    a = np.array([[2.0, 0.5], [0.5, 1.0]])
    expected = 0.7 + np.log(2 * np.pi) - 0.5 * np.log(np.linalg.det(a))
    assert lp.laplace_log_normalizer_nd(0.7, a) == pytest.approx(expected)
    with pytest.raises(ValueError, match="positive definite"):
        lp.laplace_log_normalizer_nd(0.0, np.diag([1.0, -1.0]))


def test_laplace_rejects_a_density_without_a_peak():
    with pytest.raises(ValueError, match="curvature"):
        lp.laplace_approximation(lambda x: 0.1 * x, (0.0, 1.0))
    with pytest.raises(ValueError, match="shape"):
        lp.gamma_kernel_log_density(1.0)
    assert lp.numeric_normalizer(lp.gamma_kernel_log_density(4.0), (0, 200)) == pytest.approx(
        np.exp(gammaln(4.0))
    )


# ----------------------------------------------------------------------------- group lasso
def test_group_lasso_satisfies_kkt(problem):
    X, y, groups = problem.X, problem.y, problem.groups
    lam_max = bg.group_lasso_lambda_max(X, y, groups)
    for f in (0.5, 0.05, 0.005):
        w = bg.group_lasso(X, y, groups, f * lam_max, tol=1e-12)
        assert bg.group_lasso_kkt(X, y, groups, f * lam_max, w).max() < 1e-6
    assert np.all(bg.group_lasso(X, y, groups, 1.0001 * lam_max) == 0)
    assert np.any(bg.group_lasso(X, y, groups, 0.99 * lam_max) != 0)


def test_weighted_group_lasso_and_pruned_groups(problem):
    X, y, groups = problem.X, problem.y, problem.groups
    weights = np.linspace(0.5, 2.0, problem.n_groups)
    weights[np.flatnonzero(problem.active)[0]] = np.inf
    w = bg.group_lasso(X, y, groups, 0.05, weights=weights, tol=1e-12)
    assert bg.group_lasso_kkt(X, y, groups, 0.05, w, weights=weights).max() < 1e-6
    assert np.all(w[groups == np.flatnonzero(problem.active)[0]] == 0)
    with pytest.raises(ValueError, match="weights"):
        bg.group_lasso(X, y, groups, 0.05, weights=-np.ones(problem.n_groups))


def test_kkt_detects_a_wrong_solution(problem):
    X, y, groups = problem.X, problem.y, problem.groups
    assert bg.group_lasso_kkt(X, y, groups, 0.05, problem.w_true * 1.5).max() > 1e-2


# ----------------------------------------------------------------------------- Algorithm 1
def test_alpha_is_the_gradient_of_the_log_determinant():
    """With the full Hessian, omega_g^2 = d ln|sigma^2 I + X Gamma X^T| / d gamma_g (module docstring)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 6))
    groups = np.repeat(np.arange(3), 2)
    gamma = np.array([0.7, 1.5, 0.2])
    noise_var = 0.3

    def logdet(g):
        return np.linalg.slogdet(noise_var * np.eye(12) + X @ np.diag(g[groups]) @ X.T)[1]

    _, _, omega = bg.algorithm1_omega(gamma, X.T @ X / noise_var, groups)
    eps = 1e-6
    for g in range(3):
        e = np.zeros(3)
        e[g] = eps
        assert omega[g] ** 2 == pytest.approx(
            (logdet(gamma + e) - logdet(gamma - e)) / (2 * eps), rel=1e-6
        )


def test_diagonal_update_closed_form():
    groups = np.repeat(np.arange(2), 3)
    h = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    gamma = np.array([0.5, 2.0])
    c, alpha, omega = bg.algorithm1_omega(gamma, h, groups)
    g = gamma[groups]
    np.testing.assert_allclose(c, 1 / (1 / g + h))
    np.testing.assert_allclose(alpha, h / (1 + g * h))
    np.testing.assert_allclose(omega, [np.sqrt(alpha[:3].sum()), np.sqrt(alpha[3:].sum())])
    _, _, omega = bg.algorithm1_omega(gamma, h, groups, active=np.array([True, False]))
    assert np.isinf(omega[1]) and np.isfinite(omega[0])


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_bad_gamma_names_the_group(bad):
    groups = np.repeat(np.arange(4), 2)
    gamma = np.ones(4)
    gamma[2] = bad
    with pytest.raises(ValueError, match="group 2"):
        bg.algorithm1_omega(gamma, np.ones(8), groups)


def test_bad_posterior_variance_names_the_group():
    groups = np.repeat(np.arange(4), 2)
    h = np.ones(8)
    h[7] = -3.0  # not a Hessian of a convex loss: C = 1 / (1 - 3) < 0
    with pytest.raises(ValueError, match=r"group 3: posterior variance C"):
        bg.algorithm1_omega(np.ones(4), h, groups)
    h[7] = -1.0  # C = 1 / 0
    with pytest.raises(ValueError, match="group 3"):
        bg.algorithm1_omega(np.ones(4), h, groups)


def test_first_outer_iteration_is_plain_group_lasso(problem):
    X, y, groups = problem.X, problem.y, problem.groups
    res = bg.reweighted_group_lasso(X, y, groups, noise_var=0.25, lam=0.05, n_outer=1)
    np.testing.assert_allclose(res.w, bg.group_lasso(X, y, groups, 0.05), atol=1e-7)
    np.testing.assert_allclose(res.gamma[0], bg.group_norms(res.w, groups))  # omega(0) = 1


@pytest.mark.parametrize("hessian", ["diag", "full"])
def test_reweighted_recovers_the_true_support(problem, hessian):
    X, y, groups = problem.X, problem.y, problem.groups
    lam = 0.003 * bg.group_lasso_lambda_max(X, y, groups)
    res = bg.reweighted_group_lasso(
        X,
        y,
        groups,
        noise_var=problem.noise**2,
        lam=lam,
        n_outer=10,
        hessian=hessian,
        w_true=problem.w_true,
    )
    np.testing.assert_array_equal(res.support, problem.active)
    metrics = bg.support_metrics(res.w, problem)
    assert metrics["exact_support"]
    assert res.gamma.shape == (10, problem.n_groups) and res.omega.shape == (11, problem.n_groups)
    assert np.all(res.gamma[-1][~problem.active] == 0) and np.all(res.gamma[-1][problem.active] > 0)
    # plain group lasso at the same lam keeps false groups and has a larger coefficient error
    plain = bg.support_metrics(bg.group_lasso(X, y, groups, lam), problem)
    assert plain["false_pos"] > 0
    assert metrics["coef_error"] < plain["coef_error"]


def test_compare_paths_and_validation_choice(problem):
    paths = bg.compare_paths(problem, np.logspace(0, -3, 7), n_outer=5)
    assert set(paths["method"]) == {"group lasso", "Algorithm 1"}
    assert len(paths) == 14
    first = paths[paths["lam_factor"] == 1.0]
    assert (first["n_selected"] == 0).all()
    chosen = bg.select_by_validation(paths)
    assert list(chosen["method"]) == ["group lasso", "Algorithm 1"]
    alg1 = chosen.iloc[1]
    assert alg1["false_pos"] == 0 and alg1["false_neg"] == 0
    assert alg1["coef_error"] < chosen.iloc[0]["coef_error"]


def test_reweighted_argument_checks(problem):
    with pytest.raises(ValueError, match="hessian"):
        bg.reweighted_group_lasso(
            problem.X, problem.y, problem.groups, noise_var=1.0, hessian="block"
        )
    with pytest.raises(ValueError, match="noise_var"):
        bg.reweighted_group_lasso(problem.X, problem.y, problem.groups, noise_var=0.0)
