"""Population-genetics summaries of a trajectory: F, N_e and F_ST."""

from __future__ import annotations

import numpy as np

from redqueen.metrics.diversity import heterozygosity


def inbreeding(h_t: float | np.ndarray, h_0: float) -> float | np.ndarray:
    """Inbreeding coefficient F_t = 1 - H_t / H_0 (0 at the start, 1 when one type is left)."""
    return 1.0 - np.asarray(h_t) / h_0 if h_0 > 0 else np.full_like(np.asarray(h_t, float), np.nan)


def effective_size(h: np.ndarray) -> float:
    """Effective population size from a heterozygosity trajectory h[0..T].

    Under drift H_t = H_0 (1 - 1/N_e)^t, so log(H_t/H_0) is linear in t with
    slope log(1 - 1/N_e). The slope is fitted by least squares through the
    origin over the generations where H_t > 0. Returns inf when H does not
    decay (no drift detectable) and nan when fewer than 2 points are usable.
    """
    h = np.asarray(h, float)
    if h.size < 2 or h[0] <= 0:
        return float("nan")
    t = np.arange(h.size, dtype=float)
    ok = h > 0
    if ok.sum() < 2:
        return float("nan")
    y = np.log(h[ok] / h[0])
    tt = t[ok]
    slope = float(np.dot(tt, y) / np.dot(tt, tt))
    if slope >= 0:
        return float("inf")
    return float(1.0 / (1.0 - np.exp(slope)))


def fst(subpopulations: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Wright's F_ST = (H_T - H_S) / H_T for type frequencies of shape (m, K).

    H_S is the (weighted) mean heterozygosity within subpopulations (e.g.
    replicate lineages or a population of models), H_T that of the pooled
    frequencies. 0 means the lineages agree; 1 means each fixed a different type.
    """
    f = np.asarray(subpopulations, float)
    f = f / f.sum(axis=1, keepdims=True)
    w = np.full(f.shape[0], 1.0 / f.shape[0]) if weights is None else np.asarray(weights, float) / np.sum(weights)
    h_s = float(np.dot(w, [heterozygosity(r) for r in f]))
    h_t = heterozygosity(w @ f)
    return float((h_t - h_s) / h_t) if h_t > 0 else 0.0
