"""Statistical agreement of simulations with redqueen.theory (msprime-style verification).

Every test is seeded, so it is deterministic; the bands are still honest: each check is a
simultaneous interval (Bonferroni over its generations), and the suite's checks share one
false-alarm budget. With INTERVAL_CHECKS = 19 interval checks each at level 1 - 0.01/19, a correct
theory fails *any* of them with probability <= 1% over fresh seeds (uncorrected 99% checks would
have given ~17%). The other seeded tests of the suite that could fail by chance are 10 p-value
checks at 1e-3 (chi-square/KS, tests/test_ngram.py, test_digits.py, test_evolve.py: <= 1%) and
z > 4 bands (6e-5 each), so the whole suite's false-alarm rate is at most about 2.5%. Each check
also shows that a wrong theory (a wrong exponent, a wrong order of mutation and drift, an unrounded
real fraction, the bank read as the world, a pool without its subsampling) is rejected at that level.
Most simulations are the loop written out vectorised over replicates; one test of each family goes
through the real :class:`Lineage`.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from redqueen import theory as th
from redqueen.loop import Accumulate, Filter, Fresh, Lineage, Noise, Replace, Subsample
from redqueen.models import CategoricalFamily, GaussianFamily
from redqueen.worlds import Categorical, gaussian, zipf


#: the suite's simultaneous-interval checks (sites of all_inside, a parametrized site counted once per case)
INTERVAL_CHECKS = 19
SUITE_LEVEL = 1 - 0.01 / INTERVAL_CHECKS


def all_inside(sim: np.ndarray, pred: np.ndarray, level: float = SUITE_LEVEL) -> bool:
    return all(r.inside for r in th.compare(sim, pred, level))


def n_inside(sim: np.ndarray, pred: np.ndarray, level: float = SUITE_LEVEL) -> int:
    return sum(r.inside for r in th.compare(sim, pred, level))


def simulate_categorical(pi, *, n, generations, replicates, seed, alpha=0.0, rate=0.0, real=0):
    """Heterozygosity (replicates, T+1) of the fitted model: replace/fresh(world) with smoothing and noise.

    The loop of Lineage for the categorical family, written out over replicates at once.
    """
    rng = np.random.default_rng(seed)
    pi = np.asarray(pi, float) / np.sum(pi)
    k = pi.shape[0]
    world = np.broadcast_to(pi, (replicates, k))

    def fit(counts):
        return (counts + alpha) / (counts.sum(axis=1, keepdims=True) + k * alpha)

    p = fit(rng.multinomial(n, world))
    h = [1 - np.sum(p * p, axis=1)]
    for _ in range(generations):
        y = rng.multinomial(n - real, p)
        if rate:
            moved = rng.binomial(y, rate)
            arrive = rng.multinomial(moved.sum(axis=1), np.full(k, 1 / k))
            y = y - moved + arrive
        if real:
            y = y + rng.multinomial(real, world)
        p = fit(y)
        h.append(1 - np.sum(p * p, axis=1))
    return np.stack(h, axis=1)


def simulate_gaussian_1d(*, n, generations, replicates, seed, ddof=0, accumulate=False, sigma=1.0):
    """(mean, variance) of the fitted 1-D Gaussian, each (replicates, T+1), under replace or accumulate."""
    rng = np.random.default_rng(seed)
    x = sigma * rng.standard_normal((replicates, n))
    s1, s2, m = x.sum(axis=1), (x * x).sum(axis=1), n
    means, vars_ = [], []
    for g in range(generations + 1):
        if g:
            x = mu[:, None] + np.sqrt(var)[:, None] * rng.standard_normal((replicates, n))
            if accumulate:
                s1, s2, m = s1 + x.sum(axis=1), s2 + (x * x).sum(axis=1), m + n
            else:
                s1, s2, m = x.sum(axis=1), (x * x).sum(axis=1), n
        mu = s1 / m
        var = np.maximum(s2 - m * mu * mu, 0) / (m - ddof)
        means.append(mu)
        vars_.append(var)
    return np.stack(means, axis=1), np.stack(vars_, axis=1)


# ------------------------------------------------------------------ categorical


def test_replace_heterozygosity_is_wright_fisher_for_every_generation():
    pi = zipf(10, 1.0).probs
    n, T = 50, 50
    sim = simulate_categorical(pi, n=n, generations=T, replicates=400, seed=1)
    h0 = th.initial_heterozygosity(pi, n=n)
    assert h0 == pytest.approx((1 - pi @ pi) * (1 - 1 / n))
    t = np.arange(T + 1)
    assert all_inside(sim, th.wright_fisher_heterozygosity(t, n=n, h0=h0))
    # a wrong exponent is rejected at almost every generation
    wrong = h0 * (1 - 2 / n) ** t
    assert n_inside(sim, wrong) <= 3
    assert n_inside(sim, h0 * (1 - 1 / (2 * n)) ** t) <= 3


def test_replace_through_lineage_matches_predict():
    world, fam, n, T = zipf(6, 1.0), CategoricalFamily(), 15, 15
    sim = np.empty((200, T + 1))
    f_sim = np.empty((200, T + 1))
    for r in range(200):
        lin = Lineage(world=world, make_family=CategoricalFamily, regime=Replace(), n=n, seed=11, replicate=r)
        for g in range(T + 1):
            m = lin.step().metrics
            sim[r, g], f_sim[r, g] = m["heterozygosity"], m["inbreeding"]
    pred = th.predict("heterozygosity", family=fam, regime=Replace(), world=world, n=n, generations=T)
    assert pred.shape == (T + 1,)
    assert all_inside(sim, pred)
    assert n_inside(sim, pred[0] * (1 - 2 / n) ** np.arange(T + 1)) < T // 2
    f_pred = th.predict("inbreeding", family=fam, regime=Replace(), world=world, n=n, generations=T)
    np.testing.assert_allclose(f_pred, 1 - (1 - 1 / n) ** np.arange(T + 1))
    assert all_inside(f_sim[:, 1:], f_pred[1:])


def test_smoothing_trajectory_and_equilibrium():
    pi = zipf(8, 1.5).probs
    n, alpha, T = 30, 0.2, 120
    u = th.smoothing_rate(alpha, k=8, n=n)
    sim = simulate_categorical(pi, n=n, generations=T, replicates=300, seed=2, alpha=alpha)
    h0 = th.initial_heterozygosity(pi, n=n, alpha=alpha)
    pred = th.mutation_drift_heterozygosity(np.arange(T + 1), n=n, k=8, u=u, h0=h0)
    assert all_inside(sim, pred)
    h_star = th.mutation_drift_equilibrium(n=n, k=8, u=u)
    assert pred[-1] == pytest.approx(h_star, abs=1e-6)
    # time average over the last 60 generations and 300 replicates, well mixed
    late = sim[:, -60:].mean(axis=1)
    se = late.std(ddof=1) / math.sqrt(late.size)
    assert abs(late.mean() - h_star) < 4 * se
    # the same rate applied before the sampling (as noise curation does) is rejected: order matters
    assert abs(late.mean() - th.noise_drift_equilibrium(n=n, k=8, rate=u)) > 5 * se
    generic = th.categorical_heterozygosity(np.arange(T + 1), world_probs=pi, n=n, alpha=alpha)
    np.testing.assert_allclose(generic, pred, rtol=1e-12)
    assert th.categorical_equilibrium(world_probs=pi, n=n, alpha=alpha) == pytest.approx(h_star)


def test_noise_is_mutation_before_drift():
    pi = zipf(10, 1.2).probs
    n, rate, T = 20, 0.1, 60
    sim = simulate_categorical(pi, n=n, generations=T, replicates=400, seed=3, rate=rate)
    h0 = th.initial_heterozygosity(pi, n=n)
    t = np.arange(T + 1)
    pred = th.noise_drift_heterozygosity(t, n=n, k=10, rate=rate, h0=h0)
    assert all_inside(sim, pred)
    # the same rate read as smoothing (mutation after drift) misses the equilibrium
    after = th.mutation_drift_heterozygosity(t, n=n, k=10, u=rate, h0=h0)
    assert n_inside(sim[:, 30:], after[30:]) == 0
    np.testing.assert_allclose(
        th.predict("heterozygosity", family=CategoricalFamily(), regime=Replace(), curation=[Noise(rate=rate)],
                   world=Categorical(pi), n=n, generations=T), pred, rtol=1e-12)


def test_fresh_data_trajectory_with_rounded_real_fraction():
    pi = zipf(10, 1.0).probs
    n, T = 10, 40
    regime = Fresh(fraction=0.25, source="world")
    m = regime.real_size(n)
    assert m == 2  # round(2.5) is 2: the realised fraction is 0.2, not 0.25
    sim = simulate_categorical(pi, n=n, generations=T, replicates=1000, seed=4, real=m)
    t = np.arange(T + 1)
    world_h = 1 - pi @ pi
    h0 = th.initial_heterozygosity(pi, n=n)
    pred = th.fresh_data_heterozygosity(t, n=n, fraction=m / n, world_h=world_h, h0=h0)
    assert all_inside(sim, pred)
    via_predict = th.predict("heterozygosity", family=CategoricalFamily(), regime=regime, world=Categorical(pi),
                             n=n, generations=T)
    np.testing.assert_allclose(via_predict, pred, rtol=1e-12)
    h_star = th.fresh_data_equilibrium(n=n, fraction=m / n, world_h=world_h)
    assert pred[-1] == pytest.approx(h_star, abs=1e-9)
    # the unrounded fraction predicts too much diversity for the late generations
    unrounded = th.fresh_data_heterozygosity(t, n=n, fraction=0.25, world_h=world_h, h0=h0)
    assert n_inside(sim[:, 10:], unrounded[10:]) <= 3
    late = sim[:, 10:].mean(axis=1)
    assert abs(late.mean() - h_star) < 4 * late.std(ddof=1) / math.sqrt(late.size)


def test_accumulate_heterozygosity_stops_decaying():
    pi = zipf(6, 1.0).probs
    n, T = 10, 30
    pred = th.predict("heterozygosity", family=CategoricalFamily(), regime=Accumulate(), world=Categorical(pi),
                      n=n, generations=T)
    h0 = th.initial_heterozygosity(pi, n=n)
    np.testing.assert_allclose(pred, th.accumulate_heterozygosity(np.arange(T + 1), n=n, h0=h0), rtol=1e-12)
    assert pred[-1] > h0 * (1 - (math.pi**2 / 6 - 1) / n)
    assert pred[-1] > th.wright_fisher_heterozygosity(T, n=n, h0=h0) * 3


def test_predict_returns_none_without_theory():
    world = zipf(5)
    common = dict(world=world, n=10, generations=5)
    assert th.predict("kl", family=CategoricalFamily(), regime=Replace(), **common) is None
    assert th.predict("heterozygosity", family=CategoricalFamily(temperature=0.7), regime=Replace(), **common) is None
    assert th.predict("heterozygosity", family=CategoricalFamily(), regime=Replace(), curation=[Filter()],
                      **common) is None
    assert th.predict("heterozygosity", family=GaussianFamily(), regime=Replace(), **common) is None
    g = dict(world=gaussian(2), n=10, generations=5)
    assert th.predict("fitted_var_ratio", family=GaussianFamily(), regime=Subsample(), **g) is None
    assert th.predict("heterozygosity", family=GaussianFamily(), regime=Replace(), **g) is None
    assert th.predict("fitted_var_ratio", family=GaussianFamily, regime=Replace(), **g).shape == (6,)
    t = np.array([0, 3, 7])
    assert th.predict("heterozygosity", family=CategoricalFamily(), regime=Replace(), world=world, n=10,
                      generations=t).shape == (3,)


def test_compare_rows_and_errors():
    sim = np.array([[1.0, 2.0, np.nan], [1.2, 2.2, 3.0], [0.8, 1.8, np.nan]])
    rows = th.compare(sim, np.array([1.0, 5.0, 3.0]))
    assert [r.t for r in rows] == [0, 1, 2]
    assert rows[0].inside and not rows[1].inside and not rows[2].inside  # one valid replicate: no interval
    assert rows[0].mean == pytest.approx(1.0) and rows[0].ci_low < 1.0 < rows[0].ci_high
    assert rows[2].replicates == 1 and math.isnan(rows[2].ci_low)
    assert set(rows[0].as_dict()) == {"t", "mean", "ci_low", "ci_high", "prediction", "inside", "replicates",
                                      "detectable"}
    # power as a size: the deviation excluded with 80% probability lies beyond the interval's half-width
    half = (rows[0].ci_high - rows[0].ci_low) / 2
    assert half < rows[0].detectable < 2 * half and math.isnan(rows[2].detectable)
    wide = th.compare(sim[:, :2], np.array([1.0, 2.0]), simultaneous=True)
    narrow = th.compare(sim[:, :2], np.array([1.0, 2.0]), simultaneous=False)
    assert wide[0].ci_high > narrow[0].ci_high
    with pytest.raises(ValueError, match="generations"):
        th.compare(sim, np.zeros(2))
    with pytest.raises(ValueError, match="level"):
        th.compare(sim, np.zeros(3), level=1.5)


# ------------------------------------------------------------------ Gaussian


def test_gaussian_mle_variance_shrinks_by_n_minus_one_over_n():
    # N = 50: for much smaller N the variance is log-normal-ish with a heavy tail by t = 50
    # and a 3000-replicate mean undercovers its (still exact) expectation
    n, T = 50, 50
    _, var = simulate_gaussian_1d(n=n, generations=T, replicates=3000, seed=5, ddof=0, sigma=2.0)
    t = np.arange(T + 1)
    pred = th.gaussian_variance(t, n=n, ddof=0, var0=4.0 * (n - 1) / n)
    assert all_inside(var, pred)
    assert n_inside(var, 4.0 * ((n - 1) / n) ** (2 * t + 1)) <= 3


def test_gaussian_unbiased_variance_keeps_mean_but_log_drifts():
    n, T = 30, 40
    _, var = simulate_gaussian_1d(n=n, generations=T, replicates=3000, seed=6, ddof=1)
    t = np.arange(T + 1)
    # E sigma^2 stays 1, but the typical lineage shrinks: later the 3000-replicate mean undercovers
    assert all_inside(var[:, :20], th.gaussian_variance(t[:20], n=n, ddof=1, var0=1.0))
    drift = th.gaussian_log_variance_drift(n=n, ddof=1)
    assert drift < 0
    pred = th.gaussian_log_variance(t, n=n, ddof=1, log_var0=drift)
    assert all_inside(np.log(var), pred)
    assert n_inside(np.log(var), np.full(T + 1, drift)) <= 5


def test_gaussian_family_through_lineage_matches_predict():
    world, n, T, R = gaussian(2, std=1.5), 10, 8, 150
    fam = GaussianFamily()
    sim = {m: np.empty((R, T + 1)) for m in ("fitted_var_ratio", "fitted_mean_sq_error", "fitted_log_var")}
    for r in range(R):
        lin = Lineage(world=world, make_family=GaussianFamily, regime=Replace(), n=n, seed=21, replicate=r)
        lin.diagnostics.real = world.sample(20, lin.diagnostics.rng)  # for nll_real only
        for g in range(T + 1):
            rec = lin.step().metrics
            for key in sim:
                sim[key][r, g] = rec[key]
    t = np.arange(T + 1)
    var_pred = th.predict("fitted_var_ratio", family=fam, regime=Replace(), world=world, n=n, generations=T)
    np.testing.assert_allclose(var_pred, th.gaussian_variance(t, n=n, var0=(n - 1) / n))
    assert all_inside(sim["fitted_var_ratio"], var_pred)
    err_pred = th.predict("fitted_mean_sq_error", family=fam, regime=Replace(), world=world, n=n, generations=T)
    np.testing.assert_allclose(err_pred, th.replace_mean_error(t, n=n, trace=2 * 1.5**2))
    assert all_inside(sim["fitted_mean_sq_error"], err_pred)
    # E[log sigma^2] (mean over coordinates, relative to the world's): (t + 1) times the per-generation drift
    log_pred = th.predict("fitted_log_var", family=fam, regime=Replace(), world=world, n=n, generations=T)
    np.testing.assert_allclose(log_pred, (t + 1) * th.gaussian_log_variance_drift(n=n, ddof=0))
    assert all_inside(sim["fitted_log_var"], log_pred)
    assert n_inside(sim["fitted_log_var"], np.zeros(T + 1)) <= 2  # "no drift" is rejected
    assert th.predict("fitted_log_var", family=fam, regime=Accumulate(), world=world, n=n, generations=T) is None


def test_accumulate_mean_error_bounded_while_replace_grows_linearly():
    # N = 30: with N = 10 the unbiased variance is so heavy-tailed after ~40 generations that a
    # 2000-replicate mean of the error is unreliable, though its expectation is still exact
    n, T, R = 30, 60, 2000
    t = np.arange(T + 1)
    mu_rep, _ = simulate_gaussian_1d(n=n, generations=T, replicates=R, seed=8, ddof=1)
    mu_acc, _ = simulate_gaussian_1d(n=n, generations=T, replicates=R, seed=9, ddof=1, accumulate=True)
    err_rep, err_acc = mu_rep**2, mu_acc**2
    # replace with the unbiased variance: exactly linear, (t+1) sigma^2 / N
    rep_pred = th.replace_mean_error(t, n=n, trace=1.0, ddof=1)
    np.testing.assert_allclose(rep_pred, (t + 1) / n)
    assert all_inside(err_rep, rep_pred)
    # accumulate: exact recursion inside the band, and below the pi^2/6 bound
    exact = th.gaussian_moments(t, trace=1.0, d=1, n=n, regime=Accumulate(), ddof=1).mean_sq_error
    bound = th.accumulate_mean_error_bound(t, n=n, trace=1.0)
    assert all_inside(err_acc, exact)
    assert np.all(exact <= bound + 1e-15) and bound[-1] < math.pi**2 / 6 / n
    assert err_acc[:, -1].mean() < 2 / n < err_rep[:, -1].mean() / 3
    # the mean error of replace keeps climbing; accumulate's flattens out
    late_slope_acc = err_acc[:, 40:].mean(axis=0)[-1] - err_acc[:, 40:].mean(axis=0)[0]
    late_slope_rep = err_rep[:, 40:].mean(axis=0)[-1] - err_rep[:, 40:].mean(axis=0)[0]
    assert late_slope_rep > 0.5 and abs(late_slope_acc) < 0.01


def test_generic_categorical_engine_agrees_with_each_closed_form():
    pi = zipf(12, 1.1).probs
    n, t = 25, np.arange(80)
    h0 = th.initial_heterozygosity(pi, n=n)
    world_h = 1 - pi @ pi
    np.testing.assert_allclose(th.categorical_heterozygosity(t, world_probs=pi, n=n),
                               th.wright_fisher_heterozygosity(t, n=n, h0=h0), rtol=1e-12)
    np.testing.assert_allclose(th.categorical_heterozygosity(t, world_probs=pi, n=n, noise=0.07),
                               th.noise_drift_heterozygosity(t, n=n, k=12, rate=0.07, h0=h0), rtol=1e-12)
    regime = Fresh(fraction=0.3)
    np.testing.assert_allclose(th.categorical_heterozygosity(t, world_probs=pi, n=n, regime=regime),
                               th.fresh_data_heterozygosity(t, n=n, fraction=regime.real_size(n) / n, world_h=world_h, h0=h0), rtol=1e-12)
    assert th.categorical_equilibrium(world_probs=pi, n=n, noise=0.07) == pytest.approx(
        th.noise_drift_equilibrium(n=n, k=12, rate=0.07))
    assert th.categorical_equilibrium(world_probs=pi, n=n, regime=regime) == pytest.approx(
        th.fresh_data_equilibrium(n=n, fraction=regime.real_size(n) / n, world_h=world_h))
    assert th.categorical_equilibrium(world_probs=pi, n=n) == 0.0
    # a bank is a smaller, fixed source: less diversity than fresh draws from the world
    bank = th.categorical_equilibrium(world_probs=pi, n=n, regime=Fresh(fraction=0.3, source="bank"))
    assert bank < th.categorical_equilibrium(world_probs=pi, n=n, regime=regime)
    with pytest.raises(ValueError, match="equilibrium"):
        th.categorical_equilibrium(world_probs=pi, n=n, regime=Accumulate())
    with pytest.raises(ValueError, match="non-negative"):
        th.wright_fisher_heterozygosity(-1, n=n, h0=0.5)


def test_stated_power_is_the_rejection_rate_at_that_deviation():
    """A mean that is off the prediction by ``detectable`` is rejected about 80% of the time (2,000 seeded trials
    of 50 normal replicates over 5 generations): the power each `redqueen theory` check prints is calibrated."""
    rng = np.random.default_rng(0)
    pred = np.zeros(5)
    delta = np.mean([th.compare(rng.standard_normal((50, 5)), pred)[0].detectable for _ in range(200)])
    rejected = [not th.compare(rng.standard_normal((50, 5)) + delta, pred)[0].inside for _ in range(2000)]
    assert abs(np.mean(rejected) - 0.8) < 0.05
    rows = th.compare(rng.standard_normal((50, 5)) * 0.1 + 1.0, np.ones(5))
    median, worst = th.relative_power(rows)
    assert 0 < median <= worst < 0.2
    assert th.replicates_for(rows, 0.01) > 50 and th.replicates_for(rows, 0.5) is None


# ------------------------------------------------------------------ pools and the gene bank, by simulation


def simulate_pooled(pi, *, n, generations, replicates, seed, regime, alpha=0.0):
    """Heterozygosity (replicates, T+1) of the fitted categorical model under accumulate, subsample (budget)
    or fresh from the gene bank: the regimes written out over replicates, independently of the library."""
    rng = np.random.default_rng(seed)
    pi = np.asarray(pi, float) / np.sum(pi)
    k = pi.shape[0]

    def fit(counts):
        return (counts + alpha) / (counts.sum(axis=1, keepdims=True) + k * alpha)

    bank = rng.multinomial(n, np.broadcast_to(pi, (replicates, k)))
    pool, train = bank.copy(), bank
    p = fit(train)
    h = [1 - np.sum(p * p, axis=1)]
    for _ in range(generations):
        if isinstance(regime, Fresh):  # m real items drawn without replacement from generation 0's n
            m = regime.real_size(n)
            real = np.stack([rng.multivariate_hypergeometric(b, m) for b in bank])
            train = rng.multinomial(n - m, p) + real
        else:
            pool = pool + rng.multinomial(n, p)
            if isinstance(regime, Subsample):
                train = np.stack([rng.multivariate_hypergeometric(c, regime.budget or n) for c in pool])
            else:
                train = pool
        p = fit(train)
        h.append(1 - np.sum(p * p, axis=1))
    return np.stack(h, axis=1)


@pytest.mark.parametrize("regime, alpha, wrong", [
    (Accumulate(), 0.0, "replace"),  # drift does not stop: rejected
    (Subsample(budget=10), 0.0, "accumulate"),  # ignoring the draw from the pool: rejected
    (Subsample(budget=5), 0.1, "accumulate"),
    (Fresh(fraction=0.3, source="bank"), 0.0, "world"),  # the bank read as new draws from the world: rejected
])
def test_pooled_regimes_and_the_gene_bank_match_theory_by_simulation(regime, alpha, wrong):
    """400 simulated lineages per regime inside simultaneous 99% intervals at every generation (generation 0
    included: the prediction starts from E[H_0], not from the observed mean), and a wrong formula rejected."""
    pi = zipf(6, 1.0).probs
    n, T = 10, 20
    sim = simulate_pooled(pi, n=n, generations=T, replicates=400, seed=1, regime=regime, alpha=alpha)
    pred = th.predict("heterozygosity", family=CategoricalFamily(alpha=alpha), regime=regime, world=Categorical(pi),
                      n=n, generations=T)
    assert all_inside(sim, pred)
    other = {"replace": Replace(), "accumulate": Accumulate(), "world": Fresh(fraction=regime.fraction if
             isinstance(regime, Fresh) else 0.1, source="world")}[wrong]
    bad = th.predict("heterozygosity", family=CategoricalFamily(alpha=alpha), regime=other, world=Categorical(pi),
                     n=n, generations=T)
    assert n_inside(sim[:, 5:], bad[5:]) <= 3


def test_the_interval_budget_counts_every_check_in_the_suite():
    """INTERVAL_CHECKS must cover every all_inside call: adding a check without raising it would spend more
    than the suite's 1% false-alarm budget."""
    import pathlib

    here = pathlib.Path(__file__).parent
    sites = sum(len(re.findall(r"(?<!def )\ball_inside\(", f.read_text())) for f in here.glob("test_*.py"))
    parametrized = 4 - 1  # test_pooled_regimes_and_the_gene_bank_match_theory_by_simulation runs its site 4 times
    assert sites + parametrized == INTERVAL_CHECKS
