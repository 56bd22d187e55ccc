"""Fidelity and diversity of generated points against real ones: the generative-model standards.

* :func:`prdc` -- precision, recall, density and coverage on k-nearest-neighbour balls
  (Kynkäänniemi et al. 2019; Naeem et al. 2020). Equal to the ``prdc`` package's
  ``compute_prdc`` (tests check), but the real-to-fake distances are computed in row blocks,
  so memory stays ``O(block x m)`` instead of ``O(n x m)``.
* :func:`frechet_distance` -- ``|mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` between the
  Gaussians fitted to each set (the FID formula, on whatever features are given), with the matrix
  square root's trace from the eigenvalues of ``S_r^(1/2) S_f S_r^(1/2)`` (symmetric, so it stays
  real and stable where ``scipy.linalg.sqrtm`` of the product may not).
* :func:`mauve` -- MAUVE (Pillutla et al. 2021) on given features, computed by the ``mauve-text``
  package itself (its PCA, faiss k-means quantisation and divergence frontier); an optional extra,
  ``pip install 'redqueen[mauve]'``.

Inputs are ``(n, d)`` arrays; outputs plain floats.
"""

from __future__ import annotations

import numpy as np

BLOCK = 1024


def _sq_dists(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    d = np.einsum("ij,ij->i", a, a)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(d, 0.0))


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of ``x`` ``(n, d)`` to its k-th nearest other row (the (k+1)-th counting itself); ``(n,)``."""
    x = np.asarray(x, dtype=np.float64)
    if not 1 <= k < x.shape[0]:
        raise ValueError(f"k = {k} nearest neighbours need at least {k + 1} points; got {x.shape[0]}")
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty(x.shape[0])
    for i in range(0, x.shape[0], BLOCK):
        d = _sq_dists(x[i:i + BLOCK], x, sq)
        out[i:i + BLOCK] = np.partition(d, k, axis=1)[:, k]
    return out


def prdc(real: np.ndarray, fake: np.ndarray, *, k: int = 5) -> dict[str, float]:
    """``{"precision", "recall", "density", "coverage"}`` of ``fake`` ``(m, d)`` against ``real`` ``(n, d)``.

    precision: share of fake points inside some real point's k-NN ball; recall: share of real
    points inside some fake point's ball; density: mean number of real balls holding a fake point,
    over k; coverage: share of real balls holding at least one fake point. Balls are open (``<``).
    Raises ``ValueError`` when either set has at most ``k`` points.
    """
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    fake_sq = np.einsum("ij,ij->i", fake, fake)
    in_real_balls = np.zeros(fake.shape[0], np.int64)  # how many real balls hold each fake point
    real_recalled = np.zeros(real.shape[0], bool)
    real_covered = np.zeros(real.shape[0], bool)
    for i in range(0, real.shape[0], BLOCK):
        d = _sq_dists(real[i:i + BLOCK], fake, fake_sq)
        inside = d < r_real[i:i + BLOCK, None]
        in_real_balls += inside.sum(axis=0)
        real_recalled[i:i + BLOCK] = (d < r_fake[None, :]).any(axis=1)
        real_covered[i:i + BLOCK] = d.min(axis=1) < r_real[i:i + BLOCK]
    return {
        "precision": float(np.mean(in_real_balls > 0)),
        "recall": float(np.mean(real_recalled)),
        "density": float(in_real_balls.mean() / k),
        "coverage": float(np.mean(real_covered)),
    }


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and covariance ``(d, d)`` (ddof 1, as FID) of rows ``x`` ``(n, d)``."""
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to ``real`` ``(n, d)`` and ``fake`` ``(m, d)`` (>= 0)."""
    mu_r, s_r = gaussian_fit(real)
    mu_f, s_f = gaussian_fit(fake)
    root = _psd_sqrt(s_r)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s_f @ root), 0.0, None)).sum()
    return float(max(np.sum((mu_r - mu_f) ** 2) + np.trace(s_r) + np.trace(s_f) - 2.0 * cross, 0.0))


MAUVE_MISSING = "MAUVE needs the mauve-text and faiss-cpu packages: pip install 'redqueen[mauve]'"


def mauve_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("mauve", "faiss"))


def mauve(real: np.ndarray, fake: np.ndarray, *, seed: int) -> float:
    """MAUVE of ``fake`` against ``real`` features, by ``mauve.compute_mauve`` (default settings:
    buckets = a tenth of the points, 90% of the variance kept by PCA, scaling factor 5); 1 for
    identical distributions, towards 0 as they part. ImportError (with :data:`MAUVE_MISSING`)
    when the package is missing. faiss's own warnings to the C stderr are silenced."""
    import os

    try:
        from mauve import compute_mauve
    except ImportError:
        raise ImportError(MAUVE_MISSING) from None
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            out = compute_mauve(p_features=np.asarray(real, dtype=np.float32), q_features=np.asarray(fake, dtype=np.float32),
                                seed=int(seed), verbose=False)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return float(out.mauve)
