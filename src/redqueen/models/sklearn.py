"""Adapter for any scikit-learn style density estimator (fit / sample / score_samples).

Gaussian mixtures and kernel density estimates come from scikit-learn through
this one adapter, and so does any plug-in class named ``package.module:Class``
in a config. Randomness: every fit and every sample draw a fresh integer seed
from the loop's generator and hand it to the estimator as ``random_state``.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np

from redqueen.data import Points

_SEED_MAX = 2**31 - 1


class SklearnDensity:
    """Wraps an unfitted estimator; each ``fit`` works on a fresh clone of it."""

    def __init__(self, *, estimator):
        self.estimator = estimator

    def _fresh(self, seed: int | None):
        from sklearn.base import clone  # imported late: scikit-learn takes a second to import

        est = clone(self.estimator)
        if seed is not None and "random_state" in est.get_params():
            est.set_params(random_state=seed)
        return est

    def fit(self, data: Points, rng: np.random.Generator | None = None) -> "SklearnDensity":
        self.seed_ = None if rng is None else int(rng.integers(_SEED_MAX))
        self.fit_x_ = data.x
        self.estimator_ = self._fresh(self.seed_).fit(data.x)
        return self

    def sample(self, n: int, rng: np.random.Generator) -> Points:
        est = self.estimator_
        seed = int(rng.integers(_SEED_MAX))
        if "random_state" in inspect.signature(est.sample).parameters:
            out = est.sample(n, random_state=seed)
        else:
            if "random_state" in est.get_params():
                est.set_params(random_state=seed)
            out = est.sample(n)
        x = out[0] if isinstance(out, tuple) else out
        return Points(np.asarray(x, dtype=np.float64).reshape(n, -1))

    def log_prob(self, data: Points) -> np.ndarray:
        return np.asarray(self.estimator_.score_samples(data.x), dtype=np.float64)

    def state(self) -> dict[str, np.ndarray]:
        """The training data and seed (enough to refit exactly) plus the estimator's fitted numpy attributes."""
        out = {"fit_x": self.fit_x_, "seed": np.array([-1 if self.seed_ is None else self.seed_], dtype=np.int64)}
        for k, v in vars(self.estimator_).items():
            if k.endswith("_") and not k.startswith("_") and isinstance(v, np.ndarray) and v.dtype.kind in "fiub":
                out[f"estimator.{k}"] = v
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> "SklearnDensity":
        """Refit on the stored data with the stored seed: estimators are deterministic given both."""
        seed = int(np.asarray(state["seed"])[0])
        self.seed_ = None if seed < 0 else seed
        self.fit_x_ = np.asarray(state["fit_x"], dtype=np.float64)
        self.estimator_ = self._fresh(self.seed_).fit(self.fit_x_)
        return self


def gmm(*, components: int = 10, covariance_type: str = "full", max_iter: int = 100, tol: float = 1e-3, n_init: int = 1,
        init_params: str = "kmeans") -> SklearnDensity:
    from sklearn.mixture import GaussianMixture

    return SklearnDensity(estimator=GaussianMixture(
        n_components=components, covariance_type=covariance_type, max_iter=max_iter, tol=tol, n_init=n_init,
        init_params=init_params))


def kde(*, bandwidth: float | str = 1.0, kernel: str = "gaussian") -> SklearnDensity:
    from sklearn.neighbors import KernelDensity

    return SklearnDensity(estimator=KernelDensity(bandwidth=bandwidth, kernel=kernel))


REQUIRED_METHODS = ("fit", "sample", "score_samples")


def load_plugin(spec: str, kwargs: dict) -> SklearnDensity:
    """Build the estimator named ``"package.module:Class"`` with ``kwargs`` and check its protocol.

    Raises ``ValueError`` with a one-line reason if the name does not resolve,
    the class lacks fit/sample/score_samples, or construction fails.
    """
    if spec.count(":") != 1:
        raise ValueError(f"plugin {spec!r} must look like 'package.module:Class'")
    mod_name, cls_name = spec.split(":")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"plugin module {mod_name!r} cannot be imported ({e}); install it or fix the name") from None
    cls = getattr(module, cls_name, None)
    if not inspect.isclass(cls):
        raise ValueError(f"plugin {spec!r}: module {mod_name!r} has no class {cls_name!r}")
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ValueError(f"plugin {spec!r} lacks {', '.join(missing)}; a density estimator needs fit, sample and score_samples")
    try:
        est = cls(**kwargs)
    except Exception as e:  # the plug-in's own constructor: report, do not trace back
        raise ValueError(f"plugin {spec!r} rejected its arguments: {e}") from None
    return SklearnDensity(estimator=est)


def check_density(family: SklearnDensity, x: np.ndarray, rng: np.random.Generator) -> None:
    """The full model contract (:func:`redqueen.testing.check_family`) of a plug-in on real points ``x`` (n, d):
    fit, sample, scores, determinism, state round trip; raises ``ValueError`` with the broken promise."""
    from redqueen.testing import ContractError, check_family

    try:
        check_family(lambda: SklearnDensity(estimator=family.estimator), Points(x), n=50,
                     seed=int(rng.integers(_SEED_MAX)), finite=False)  # NaN output is divergence, handled by the loop
    except ContractError as e:
        raise ValueError(f"plug-in estimator fails the model contract on {len(x)} points: {e}") from None
    except Exception as e:  # the plug-in's own code failed: report, do not trace back
        raise ValueError(f"plug-in estimator failed its protocol check on {len(x)} points: {type(e).__name__}: {e}") from None
