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

    def genome_space(self, models: list["GaussianFamily"]):
        """Mean and the lower Cholesky factor of the covariance (float64, ``d + d(d+1)/2`` numbers): merging
        interpolates factors, so every merged covariance ``L L^T`` is positive semi-definite. A collapsed
        (singular) covariance is factored with a jitter of 1e-12 of its mean variance."""
        from redqueen.evolve.genome import Genomes, Layout

        d = self.mean_.shape[0]
        rows, cols = np.tril_indices(d)
        vectors = np.stack([np.concatenate([m.mean_, _cholesky(m.cov_)[rows, cols]]) for m in models])
        template = self

        def build(vec: np.ndarray) -> "GaussianFamily":
            vec = np.asarray(vec, dtype=np.float64)
            factor = np.zeros((d, d))
            factor[rows, cols] = vec[d:]
            child = GaussianFamily(ddof=template.ddof, min_var=template.min_var)
            child.mean_, child.cov_ = vec[:d].copy(), factor @ factor.T
            return child

        return Genomes(vectors, Layout.from_shapes({"mean": (d,), "cholesky": (rows.size,)}), build)

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "cov": self.cov_}

    def load_state(self, state: dict[str, np.ndarray]) -> "GaussianFamily":
        self.mean_ = np.asarray(state["mean"], dtype=np.float64)
        self.cov_ = np.asarray(state["cov"], dtype=np.float64)
        return self


def _cholesky(cov: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a covariance, jittered by 1e-12 of its mean variance if it is singular."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        d = cov.shape[0]
        jitter = 1e-12 * max(float(np.trace(cov)) / d, 1e-300)
        return np.linalg.cholesky(cov + jitter * np.eye(d))
