"""Tests for pose_helpers.theory.regression: over-fitting, ridge, L1/L2 geometry, lasso/ridge paths."""

from __future__ import annotations

import numpy as np
import pytest

from pose_helpers.theory import regression as rg


@pytest.fixture(scope="module")
def data():
    return rg.make_poly_data(10, noise=0.3, seed=0)


def test_make_poly_data_is_deterministic(data):
    again = rg.make_poly_data(10, noise=0.3, seed=0)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    np.testing.assert_array_equal(data.y_test, again.y_test)
    assert not np.array_equal(data.y_train, rg.make_poly_data(10, noise=0.3, seed=1).y_train)


def test_train_error_falls_and_test_error_rises_past_the_optimum(data):
    sweep = rg.polynomial_sweep(data, range(10))
    train, test = sweep["train_rmse"].to_numpy(), sweep["test_rmse"].to_numpy()
    assert np.all(np.diff(train) <= 1e-9), "nested least-squares fits: train error cannot rise"
    assert train[-1] < 1e-8, "degree 9 through 10 points interpolates"
    best = int(np.argmin(test))
    assert 0 < best < 9
    assert test[-1] > 10 * test[best], "degree 9 over-fits badly"
    assert np.all(np.diff(test[best:]) > -0.05), "past the optimum the test error does not improve"


def test_ridge_small_lambda_is_least_squares(data):
    ols = rg.fit_polynomial(data.x_train, data.y_train, 5)
    ridge = rg.fit_polynomial(data.x_train, data.y_train, 5, lam=1e-12)
    np.testing.assert_allclose(ridge, ols, rtol=1e-6, atol=1e-6)


def test_ridge_matches_closed_form_and_leaves_intercept_free(data):
    lam, degree = 0.3, 4
    beta = rg.fit_polynomial(data.x_train, data.y_train, degree, lam=lam)
    phi = rg.poly_features(data.x_train, degree)
    d = np.eye(degree + 1)
    d[0, 0] = 0.0
    expected = np.linalg.solve(phi.T @ phi + lam * d, phi.T @ data.y_train)
    np.testing.assert_allclose(beta, expected, rtol=1e-8, atol=1e-10)
    huge = rg.fit_polynomial(data.x_train, data.y_train, degree, lam=1e12)
    assert np.abs(huge[1:]).max() < 1e-6
    assert huge[0] == pytest.approx(data.y_train.mean(), abs=1e-6)


def test_ridge_norm_shrinks_as_lambda_grows(data):
    sweep = rg.ridge_sweep(data, 9, np.logspace(-8, 2, 11))
    assert np.all(np.diff(sweep["coef_norm"]) < 0)
    assert np.all(np.diff(sweep["train_rmse"]) > 0)
    assert sweep["test_rmse"].iloc[0] > 2 * sweep["test_rmse"].min()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="lam"):
        rg.fit_polynomial(np.zeros(3), np.zeros(3), 2, lam=-1.0)
    with pytest.raises(ValueError, match="degree"):
        rg.poly_features(np.zeros(3), -1)
    with pytest.raises(ValueError, match="norm"):
        rg.constrained_optimum(np.ones(2), np.eye(2), 1.0, norm="l3")
    with pytest.raises(ValueError, match="positive definite"):
        rg.constrained_optimum(np.ones(2), np.diag([1.0, -1.0]), 1.0)


def test_l1_projection_is_the_closest_point_of_the_ball():
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = 3 * rng.standard_normal(4)
        proj = rg.project_l1_ball(v, 1.0)
        assert np.abs(proj).sum() <= 1.0 + 1e-12
        # any other point of the ball is at least as far from v
        others = rng.standard_normal((500, 4))
        others /= np.maximum(1.0, np.abs(others).sum(axis=1, keepdims=True))
        assert np.linalg.norm(v - proj) <= np.linalg.norm(v - others, axis=1).min() + 1e-12


def test_l1_optimum_sits_on_a_corner_and_l2_does_not():
    center, hessian = np.array([1.8, 0.6]), np.array([[1.0, 0.4], [0.4, 1.0]])
    l1 = rg.constrained_optimum(center, hessian, 1.0, norm="l1")
    np.testing.assert_allclose(l1, [1.0, 0.0], atol=1e-8)
    l2 = rg.constrained_optimum(center, hessian, 1.0, norm="l2")
    assert np.linalg.norm(l2) == pytest.approx(1.0, abs=1e-9)
    assert np.all(np.abs(l2) > 0.1)
    # brute force over the circle agrees
    theta = np.linspace(0, 2 * np.pi, 200_001)
    circle = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    best = circle[np.argmin(rg.quadratic_loss(circle, center, hessian))]
    np.testing.assert_allclose(l2, best, atol=1e-4)


def test_constrained_optimum_inside_the_ball_is_the_center():
    center = np.array([0.2, -0.1])
    for norm in ("l1", "l2"):
        np.testing.assert_allclose(
            rg.constrained_optimum(center, np.eye(2), 1.0, norm=norm), center, atol=1e-9
        )


def test_lasso_path_has_exact_zeros_and_ridge_does_not():
    paths = rg.diabetes_paths(n_alphas=30)
    lasso = paths[paths["method"] == "lasso"]
    ridge = paths[paths["method"] == "ridge"]
    zeros_per_alpha = lasso.groupby("alpha")["coef"].apply(lambda c: int((c == 0).sum()))
    assert zeros_per_alpha.max() == 10, "at alpha_max every lasso coefficient is exactly zero"
    assert ((zeros_per_alpha > 0) & (zeros_per_alpha < 10)).sum() >= 5, (
        "lasso selects variables one by one"
    )
    assert (ridge["coef"] == 0).sum() == 0
    assert lasso["shrinkage"].between(0, 1.0 + 1e-9).all()
    assert ridge["shrinkage"].max() > 0.9


def test_figures_build(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = rg.polynomial_sweep(data, range(10))
    fig = rg.plot_overfitting(data, [1, 9], sweep)
    assert len(fig.axes) == 3
    plt.close(fig)
    fig = rg.plot_constraint_geometry(np.array([1.8, 0.6]), np.array([[1.0, 0.4], [0.4, 1.0]]), 1.0)
    assert len(fig.axes) == 2
    plt.close(fig)
