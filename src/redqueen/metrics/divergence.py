"""Distances between a model (or its samples) and the world."""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats for probability vectors (K,); inf if q lacks support p has."""
    p = np.asarray(p, float) / np.sum(p)
    q = np.asarray(q, float) / np.sum(q)
    nz = p > 0
    if np.any(q[nz] == 0):
        return float("inf")
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def tv(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance between probability vectors (K,)."""
    p = np.asarray(p, float) / np.sum(p)
    q = np.asarray(q, float) / np.sum(q)
    return float(0.5 * np.abs(p - q).sum())


def js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats (bounded by log 2)."""
    p = np.asarray(p, float) / np.sum(p)
    q = np.asarray(q, float) / np.sum(q)
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def wasserstein1(x: np.ndarray, y: np.ndarray, *, projections: int = 64, rng: np.random.Generator | None = None) -> float:
    """Wasserstein-1 between samples x (n, d) and y (m, d).

    Exact for d = 1; for d > 1 the sliced distance: the mean 1-D W1 over
    ``projections`` random unit directions drawn from ``rng`` (seed 0 if None).
    """
    x = np.asarray(x, float).reshape(len(x), -1)
    y = np.asarray(y, float).reshape(len(y), -1)
    if x.shape[1] == 1:
        return float(wasserstein_distance(x[:, 0], y[:, 0]))
    rng = np.random.default_rng(0) if rng is None else rng
    dirs = rng.standard_normal((x.shape[1], projections))
    dirs /= np.linalg.norm(dirs, axis=0)
    px, py = x @ dirs, y @ dirs
    return float(np.mean([wasserstein_distance(px[:, j], py[:, j]) for j in range(projections)]))


def variance_ratio(x: np.ndarray, reference_cov: np.ndarray) -> float:
    """Total variance of samples x (n, d) over the trace of the world's covariance (1 = intact, 0 = collapsed)."""
    x = np.asarray(x, float).reshape(len(x), -1)
    return float(np.var(x, axis=0).sum() / np.trace(np.atleast_2d(reference_cov)))
