import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from redqueen.metrics.divergence import (
    PLANE_ANGLES, SlicedW1, projection_directions, wasserstein1, wasserstein1_columns,
)


@pytest.mark.parametrize("n,m", [(5, 5), (7, 3), (200, 1000), (1, 4)])
def test_columns_match_scipy(n, m):
    rng = np.random.default_rng(n * 100 + m)
    x, y = rng.normal(size=(n, 3)), rng.normal(1, 2, size=(m, 3))
    expected = [wasserstein_distance(x[:, j], y[:, j]) for j in range(3)]
    np.testing.assert_allclose(wasserstein1_columns(x, y), expected, atol=1e-12)


def test_sliced_is_zero_for_identical_and_seeded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    assert wasserstein1(x, x) == pytest.approx(0.0, abs=1e-12)
    y = x + 1.0
    a = wasserstein1(x, y, rng=np.random.default_rng(1))
    assert a == wasserstein1(x, y, rng=np.random.default_rng(1)) and a > 0.1


# sample sizes on both paths: the prefix-sum one (8 n <= m, aligned and not) and the merged steps
@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("n", [1, 7, 50, 61, 120, 499])
def test_sliced_against_fixed_reference_equals_scipy_on_each_direction(n, d):
    rng = np.random.default_rng(3 + n)
    ref = rng.normal(size=(1000, d))
    sliced = SlicedW1(ref, np.random.default_rng(9), projections=16)
    for _ in range(2):  # the per-size cache is reused
        x = rng.normal(0.5, 1.5, size=(n, d)) * np.where(rng.random((n, 1)) < 0.1, 20, 1)  # outliers past the reference
        want = np.mean([wasserstein_distance(x @ u, ref @ u) for u in sliced.dirs.T])
        assert sliced(x) == pytest.approx(want, rel=1e-10, abs=1e-12)
        assert sliced(x) == pytest.approx(np.mean(wasserstein1_columns(x @ sliced.dirs, ref @ sliced.dirs)), rel=1e-10)
    one_d = SlicedW1(ref[:, :1], np.random.default_rng(0))
    x = rng.normal(size=(n, 1))
    assert one_d(x) == pytest.approx(wasserstein_distance(x[:, 0], ref[:, 0]), rel=1e-10, abs=1e-12)


def test_sliced_equals_pot_on_the_same_directions():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(5)
    ref, x = rng.normal(size=(2000, 2)), rng.normal(0.3, 0.8, size=(150, 2))
    sliced = SlicedW1(ref, np.random.default_rng(1))
    want = ot.sliced_wasserstein_distance(x, ref, projections=sliced.dirs, p=1)
    assert sliced(x) == pytest.approx(float(want), rel=1e-10)


def test_plane_angles_are_more_accurate_than_four_times_as_many_random_directions():
    """In 2-D the sliced distance is an integral over the half circle; 16 equally spaced angles
    (randomly rotated) estimate it with a smaller error than the 64 random directions used before."""
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(5000, 2))
    x = rng.normal(size=(200, 2)) @ np.array([[1.0, 0.8], [0.0, 0.3]])

    def sliced(dirs):
        return np.mean(wasserstein1_columns(x @ dirs, ref @ dirs))

    truth = sliced(projection_directions(2, 4096, np.random.default_rng(0)))
    random_err, plane_err = [], []
    for s in range(40):
        d = np.random.default_rng(s).standard_normal((2, 64))
        random_err.append(sliced(d / np.linalg.norm(d, axis=0)) - truth)
        plane_err.append(sliced(projection_directions(2, PLANE_ANGLES, np.random.default_rng(s))) - truth)
    assert np.sqrt(np.mean(np.square(plane_err))) < 0.1 * np.sqrt(np.mean(np.square(random_err)))
    dirs = projection_directions(2, PLANE_ANGLES, np.random.default_rng(1))
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=0), 1.0)
    np.testing.assert_allclose(np.diff(np.arctan2(dirs[1], dirs[0])), np.pi / PLANE_ANGLES)
