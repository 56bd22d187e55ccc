"""The Gaussian family: refit mean and covariance by maximum likelihood (Shumailov et al. 2024)."""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal

from redqueen.data import Points


class GaussianFamily:
    """Full-covariance Gaussian in ``d`` dims fitted by moments.

    ``ddof=0`` is the MLE (variance shrinks by ``(N-1)/N`` in expectation
    every generation); ``ddof=1`` is unbiased but still collapses almost
    surely. ``min_var`` is added to the diagonal to keep sampling defined.
    """

    def __init__(self, *, ddof: int = 0, min_var: float = 0.0):
        self.ddof = ddof
        self.min_var = min_var

    def fit(self, data: Points, rng: np.random.Generator | None = None) -> "GaussianFamily":
        x = data.x
        self.mean_ = x.mean(axis=0)
        cov = np.atleast_2d(np.cov(x, rowvar=False, ddof=self.ddof))
        self.cov_ = cov + self.min_var * np.eye(cov.shape[0])
        return self

    def sample(self, n: int, rng: np.random.Generator) -> Points:
        d = self.mean_.shape[0]
        # eigh-based factor tolerates a singular (collapsed) covariance
        w, v = np.linalg.eigh(self.cov_)
        factor = v * np.sqrt(np.clip(w, 0, None))
        return Points(self.mean_ + rng.standard_normal((n, d)) @ factor.T)

    def log_prob(self, data: Points) -> np.ndarray:
        return multivariate_normal(self.mean_, self.cov_, allow_singular=True).logpdf(data.x).reshape(len(data))

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "cov": self.cov_}

    def load_state(self, state: dict[str, np.ndarray]) -> "GaussianFamily":
        self.mean_ = np.asarray(state["mean"], dtype=np.float64)
        self.cov_ = np.asarray(state["cov"], dtype=np.float64)
        return self
