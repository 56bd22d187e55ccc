"""Precision/recall/density/coverage, Fréchet distance and sliced W1 against the reference libraries
(prdc, POT) and naive formulas."""

import numpy as np
import pytest

from redqueen.metrics.divergence import projection_directions, wasserstein1
from redqueen.metrics.fidelity import frechet_distance, knn_radii, prdc


def naive_prdc(real, fake, k):
    """Naeem et al. 2020, Eq. (1)-(4), with explicit loops over the distance matrix."""
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=2)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=2)
    d_rf = np.linalg.norm(real[:, None] - fake[None], axis=2)
    r_real = np.sort(d_rr, axis=1)[:, k]
    r_fake = np.sort(d_ff, axis=1)[:, k]
    precision = np.mean([any(d_rf[i, j] < r_real[i] for i in range(len(real))) for j in range(len(fake))])
    recall = np.mean([any(d_rf[i, j] < r_fake[j] for j in range(len(fake))) for i in range(len(real))])
    density = np.mean([sum(d_rf[i, j] < r_real[i] for i in range(len(real))) for j in range(len(fake))]) / k
    coverage = np.mean([d_rf[i].min() < r_real[i] for i in range(len(real))])
    return dict(precision=precision, recall=recall, density=density, coverage=coverage)


def test_prdc_matches_naive_and_the_prdc_package(monkeypatch):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(120, 3))
    fake = rng.normal(0.4, 0.7, size=(90, 3))
    monkeypatch.setattr("redqueen.metrics.fidelity.BLOCK", 17)  # several blocks, a ragged last one
    ours = prdc(real, fake, k=5)
    assert ours == pytest.approx(naive_prdc(real, fake, 5), abs=1e-12)
    ref = pytest.importorskip("prdc")
    theirs = ref.compute_prdc(real, fake, nearest_k=5)
    assert ours == pytest.approx({k: float(v) for k, v in theirs.items()}, abs=1e-12)


def test_prdc_reads_as_documented():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(400, 2))
    collapsed = rng.normal(scale=0.2, size=(400, 2))  # inside the real support, a fraction of it
    m = prdc(real, collapsed, k=5)
    assert m["precision"] > 0.95 and m["recall"] < 0.5 and m["coverage"] < 0.6
    same = prdc(real, rng.normal(size=(400, 2)), k=5)
    assert min(same["precision"], same["recall"], same["coverage"]) > 0.8 and 0.7 < same["density"] < 1.3
    with pytest.raises(ValueError, match="need at least 6 points"):
        knn_radii(real[:5], 5)


def test_frechet_matches_the_scipy_sqrtm_formula():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(0.5, 1.0, size=(250, 4)) @ rng.normal(size=(4, 4))
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    naive = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2)))
    assert frechet_distance(a, b) == pytest.approx(naive, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # 1-D closed form: (mu1 - mu2)^2 + (sigma1 - sigma2)^2
    x, y = rng.normal(size=(500, 1)), rng.normal(2, 3, size=(400, 1))
    assert frechet_distance(x, y) == pytest.approx((x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2)


def test_sliced_w1_matches_pot_on_the_same_directions():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 5)), rng.normal(0.3, 1.2, size=(150, 5))
    dirs = projection_directions(5, 32, np.random.default_rng(9))
    ours = wasserstein1(x, y, projections=32, rng=np.random.default_rng(9))
    theirs = ot.sliced_wasserstein_distance(x, y, n_projections=32, p=1, projections=dirs)
    assert ours == pytest.approx(float(theirs), rel=1e-10)
    assert wasserstein1(x[:, :1], y[:, :1]) == pytest.approx(float(ot.wasserstein_1d(x[:, 0], y[:, 0], p=1)), rel=1e-10)
