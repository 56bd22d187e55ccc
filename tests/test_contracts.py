"""Contract tests run over every world and every model family: shapes, determinism, seeds."""

import numpy as np
import pytest

from redqueen.data import Counts, Points
from redqueen.models import CategoricalFamily, GaussianFamily, LinearRegressionFamily, gmm, kde
from redqueen.models.base import Family
from redqueen.worlds import RegressionWorld, gaussian, ring_mixture, wordfreq_world, zipf
from redqueen.worlds.base import World

WORLDS = {
    "zipf": lambda: zipf(50, 1.2),
    "wordfreq": lambda: wordfreq_world("en", 300),
    "gaussian": lambda: gaussian(3, 1.0, 2.0),
    "mixture": lambda: ring_mixture(4, 2),
    "regression": lambda: RegressionWorld(4, sigma=0.5),
}
FAMILIES = {
    "categorical": (CategoricalFamily, "zipf"),
    "categorical-smoothed-biased": (lambda: CategoricalFamily(alpha=0.5, temperature=0.7, top_k=20, top_p=0.9), "zipf"),
    "gaussian": (GaussianFamily, "gaussian"),
    "gaussian-unbiased": (lambda: GaussianFamily(ddof=1), "gaussian"),
    "gmm": (lambda: gmm(components=4), "mixture"),
    "kde": (lambda: kde(bandwidth=0.3), "mixture"),
    "regression": (LinearRegressionFamily, "regression"),
    "regression-mle-known-noise": (lambda: LinearRegressionFamily(variance="mle", noise_std=1.0), "regression"),
}


def _same(a, b) -> bool:
    return all(np.array_equal(a.to_arrays()[k], b.to_arrays()[k]) for k in a.to_arrays())


@pytest.mark.parametrize("name", WORLDS)
def test_world_contract(name):
    world = WORLDS[name]()
    assert isinstance(world, World)
    a = world.sample(200, np.random.default_rng(1))
    b = world.sample(200, np.random.default_rng(1))
    c = world.sample(200, np.random.default_rng(2))
    assert len(a) == 200
    assert _same(a, b) and not _same(a, c)
    lp = world.log_prob(a)
    assert lp is None or lp.shape == a.weights().shape
    tp = world.type_probs()
    if tp is not None:
        assert np.isclose(tp.sum(), 1.0)
        assert world.types(a).shape == tp.shape and world.types(a).sum() == 200


@pytest.mark.parametrize("name", FAMILIES)
def test_family_contract(name):
    make, world_name = FAMILIES[name]
    world = WORLDS[world_name]()
    data = world.sample(500, np.random.default_rng(0))
    model = make().fit(data, np.random.default_rng(0))
    assert isinstance(model, Family)
    s1 = model.sample(123, np.random.default_rng(7))
    s2 = model.sample(123, np.random.default_rng(7))
    s3 = model.sample(123, np.random.default_rng(8))
    assert type(s1) is type(data) and len(s1) == 123
    assert _same(s1, s2) and not _same(s1, s3)
    lp = model.log_prob(data)
    assert lp.shape == data.weights().shape
    if "biased" not in name:  # truncated sampling gives the truncated types zero probability
        assert np.all(np.isfinite(lp[data.weights() > 0]))
    # fitting twice with the same seed gives the same model; state round-trips
    again = make().fit(data, np.random.default_rng(0))
    for k, v in model.state().items():
        np.testing.assert_array_equal(v, again.state()[k])
    restored = make().load_state(model.state())
    np.testing.assert_allclose(restored.log_prob(data), lp)
    assert _same(restored.sample(50, np.random.default_rng(3)), model.sample(50, np.random.default_rng(3)))


def test_categorical_mle_and_smoothing():
    data = Counts(np.array([3, 0, 1]))
    assert np.allclose(CategoricalFamily().fit(data).probs_, [0.75, 0, 0.25])
    assert np.allclose(CategoricalFamily(alpha=1).fit(data).probs_, [4 / 7, 1 / 7, 2 / 7])


def test_gaussian_mle_matches_numpy(rng):
    x = rng.normal(size=(400, 2))
    m = GaussianFamily().fit(Points(x))
    np.testing.assert_allclose(m.cov_, np.cov(x, rowvar=False, ddof=0))
    np.testing.assert_allclose(m.mean_, x.mean(0))


@pytest.mark.parametrize("name", ["categorical", "gaussian"])
def test_any_float_family_is_a_genome(name):
    from redqueen.evolve.genome import family_genome, set_family_genome

    make, world_name = FAMILIES[name]
    data = WORLDS[world_name]().sample(300, np.random.default_rng(0))
    model = make().fit(data, np.random.default_rng(0))
    vec, layout = family_genome(model)
    assert vec.dtype == np.float32 and vec.ndim == 1
    other = set_family_genome(make(), vec, layout)
    np.testing.assert_allclose(other.log_prob(data), model.log_prob(data), rtol=1e-5, atol=1e-6)
