"""The digits world: contract, determinism and its type assignment."""

import numpy as np
import pytest

from redqueen.data import Points
from redqueen.worlds.digits import Digits


@pytest.fixture(scope="module")
def world():
    return Digits()


def test_samples_are_the_real_images_drawn_uniformly_with_replacement(world):
    from scipy.stats import chisquare
    from sklearn.datasets import load_digits

    real = load_digits()
    s = world.sample(20_000, np.random.default_rng(0))
    assert isinstance(s, Points) and s.x.shape == (20_000, 64) and world.log_prob(s) is None
    rows = {r.tobytes(): i for i, r in enumerate(real.data.astype(s.x.dtype))}
    idx = np.array([rows.get(r.tobytes(), -1) for r in s.x])
    assert np.all(idx >= 0)  # every sample is one of the 1,797 real images
    assert len(np.unique(idx)) > 1790  # ~11 draws per image: all but a few are hit
    # classes in proportion to the data set (seeded; a correct sampler passes with probability 0.999)
    expected = np.bincount(real.target, minlength=10) / len(real.target) * 20_000
    assert chisquare(np.bincount(real.target[idx], minlength=10), expected).pvalue > 1e-3


def test_scale_divides_the_pixels_by_16():
    plain, scaled = Digits().sample(200, np.random.default_rng(4)), Digits(scale=True).sample(200, np.random.default_rng(4))
    np.testing.assert_allclose(scaled.x, plain.x / 16)


def test_same_seed_same_sample_other_seed_other(world):
    a = world.sample(30, np.random.default_rng(1)).x
    b = world.sample(30, np.random.default_rng(1)).x
    c = world.sample(30, np.random.default_rng(2)).x
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_types_of_real_images_follow_the_classes(world):
    p = world.type_probs()
    assert p.shape == (10,) and np.isclose(p.sum(), 1) and np.all(p > 0.09)
    counts = world.types(world.sample(2000, np.random.default_rng(3)))
    assert counts.shape == (10,) and counts.sum() == 2000
    assert 0.5 * np.abs(counts / 2000 - p).sum() < 0.05
    assert world.type_labels == tuple("0123456789")


def test_classifier_is_near_perfect_on_real_digits_and_deterministic(world):
    x = world.data
    labels = world.classify(Points(x))
    again = Digits().classify(Points(x))
    assert np.array_equal(labels, again)
    # the 5-NN classifier includes each point itself: it reproduces almost all true labels
    from sklearn.datasets import load_digits

    assert (labels == load_digits().target).mean() > 0.98
    assert world.types(Points(np.zeros((0, 64)))).sum() == 0


def test_moments_and_describe(world):
    assert world.mean().shape == (64,) and world.cov().shape == (64, 64)
    assert np.allclose(world.mean(), world.data.mean(axis=0))
    assert world.describe()["d"] == 64


def test_bad_neighbors():
    with pytest.raises(ValueError, match="neighbors"):
        Digits(neighbors=0)
