import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from redqueen.metrics.divergence import wasserstein1, wasserstein1_columns


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
