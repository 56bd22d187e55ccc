"""Sampling genes of the Gaussian and the Gaussian mixtures: a temperature T (every standard deviation times T) and
a weight temperature S (weights w^(1/S)); the tempered model samples from, and scores under, the tempered
distribution; the genes evolve in the arena on digits; same seed, same result."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from redqueen.arena import genes as G
from redqueen.data import Points
from redqueen.models import GaussianFamily, gmm, kde
from redqueen.runtime import config as C
from redqueen.runtime.runner import run_experiment


def _points(seed=0, n=2000, d=3):
    rng = np.random.default_rng(seed)
    return Points(rng.standard_normal((n, d)) @ np.array([[1.0, 0.3, 0.0], [0.0, 0.5, 0.2], [0.0, 0.0, 2.0]])[:d, :d])


def _variance_ratio(samples: np.ndarray, cov: np.ndarray) -> float:
    """Mean over dimensions of sample variance / model variance."""
    return float(np.mean(samples.var(axis=0) / np.diag(cov)))


def test_gaussian_temperature_scales_the_covariance_by_t_squared():
    """T = 2: samples' variance is 4x the fit's, not 2x (the p^(1/T) reading) nor 1x; 40,000 draws put the ratio's
    standard error near 0.01."""
    x = _points()
    base = GaussianFamily().fit(x)
    hot = G.apply(GaussianFamily, base, ("temperature",), np.array([2.0]))
    r = _variance_ratio(hot.sample(40_000, np.random.default_rng(1)).x, base.cov_)
    assert abs(r - 4.0) < 0.15 and abs(r - 2.0) > 1.0, r
    assert np.array_equal(hot.cov_, base.cov_) and hot.temperature == 2.0 and base.temperature == 1.0  # fit untempered


def test_gaussian_log_prob_is_the_tempered_density():
    x = _points(d=2)
    m = GaussianFamily(temperature=0.5).fit(x)
    probe = Points(np.array([[0.1, -0.2], [1.0, 0.5], [-2.0, 0.0]]))
    direct = stats.multivariate_normal(m.mean_, 0.25 * m.cov_).logpdf(probe.x)
    assert np.allclose(m.log_prob(probe), direct, rtol=0, atol=1e-10)
    assert not np.allclose(GaussianFamily().fit(x).log_prob(probe), direct)  # the untempered one differs


def test_temperature_one_is_bitwise_the_plain_model():
    x = _points()
    for make in (GaussianFamily, lambda: gmm(components=3, covariance_type="diag")):
        plain = make().fit(x, np.random.default_rng(5))
        at_one = G.apply(make, plain, ("temperature",), np.array([1.0]))
        assert np.array_equal(plain.sample(50, np.random.default_rng(2)).x, at_one.sample(50, np.random.default_rng(2)).x)
        assert np.array_equal(plain.log_prob(x), at_one.log_prob(x))


@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical"])
def test_mixture_temperature_scales_every_covariance_by_t_squared(kind):
    """One component, so the sample covariance is the component's: T = 0.5 gives 0.25x the fit's variances (0.5x
    would be the wrong power), for every covariance type."""
    x = _points()
    base = gmm(components=1, covariance_type=kind).fit(x, np.random.default_rng(0))
    cold = G.apply(lambda: gmm(components=1, covariance_type=kind), base, ("temperature",), np.array([0.5]))
    cov = base.estimator_.covariances_
    full = {"full": lambda c: c[0], "tied": lambda c: c, "diag": lambda c: np.diag(c[0]),
            "spherical": lambda c: c[0] * np.eye(x.x.shape[1])}[kind](cov)
    r = _variance_ratio(cold.sample(40_000, np.random.default_rng(1)).x, full)
    assert abs(r - 0.25) < 0.01 and abs(r - 0.5) > 0.2, r
    # the fit is untouched: the fitted attributes are the ones EM found
    assert np.array_equal(cold.estimator_.covariances_, cov)


def _direct_mixture_logpdf(est, x: np.ndarray, t: float, s: float) -> np.ndarray:
    """log sum_k w_k^(1/s) / Z N(x; mu_k, t^2 Sigma_k), diagonal Sigma_k."""
    w = est.weights_ ** (1.0 / s)
    w = w / w.sum()
    comp = [stats.multivariate_normal(mu, np.diag(t * t * var)).logpdf(x) for mu, var in zip(est.means_, est.covariances_)]
    return np.logaddexp.reduce(np.log(w)[:, None] + np.array(comp).reshape(len(w), -1), axis=0)


def test_mixture_log_prob_matches_the_direct_formula_and_integrates_to_one():
    rng = np.random.default_rng(3)
    x1 = Points(np.concatenate([rng.normal(-3, 0.5, (300, 1)), rng.normal(1, 1.0, (900, 1)), rng.normal(5, 0.3, (150, 1))]))
    make = lambda: gmm(components=3, covariance_type="diag")  # noqa: E731
    base = make().fit(x1, np.random.default_rng(0))
    for t, s in ((0.6, 1.0), (1.0, 0.4), (1.7, 2.5)):
        m = G.apply(make, base, ("temperature", "weight_temperature"), np.array([t, s]))
        grid = np.linspace(-15, 20, 20_001)[:, None]
        lp = m.log_prob(Points(grid))
        assert abs(np.trapezoid(np.exp(lp), grid[:, 0]) - 1.0) < 1e-6
        assert np.allclose(lp, _direct_mixture_logpdf(base.estimator_, grid, t, s), rtol=0, atol=1e-8)


def test_weight_temperature_samples_components_at_the_tempered_weights():
    """Three far-apart components; S = 0.5 squares the weights (renormalised): the share of samples near each mean
    matches w^2 / sum w^2 (chi-square, p > 0.001) and not w (p < 1e-6)."""
    rng = np.random.default_rng(4)
    x1 = Points(np.concatenate([rng.normal(-20, 0.5, (200, 1)), rng.normal(0, 0.5, (500, 1)), rng.normal(20, 0.5, (300, 1))]))
    make = lambda: gmm(components=3, covariance_type="diag")  # noqa: E731
    base = make().fit(x1, np.random.default_rng(0))
    sharp = G.apply(make, base, ("weight_temperature",), np.array([0.5]))
    y = sharp.sample(20_000, np.random.default_rng(6)).x[:, 0]
    means = base.estimator_.means_[:, 0]
    counts = np.bincount(np.abs(y[:, None] - means[None, :]).argmin(axis=1), minlength=3)
    w = base.estimator_.weights_
    assert stats.chisquare(counts, 20_000 * w**2 / (w**2).sum()).pvalue > 1e-3
    assert stats.chisquare(counts, 20_000 * w).pvalue < 1e-6


def test_a_density_without_components_refuses_a_temperature():
    m = kde(bandwidth=0.5).fit(_points(n=100), np.random.default_rng(0))
    hot = G.apply(lambda: kde(bandwidth=0.5), m, ("temperature",), np.array([2.0]))
    with pytest.raises(ValueError, match="need a Gaussian mixture"):
        hot.sample(5, np.random.default_rng(0))


def _digits_config(seed=12):
    from conftest import digits_arena_config

    return digits_arena_config({"kind": "gmm", "components": 3, "covariance_type": "diag"},
                               ["temperature", "weight_temperature"], 0.3, seed=seed, name="mixture genes")


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning:sklearn.neural_network")  # recorded
def test_mixture_genes_evolve_in_the_arena_on_digits_and_replay():
    """A tiny digits arena: the genes start at the family's 1.0 and move (a child's genes are interpolated and
    mutated), and the same seed replays every record."""
    first = run_experiment(C.validate(_digits_config()), checkpoints=False)
    for gene in ("temperature", "weight_temperature"):
        last = [r.metrics[f"arena_{gene}"] for r in first.records if r.generation == 3]
        start = [r.metrics[f"arena_{gene}"] for r in first.records if r.generation == 0]
        assert start == [1.0] * 3 and any(v != 1.0 for v in last), (gene, last)
    assert {r.metrics["det_converged"] for r in first.records} == {0.0}  # max_iter 50: recorded, not printed
    again = run_experiment(C.validate(_digits_config()), checkpoints=False)
    from test_arena import same_records

    assert same_records(first.records, again.records)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_checkpoint_restores_tempered_mixtures_bit_for_bit(tmp_path):
    """Save after round 1 of the digits arena with genes, load into a fresh population, and the next two rounds
    equal the uninterrupted ones (the genes are arena state; the models' states are untempered)."""
    from test_arena import restored_steps_equal

    want, _ = restored_steps_equal(C.validate(_digits_config(seed=5)), tmp_path, before=2)
    assert any(r.metrics["arena_temperature"] != 1.0 for r in want[-1])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_reg_covar_reaches_the_estimator_and_its_copies():
    """``reg_covar`` from the config reaches scikit-learn's estimator, a warm-started copy and a genome child (the
    template's clone), and on full-covariance digits mixtures (10 components of 64 pixels on 600 images) it is what
    keeps held-out real digits likely: at scikit-learn's 1e-6 the mean log-likelihood is far below the 1e-2 one
    (measured: about -330 against 43 nats per image, BENCHMARKS.md section 14)."""
    from redqueen.evolve.genome import genomes
    from redqueen.runtime.build import make_family, make_world

    exp = C.validate({**_digits_config(), "family": {"kind": "gmm", "components": 10, "covariance_type": "full",
                                                     "reg_covar": 1e-2, "max_iter": 30}})
    world = make_world(exp.world)
    make = make_family(exp.family)
    rng = np.random.default_rng(0)
    train, real = world.sample(600, rng), world.sample(300, rng)  # fresh draws: held out
    m = make().fit(train, np.random.default_rng(1))
    assert m.estimator_.reg_covar == 1e-2 and m.warm_from(m).estimator.reg_covar == 1e-2
    g = genomes([m, make().fit(train, np.random.default_rng(2))])
    child = g.build(g.vectors[1])
    assert child.estimator_.reg_covar == 1e-2
    tight = gmm(components=10, covariance_type="full", max_iter=30).fit(train, np.random.default_rng(1))
    assert tight.estimator_.reg_covar == 1e-6
    ridge, plain = np.mean(m.log_prob(real)), np.mean(tight.log_prob(real))
    assert np.isfinite(ridge) and ridge > plain + 100, (ridge, plain)
