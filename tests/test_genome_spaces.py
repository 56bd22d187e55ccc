"""Families' genome spaces: categorical and n-gram genomes unchanged by the Gaussian/GMM reparameterisation
(digests written by main's code before it), and every mutated Gaussian or GMM genome a valid model.

    PYTHONPATH=<main's src> python tests/test_genome_spaces.py   # rewrites tests/data/genome_digests.json
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import redqueen
from redqueen.evolve.genome import genomes
from redqueen.loop.couplings.breeding import Breeding
from redqueen.runtime.build import make_population, make_world, plan_arms

DIGESTS = Path(__file__).parent / "data" / "genome_digests.json"
UNCHANGED = {
    "categorical": ({"kind": "zipf", "k": 300}, {"kind": "categorical"}),
    "ngram": ({"kind": "text", "vocab_size": 300, "max_len": 16}, {"kind": "ngram", "smoothing": "kneser_ney"}),
    "ngram_additive": ({"kind": "text", "vocab_size": 300, "max_len": 16}, {"kind": "ngram", "smoothing": "additive"}),
}


def _models(world: dict, family: dict, members=3, n=400, replicate=0):
    exp = redqueen.validate({"world": world, "family": family, "n": n, "generations": 2,
                             "arms": [{"name": "a", "members": members, "regime": "fresh"}]})
    w = make_world(exp.world)
    pop = make_population(exp, w, plan_arms(exp, w)[0], replicate)
    pop.step()
    return w, pop.models()


def _arrays() -> dict[str, np.ndarray]:
    """Each unchanged family's genomes, a lerp and a TIES child with Gaussian mutation, and the child's state."""
    out = {}
    for name, (world, family) in UNCHANGED.items():
        g = genomes(_models(world, family)[1])
        out[f"{name}.vectors"] = g.vectors
        for op in ("lerp", "ties"):
            vec, w = Breeding(operator=op, mutation="gaussian", sigma=0.05).child(g, 0, 1, np.random.default_rng(7))
            out[f"{name}.{op}.child"], out[f"{name}.{op}.w"] = vec, np.array([w])
            out.update({f"{name}.{op}.state.{k}": np.asarray(v) for k, v in g.build(vec).state().items()})
    return out


def _digest(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"sha256": hashlib.sha256(a.tobytes()).hexdigest(), "dtype": str(a.dtype), "shape": list(a.shape),
            "sum": float(np.sum(a, dtype=np.float64)).hex()}


def _fingerprint() -> dict:
    """Library versions and the CPU's vector extensions (the same versions round some reductions differently on
    AVX2 and AVX-512: see tests/golden.py)."""
    import platform

    import scipy
    from numpy._core._multiarray_umath import __cpu_features__

    return {"numpy": np.__version__, "scipy": scipy.__version__, "machine": platform.machine(),
            "cpu": ",".join(sorted(k for k, on in __cpu_features__.items() if on))}


def test_categorical_and_ngram_genomes_are_as_before():
    """Bitwise (same library versions and CPU features) the genomes, mutated children and their built states main's
    code wrote; elsewhere the same shapes and dtypes and sums to 1e-9 relative (TIES children: dtypes; see below)."""
    want = json.loads(DIGESTS.read_text())
    got = {k: _digest(v) for k, v in _arrays().items()}
    assert got.keys() == want["arrays"].keys()
    same = want["fingerprint"] == _fingerprint()
    for k, w in want["arrays"].items():
        g = got[k]
        assert g["dtype"] == w["dtype"], k
        if same or ".ties." not in k:
            assert g["shape"] == w["shape"], k
        if same:
            assert g["sha256"] == w["sha256"], k
        elif ".ties." not in k:
            assert math.isclose(float.fromhex(g["sum"]), float.fromhex(w["sum"]), rel_tol=1e-9, abs_tol=1e-12), k
        # else: TIES trims by magnitude, and these genomes hold many exactly tied magnitudes (equal counts); the fits
        # differ by an ulp between AVX2 and AVX-512 (categorical probs sum to 1 - 1 ulp on one, 1 on the other), which
        # flips which tied entries survive the trim, so off the writing machine a TIES child differs by ~0.1-0.2% of
        # its sum (measured on an AVX2 EPYC, 2026-12-02), and a sparse n-gram state built from it has a few more or
        # fewer entries; its dtype is still checked above


DIGITS = {"kind": "digits", "scale": True}


@pytest.mark.parametrize("covariance", ["diag", "full", "spherical", "tied"])
def test_mutated_gmm_genomes_are_valid_mixtures_with_finite_likelihood(covariance):
    """Children of fitted digit mixtures, merged and mutated with noise of up to 0.5 natural units (a half standard
    deviation of shift, e^0.5 of scale and weight),
    are mixtures: weights positive and summing to 1, variances and the precision factor's diagonal positive, and
    real digits' log-likelihood finite -- for diag and spherical within 1,000 nats per image of the parent's
    (the old square-root-variance genome fell to -1e18). Power: noise of 0.05 of the genome's RMS added to the
    variances' square roots, as before, does fall below -1e9."""
    warnings.filterwarnings("ignore")
    world, models = _models(DIGITS, {"kind": "gmm", "components": 5, "covariance_type": covariance, "max_iter": 30},
                            n=500)
    real = world.sample(300, np.random.default_rng(1))
    g = genomes(models)
    base = np.mean(models[0].log_prob(real))
    assert np.isclose(np.mean(g.build(g.vectors[0]).log_prob(real)), base)  # the round trip
    rng = np.random.default_rng(0)
    assert g.unit == 1.0  # not the RMS, which the whitened mean of a near-constant pixel would set
    for sigma in (0.01, 0.1, 0.5):
        for op in ("lerp", "slerp", "ties"):
            vec, _ = Breeding(operator=op, mutation="gaussian", sigma=sigma).child(g, 0, 1, rng)
            e = g.build(vec).estimator_
            assert np.all(e.weights_ > 0) and np.isclose(e.weights_.sum(), 1.0)
            # the covariance's factor: positive on its diagonal (full, tied: in exact arithmetic positive definite)
            assert np.all(np.diagonal(e.precisions_cholesky_, axis1=-2, axis2=-1) > 0 if covariance in ("full", "tied")
                          else e.precisions_cholesky_ > 0), (sigma, op)
            assert np.all(np.diagonal(e.covariances_, axis1=-2, axis2=-1) > 0 if covariance in ("full", "tied")
                          else e.covariances_ > 0), (sigma, op)
            ll = g.build(vec).log_prob(real)
            assert np.all(np.isfinite(ll)), (sigma, op)
            if covariance in ("diag", "spherical"):  # full, tied: the precision factor's off-diagonals are not
                assert ll.mean() > base - 1e3, (sigma, op, ll.mean())  # scale-free; large noise costs much more
    if covariance == "diag":  # power: the old coordinates (square roots, clipped at 1e-12) under the same noise
        e = models[0].estimator_
        std = np.sqrt(e.covariances_)
        noisy = np.clip(std + 0.05 * np.sqrt(np.mean(np.square(g.vectors[0]))) * rng.standard_normal(std.shape), 1e-12,
                        None)
        e.covariances_ = noisy ** 2
        from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

        e.precisions_cholesky_ = _compute_precision_cholesky(e.covariances_, "diag")
        assert models[0].log_prob(real).mean() < -1e9


def test_mutated_gaussian_genomes_are_positive_definite():
    """A nearly collapsed Gaussian (variances 1, 1e-4, 1e-8) mutated with noise of up to 0.5 natural units
    stays a Gaussian: the precision factor's diagonal positive, the covariance symmetric with finite log-likelihood of
    the data; the round trip gives back the covariance."""
    from redqueen.data import Points
    from redqueen.models.gaussian import GaussianFamily

    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 3)) * np.array([1.0, 1e-2, 1e-4])
    models = [GaussianFamily().fit(Points(x[rng.permutation(50)[:40]])) for _ in range(3)]
    g = genomes(models)
    back = g.build(g.vectors[1])
    assert np.allclose(back.mean_, models[1].mean_, rtol=1e-6, atol=1e-12)
    assert np.allclose(np.diag(back.cov_), np.diag(models[1].cov_), rtol=1e-6)
    for sigma in (0.01, 0.1, 0.5):
        vec, _ = Breeding(operator="lerp", mutation="gaussian", sigma=sigma).child(g, 0, 1, rng)
        child = g.build(vec)
        assert np.all(np.isfinite(child.cov_)) and np.array_equal(child.cov_, child.cov_.T)
        assert np.all(np.diag(child.cov_) > 0)
        assert np.all(np.isfinite(child.log_prob(Points(x)))), sigma


def test_gmm_warm_start_starts_em_from_the_previous_fit_and_survives_a_checkpoint():
    """One EM step from the previous fit stays next to it; a cold fit (k-means, other seed) lands elsewhere;
    a model restored from its state warm-starts the same fit; kernel density refuses in one line."""
    from redqueen.data import Points
    from redqueen.models.sklearn import gmm, kde
    from redqueen.models.warm import warm_start
    from redqueen.runtime import config as C
    from redqueen.worlds.digits import Digits

    world = Digits(scale=True)
    rng = np.random.default_rng(0)
    a, b = world.sample(400, rng), world.sample(400, rng)
    prev = gmm(components=4, covariance_type="diag").fit(a, np.random.default_rng(1))
    one_step = warm_start(gmm(components=4, covariance_type="diag", max_iter=1), prev)
    with warnings.catch_warnings():  # one iteration does not converge, which is the point
        warnings.simplefilter("ignore")
        warm = one_step.fit(b, np.random.default_rng(2))
        cold = gmm(components=4, covariance_type="diag", max_iter=1).fit(b, np.random.default_rng(2))
    moved = lambda m: np.abs(m.estimator_.means_ - prev.estimator_.means_).max()  # noqa: E731
    assert moved(warm) < 0.25 < moved(cold)  # measured 0.16 and 0.48
    restored = gmm(components=4, covariance_type="diag").load_state(prev.state())
    again = warm_start(gmm(components=4, covariance_type="diag"), restored).fit(b, np.random.default_rng(2))
    first = warm_start(gmm(components=4, covariance_type="diag"), prev).fit(b, np.random.default_rng(2))
    assert np.array_equal(again.estimator_.means_, first.estimator_.means_)
    with pytest.raises(TypeError, match="cannot warm start"):
        warm_start(kde(), kde().fit(Points(a.x[:50]), np.random.default_rng(0)))
    with pytest.raises(C.ConfigError, match="warm_start"):
        C.validate({"name": "k", "world": {"kind": "digits"}, "family": {"kind": "kde", "warm_start": True},
                    "arms": [{"name": "replace"}]})


if __name__ == "__main__":
    DIGESTS.write_text(json.dumps({"fingerprint": _fingerprint(),
                                   "arrays": {k: _digest(v) for k, v in _arrays().items()}}, indent=1) + "\n")
    print(f"wrote {DIGESTS}", file=sys.stderr)
