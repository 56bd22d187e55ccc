"""Distances between a model (or its samples) and the world."""

from __future__ import annotations

import numpy as np


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


def _quantile_steps(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merged steps of two empirical quantile functions: widths (k,) and row indices into each sample."""
    u = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    du = np.diff(u, prepend=0.0)
    ix = np.minimum(np.ceil(u * n - 1e-9).astype(np.int64) - 1, n - 1)
    iy = np.minimum(np.ceil(u * m - 1e-9).astype(np.int64) - 1, m - 1)
    return du, ix, iy


def wasserstein1_columns(x: np.ndarray, y: np.ndarray, *, y_sorted: bool = False) -> np.ndarray:
    """Exact 1-D Wasserstein-1 between matching columns of x (n, P) and y (m, P); shape (P,).

    W1 is the integral of |F^-1(u) - G^-1(u)| over u in (0, 1]; both quantile
    functions are step functions with steps at i/n and j/m, so the integral is
    a sum over the merged steps, computed for all columns at once. ``y_sorted``
    says y's columns are already sorted (a fixed reference sorted once).
    """
    xs, ys = np.sort(x, axis=0), (y if y_sorted else np.sort(y, axis=0))
    du, ix, iy = _quantile_steps(xs.shape[0], ys.shape[0])
    return du @ np.abs(xs[ix] - ys[iy])


class SlicedW1:
    """Sliced W1 against a fixed reference sample: directions drawn once, the reference projected,
    sorted and laid out on the merged quantile steps once per sample size, so each call only sorts
    the new sample. Equal to :func:`wasserstein1_columns` on the same directions (tests check)."""

    def __init__(self, reference: np.ndarray, rng: np.random.Generator, projections: int = 64):
        d = reference.shape[1]
        self.dirs = np.ones((1, 1)) if d == 1 else projection_directions(d, projections, rng)
        self.ref_sorted = np.sort(reference @ self.dirs, axis=0)
        self._steps: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, x: np.ndarray) -> float:
        n = x.shape[0]
        if n not in self._steps:
            du, ix, iy = _quantile_steps(n, self.ref_sorted.shape[0])
            self._steps = {n: (du, ix, self.ref_sorted[iy])}  # one size at a time: a lineage's n is fixed
        du, ix, ref_on_steps = self._steps[n]
        xs = np.sort(x @ self.dirs, axis=0)
        return float(np.mean(du @ np.abs(xs[ix] - ref_on_steps)))


def projection_directions(d: int, projections: int, rng: np.random.Generator) -> np.ndarray:
    """``projections`` random unit directions in ``d`` dimensions, as columns; shape (d, projections)."""
    dirs = rng.standard_normal((d, projections))
    return dirs / np.linalg.norm(dirs, axis=0)


def wasserstein1(x: np.ndarray, y: np.ndarray, *, projections: int = 64, rng: np.random.Generator | None = None) -> float:
    """Wasserstein-1 between samples x (n, d) and y (m, d).

    Exact for d = 1; for d > 1 the sliced distance: the mean 1-D W1 over
    ``projections`` random unit directions drawn from ``rng`` (seed 0 if None).
    """
    x = np.asarray(x, float).reshape(len(x), -1)
    y = np.asarray(y, float).reshape(len(y), -1)
    if x.shape[1] == 1:
        return float(wasserstein1_columns(x, y)[0])
    dirs = projection_directions(x.shape[1], projections, np.random.default_rng(0) if rng is None else rng)
    return float(np.mean(wasserstein1_columns(x @ dirs, y @ dirs)))


def variance_ratio(x: np.ndarray, reference_cov: np.ndarray) -> float:
    """Total variance of samples x (n, d) over the trace of the world's covariance (1 = intact, 0 = collapsed)."""
    x = np.asarray(x, float).reshape(len(x), -1)
    return float(np.var(x, axis=0).sum() / np.trace(np.atleast_2d(reference_cov)))


def regression_test_error(coef: np.ndarray, true_coef: np.ndarray, input_cov: np.ndarray) -> float:
    """Excess test error of a linear predictor: ``E_x (x . (coef - w))^2 = (coef - w)^T Sigma_x (coef - w)``.

    ``coef`` and ``true_coef`` have shape ``(d,)``, ``input_cov`` ``(d, d)``. This is Gerstgrasser et
    al.'s test error without its noise floor ``sigma^2``.
    """
    e = np.asarray(coef, dtype=np.float64) - np.asarray(true_coef, dtype=np.float64)
    return float(e @ np.asarray(input_cov, dtype=np.float64) @ e)
