"""The Gaussian family: refit mean and covariance by maximum likelihood (Shumailov et al. 2024)."""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal

from redqueen.data import Points
from redqueen.models.base import translate
from redqueen.runtime import restored


class GaussianFamily:
    """Full-covariance Gaussian in ``d`` dims fitted by moments.

    ``ddof=0`` is the MLE (variance shrinks by ``(N-1)/N`` in expectation
    every generation); ``ddof=1`` is unbiased but still collapses almost
    surely. ``min_var`` is added to the diagonal to keep sampling defined.

    ``temperature`` ``T`` is a sampling parameter (an arena gene, :mod:`redqueen.arena.genes`): the model
    emits and scores under ``N(mean, T^2 cov)`` -- every standard deviation times ``T`` (``p^(1/T)``
    renormalised would scale the covariance by ``T``, not ``T^2``; the two are the same family of
    distributions, reparametrised). The fit is not tempered: ``mean_`` /
    ``cov_`` (and ``state``) are the maximum-likelihood fit, ``log_prob`` and ``sample`` use ``T^2 cov_``
    exactly, so the fidelity of a tempered model is measured under the distribution it samples from.
    ``shift`` (one value per dimension, or None; the arena's ``shift`` gene) moves the mean it emits and scores
    under, ``N(mean + shift, T^2 cov)``, as :func:`redqueen.models.base.translate`.
    """

    def __init__(self, *, ddof: int = 0, min_var: float = 0.0, temperature: float = 1.0,
                 shift: np.ndarray | None = None):
        self.ddof = ddof
        self.min_var = min_var
        self.temperature = temperature
        self.shift = shift

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
        factor = v * (float(self.temperature) * np.sqrt(np.clip(w, 0, None)))
        return Points(translate(self.mean_ + rng.standard_normal((n, d)) @ factor.T, self.shift))

    def log_prob(self, data: Points) -> np.ndarray:
        cov = self.cov_ * float(self.temperature) ** 2
        x = translate(data.x, self.shift, -1.0)
        return multivariate_normal(self.mean_, cov, allow_singular=True).logpdf(x).reshape(len(data))

    def dim(self) -> int:
        """The fitted points' dimension."""
        return int(self.mean_.shape[0])

    def genome_space(self, models: list["GaussianFamily"]):
        """The natural-parameter genome (float64, ``d + d(d+1)/2`` numbers; :func:`to_precision_genome`): the mean
        whitened by the precision's Cholesky factor ``P`` (``P^T mu``) and ``P`` with its diagonal as logs. Every
        vector is a valid Gaussian, and noise of size ``e`` on any coordinate changes the log-likelihood of
        typical data by ``O(e)`` whatever the variances -- a coordinate of the raw mean or the covariance's
        Cholesky factor, given noise on the scale of the others, can make a variance near 0 negative, 0 or send
        the likelihood of real data to -1e18. Merging interpolates these natural parameters. A collapsed
        (singular) covariance is factored with a jitter of 1e-12 of its mean variance. The unit of mutation
        noise is 1 (a standard deviation of shift, an e-fold of scale), not the genome's RMS."""
        from redqueen.evolve.genome import Genomes, Layout

        d = self.mean_.shape[0]
        n = d * (d + 1) // 2
        vectors = np.stack([np.concatenate(to_precision_genome(m.mean_, m.cov_)) for m in models])
        template = self

        def build(vec: np.ndarray) -> "GaussianFamily":
            vec = np.asarray(vec, dtype=np.float64)
            child = GaussianFamily(ddof=template.ddof, min_var=template.min_var, temperature=template.temperature,
                                   shift=template.shift)
            child.mean_, child.cov_, _ = from_precision_genome(vec[:d], vec[d:])
            return child

        layout = Layout.from_shapes({"whitened_mean": (d,), "log_precision_cholesky": (n,)})
        return Genomes(vectors, layout, build, unit=1.0)

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "cov": self.cov_}

    def load_state(self, state: dict[str, np.ndarray]) -> "GaussianFamily":
        mean = restored.array(state, "mean", shape=(None,)).astype(np.float64)
        d = mean.shape[0]
        self.cov_ = restored.covariance(state, "cov", d)
        self.mean_ = mean
        return self


def _cholesky(cov: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a covariance, jittered by 1e-12 of its mean variance if it is singular."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        d = cov.shape[0]
        jitter = 1e-12 * max(float(np.trace(cov)) / d, 1e-300)
        return np.linalg.cholesky(cov + jitter * np.eye(d))


#: a genome's log-diagonal is clipped to this before ``exp``, so that no factor is 0 or infinite and its
#: inverse (the covariance) stays within float64
LOG_CLIP = 150.0


def to_precision_genome(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(whitened mean, log precision factor)`` of Gaussians ``(..., d)`` / ``(..., d, d)``: with ``P`` the upper
    triangular Cholesky factor of the precision (``P P^T = cov^-1``, scikit-learn's ``precisions_cholesky_``),
    the whitened mean ``P^T mean`` and ``P``'s upper triangle (row-major, ``np.triu_indices``) with its diagonal
    as logs -- unconstrained coordinates: any values give a valid Gaussian."""
    from scipy.linalg import solve_triangular

    d = mean.shape[-1]
    flat_c, flat_m = cov.reshape(-1, d, d), mean.reshape(-1, d)
    prec = np.stack([solve_triangular(_cholesky(c), np.eye(d), lower=True).T for c in flat_c])
    rows, cols = np.triu_indices(d)
    factor = prec[:, rows, cols]
    diag = rows == cols
    factor[:, diag] = np.log(np.clip(factor[:, diag], np.exp(-LOG_CLIP), None))
    white = np.einsum("ni,nij->nj", flat_m, prec)
    return white.reshape(mean.shape), factor.reshape(cov.shape[:-2] + (rows.size,))


def from_precision_genome(white: np.ndarray, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`to_precision_genome`: ``(mean, cov, P)`` with ``P`` the precision's upper Cholesky factor."""
    from scipy.linalg import solve_triangular

    d = white.shape[-1]
    rows, cols = np.triu_indices(d)
    vals = np.array(factor, dtype=np.float64).reshape(-1, rows.size)
    diag = rows == cols
    vals[:, diag] = np.exp(np.clip(vals[:, diag], -LOG_CLIP, LOG_CLIP))
    prec = np.zeros((vals.shape[0], d, d))
    prec[:, rows, cols] = vals
    inv = np.stack([solve_triangular(p, np.eye(d), lower=False) for p in prec])  # P^-1, upper
    cov = np.swapaxes(inv, -1, -2) @ inv  # (P P^T)^-1 = P^-T P^-1
    cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
    mean = np.einsum("nji,nj->ni", inv, np.asarray(white, dtype=np.float64).reshape(-1, d))  # P^T mean = white
    lead = np.shape(white)[:-1]
    return mean.reshape(*lead, d), cov.reshape(*lead, d, d), prec.reshape(*lead, d, d)
