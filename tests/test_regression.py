"""The linear-regression family and world against OLS references and against theory.

Theory checks: 300 lineages through the real :class:`Lineage`, every generation's mean inside a
simultaneous 99% interval (Bonferroni over 11 generations). Power: at 300 replicates the interval's
half-width is about 7% of the mean in late generations, so a formula 10% off fails there (replace
with d / N instead of d / (N - d - 1)), and so do accumulate with 1/(j+1) weights and an unshrunk
noise under accumulate; a 5% error is not resolvable at this size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import redqueen
from redqueen import theory as th
from redqueen.data import Points
from redqueen.loop import Accumulate, Fresh, Lineage, Replace, Subsample
from redqueen.models import LinearRegressionFamily
from redqueen.worlds import RegressionWorld

R, T, D, N = 300, 10, 10, 100


def simulate(regime, family=LinearRegressionFamily, seed=3):
    world = RegressionWorld(D)
    out = {m: np.empty((R, T + 1)) for m in ("test_error", "noise_var_ratio")}
    for r in range(R):
        lin = Lineage(world=world, make_family=family, regime=regime, n=N, seed=seed, replicate=r, reference_size=10)
        for g in range(T + 1):
            rec = lin.step().metrics
            for k in out:
                out[k][r, g] = rec[k]
    return world, out


def inside(sim, pred) -> int:
    return sum(r.inside for r in th.compare(sim, pred, 0.99))


def test_ols_matches_sklearn_and_the_noise_estimates(rng):
    from sklearn.linear_model import LinearRegression

    x = rng.normal(size=(80, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=80)
    m = LinearRegressionFamily().fit(Points(np.column_stack([x, y])))
    ref = LinearRegression(fit_intercept=False).fit(x, y)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-10)
    rss = np.sum((y - ref.predict(x)) ** 2)
    assert m.noise_var_ == pytest.approx(rss / 77)
    assert LinearRegressionFamily(variance="mle").fit(Points(np.column_stack([x, y]))).noise_var_ == pytest.approx(rss / 80)
    from scipy.stats import norm

    np.testing.assert_allclose(m.log_prob(Points(np.column_stack([x, y]))),
                               norm(x @ m.coef_, math.sqrt(m.noise_var_)).logpdf(y))


def test_samples_relabel_the_fixed_design(rng):
    world = RegressionWorld(4, sigma=0.5)
    data = world.sample(30, rng)
    m = LinearRegressionFamily(noise_std=2.0).fit(data)
    s = m.sample(30, rng)
    np.testing.assert_array_equal(s.x[:, :-1], data.x[:, :-1])  # the same inputs, in order
    assert not np.array_equal(s.x[:, -1], data.x[:, -1])
    np.testing.assert_array_equal(m.sample(70, rng).x[60:, :-1], data.x[:10, :-1])  # tiled past the design
    resid = s.x[:, -1] - s.x[:, :-1] @ m.coef_
    assert 1.0 < resid.std() < 3.5  # noise_std, not the fitted 0.5
    with pytest.raises(ValueError, match="more than 4 rows"):
        LinearRegressionFamily().fit(Points(data.x[:4]))
    with pytest.raises(ValueError, match="label as the last column"):
        LinearRegressionFamily().fit(Points(data.x[:, :1]))


def test_world_density_and_moments(rng):
    from scipy.stats import multivariate_normal

    world = RegressionWorld(3, sigma=0.7, coef=0.5)
    data = world.sample(50, rng)
    np.testing.assert_allclose(world.log_prob(data), multivariate_normal(world.mean(), world.cov()).logpdf(data.x))
    big = world.sample(200_000, rng).x
    np.testing.assert_allclose(np.cov(big, rowvar=False), world.cov(), atol=0.02)


def test_replace_grows_linearly_as_the_closed_form():
    world, sim = simulate(Replace())
    pred = th.predict("test_error", family=LinearRegressionFamily, regime=Replace(), world=world, n=N, generations=T)
    np.testing.assert_allclose(pred, (np.arange(T + 1) + 1) * 10 / 89)
    assert pred[9] == pytest.approx(1.1236, abs=1e-4)  # the papers' "generation 10" is our generation 9
    assert inside(sim["test_error"], pred) == T + 1
    # the per-generation error of a design with G = N I (d / N, forgetting E tr G^-1 = d / (N - d - 1)) is rejected
    wrong = (np.arange(T + 1) + 1) * 10 / 100
    assert inside(sim["test_error"][:, 5:], wrong[5:]) <= 2
    noise = th.predict("noise_var_ratio", family=LinearRegressionFamily, regime=Replace(), world=world, n=N,
                       generations=T)
    assert inside(sim["noise_var_ratio"], noise) == T + 1


def test_accumulate_stays_below_pi_squared_over_six():
    world, sim = simulate(Accumulate())
    pred = th.predict("test_error", family=LinearRegressionFamily, regime=Accumulate(), world=world, n=N,
                      generations=T)
    assert inside(sim["test_error"], pred) == T + 1
    bound = th.accumulate_regression_bound(d=D, n=N)
    assert bound == pytest.approx(math.pi**2 / 6 * 10 / 89)
    assert np.all(pred < bound) and sim["test_error"][:, -1].mean() < bound
    # Gerstgrasser's known-noise sum (1/j^2) is close to, but not, the fitted-noise expectation
    known = th.regression_test_error_curve(np.arange(T + 1), d=D, n=N, regime=Accumulate(), noise_std=1.0)
    np.testing.assert_allclose(known, 10 / 89 * np.cumsum(1 / np.arange(1, T + 2) ** 2))
    # a harmonic (1/j) accumulation is rejected
    harmonic = 10 / 89 * np.cumsum(1 / np.arange(1, T + 2))
    assert inside(sim["test_error"], harmonic) <= 3
    noise = th.predict("noise_var_ratio", family=LinearRegressionFamily, regime=Accumulate(), world=world, n=N,
                       generations=T)
    assert inside(sim["noise_var_ratio"], noise) == T + 1
    assert inside(sim["noise_var_ratio"], np.ones(T + 1)) < T // 2  # the fitted noise shrinks under accumulate


def test_mle_noise_shrinks_and_known_noise_is_linear():
    v = th.regression_noise_variances(5, d=D, n=N, variance="mle")
    np.testing.assert_allclose(v, 0.9 ** np.arange(6))
    known = th.regression_test_error_curve(np.arange(6), d=D, n=N, variance="mle", noise_std=1.0)
    np.testing.assert_allclose(known, (np.arange(6) + 1) * 10 / 89)
    world = RegressionWorld(D)
    common = dict(family=LinearRegressionFamily, world=world, n=N, generations=4)
    assert th.predict("test_error", regime=Subsample(), **common) is None
    assert th.predict("test_error", regime=Fresh(0.1), **common) is None
    assert th.predict("heterozygosity", regime=Replace(), **common) is None
    with pytest.raises(ValueError, match="N > d"):
        th.regression_error_per_generation(d=10, n=11)


def test_regression_through_the_runtime(tmp_path):
    exp = redqueen.validate({
        "seed": 1, "generations": 3, "n": 40, "replicates": 2, "reference_size": 50,
        "world": {"kind": "regression", "d": 3}, "family": {"kind": "regression"},
        "arms": [{"name": "replace"}, {"name": "accumulate", "regime": "accumulate"}],
    })
    result = redqueen.run_experiment(exp, store=redqueen.Store(tmp_path))
    err = result.trajectory("accumulate", "test_error")
    assert err.shape == (2, 4) and np.all(np.isfinite(err))
    assert np.isfinite(result.trajectory("replace", "nll_real")).all()
    with pytest.raises(redqueen.ConfigError, match="variance"):
        redqueen.validate({**exp.model_dump(), "family": {"kind": "regression", "variance": "robust"}})
