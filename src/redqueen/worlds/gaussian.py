"""Gaussian and Gaussian-mixture worlds with known parameters."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from redqueen.data import Points


def _gauss_logpdf(x: np.ndarray, mean: np.ndarray, chol_inv: np.ndarray, log_det_chol: float) -> np.ndarray:
    """Log N(x; mean, L L^T) for x of shape (n, d), given L^-1 and log det L (computed once per world)."""
    z = (x - mean) @ chol_inv.T
    d = x.shape[1]
    return -0.5 * np.einsum("ij,ij->i", z, z) - log_det_chol - 0.5 * d * np.log(2 * np.pi)


class GaussianMixture:
    """A mixture of ``m`` Gaussians in ``d`` dimensions.

    ``weights`` (m,), ``means`` (m, d), ``covs`` (m, d, d). A single Gaussian
    is a mixture of one. Types for the diagnostics are the components: a
    point belongs to the component with the highest posterior.
    """

    def __init__(self, weights, means, covs, *, name: str = "gmm"):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        covs = np.asarray(covs, dtype=np.float64)
        if covs.ndim == 2:
            covs = covs[None]
        self.covs = covs
        m, d = self.means.shape
        if self.weights.shape != (m,) or self.covs.shape != (m, d, d) or abs(self.weights.sum() - 1) > 1e-9:
            raise ValueError("mixture needs weights (m,) summing to 1, means (m, d) and covs (m, d, d)")
        self._chols = np.linalg.cholesky(self.covs)  # raises LinAlgError if not positive definite
        self._chol_invs = np.linalg.inv(self._chols)
        self._log_det_chols = np.log(np.diagonal(self._chols, axis1=1, axis2=2)).sum(axis=1)
        self.name = name

    @property
    def d(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> Points:
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        z = rng.standard_normal((n, self.d))
        x = self.means[comp] + np.einsum("nij,nj->ni", self._chols[comp], z)
        return Points(x)

    def _component_logpdf(self, x: np.ndarray) -> np.ndarray:
        return np.stack(
            [np.log(w) + _gauss_logpdf(x, mu, ci, ld)
             for w, mu, ci, ld in zip(self.weights, self.means, self._chol_invs, self._log_det_chols)], axis=1
        )

    def log_prob(self, data: Points) -> np.ndarray:
        return logsumexp(self._component_logpdf(data.x), axis=1)

    def type_probs(self) -> np.ndarray | None:
        return self.weights if len(self.weights) > 1 else None

    def types(self, data: Points) -> np.ndarray | None:
        if len(self.weights) == 1:
            return None
        comp = np.argmax(self._component_logpdf(data.x), axis=1)
        return np.bincount(comp, minlength=len(self.weights)).astype(np.int64)

    @property
    def type_labels(self) -> tuple[str, ...] | None:
        return tuple(f"c{i}" for i in range(len(self.weights)))

    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    def cov(self) -> np.ndarray:
        mu = self.mean()
        dm = self.means - mu
        return np.einsum("m,mij->ij", self.weights, self.covs) + np.einsum("m,mi,mj->ij", self.weights, dm, dm)

    def describe(self) -> dict:
        return {"world": self.name, "d": self.d, "components": len(self.weights)}


def gaussian(d: int = 1, mean: float | list[float] = 0.0, std: float = 1.0) -> GaussianMixture:
    """One isotropic Gaussian N(mean, std^2 I) in ``d`` dimensions."""
    mu = np.broadcast_to(np.asarray(mean, dtype=np.float64), (d,))
    return GaussianMixture([1.0], mu[None], (std**2 * np.eye(d))[None], name=f"gaussian(d={d})")


def ring_mixture(m: int = 8, d: int = 2, radius: float = 5.0, std: float = 0.5, weights=None) -> GaussianMixture:
    """``m`` equal Gaussians on a circle (the usual mode-collapse testbed), padded with zeros to ``d`` dims."""
    angles = 2 * np.pi * np.arange(m) / m
    means = np.zeros((m, d))
    means[:, 0] = radius * np.cos(angles)
    if d > 1:
        means[:, 1] = radius * np.sin(angles)
    w = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, float) / np.sum(weights)
    return GaussianMixture(w, means, np.repeat((std**2 * np.eye(d))[None], m, axis=0), name=f"gmm(m={m}, d={d})")
