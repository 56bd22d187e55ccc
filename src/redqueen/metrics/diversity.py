"""Diversity of a distribution over types, in population-genetics units.

All functions take a probability vector or counts ``p`` of shape ``(K,)``
(normalised inside) and return plain floats.
"""

from __future__ import annotations

import numpy as np


def _normalise(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    s = p.sum()
    return p / s if s > 0 else p


def heterozygosity(p: np.ndarray) -> float:
    """Gini-Simpson index 1 - sum p_i^2: the chance two draws are different types."""
    q = _normalise(p)
    return float(1.0 - np.dot(q, q))


def hill(p: np.ndarray, q: float) -> float:
    """Hill number of order ``q``: the effective number of types.

    q=0 is richness, q=1 is exp(Shannon entropy), q=2 is 1/sum p^2.
    """
    r = _normalise(p)
    r = r[r > 0]
    if r.size == 0:
        return 0.0
    if q == 0:
        return float(r.size)
    if q == 1:
        return float(np.exp(-np.dot(r, np.log(r))))
    return float(np.sum(r**q) ** (1.0 / (1.0 - q)))


def richness(p: np.ndarray) -> int:
    """Number of types with non-zero probability (or count)."""
    return int(np.count_nonzero(np.asarray(p)))


def types_lost(p: np.ndarray, reference: np.ndarray) -> int:
    """Types present in ``reference`` (e.g. generation 0) that ``p`` no longer has."""
    return int(np.count_nonzero((np.asarray(reference) > 0) & (np.asarray(p) == 0)))


def tail_set(world_probs: np.ndarray, mass: float = 0.1) -> np.ndarray:
    """Boolean mask (K,) of the world's rarest types that together carry at most ``mass`` of its probability."""
    w = _normalise(world_probs)
    order = np.argsort(w, kind="stable")
    cum = np.cumsum(w[order])
    mask = np.zeros(w.shape[0], dtype=bool)
    mask[order[cum <= mass + 1e-12]] = True
    return mask


def tail_mass_kept(p: np.ndarray, world_probs: np.ndarray, tail: np.ndarray) -> float:
    """Mass the model gives the world's tail types, as a fraction of the mass the world gives them (1 = intact)."""
    world_tail = float(_normalise(world_probs)[tail].sum())
    return float(_normalise(p)[tail].sum() / world_tail) if world_tail > 0 else float("nan")


class DiversityProfile:
    """Every diversity number of one distribution at once, sharing the log.

    Equal to calling the functions above one by one (tests check this) but a
    single pass over ``p``: the hot path of a categorical loop with K = 10^5.
    """

    def __init__(self, world_probs: np.ndarray | None, reference: np.ndarray | None, tail_mass: float = 0.1):
        self.world = None if world_probs is None else _normalise(world_probs)
        self.reference_present = None if reference is None else np.asarray(reference) > 0
        self.tail = None if self.world is None else tail_set(self.world, tail_mass)
        self.world_tail = None if self.tail is None else float(self.world[self.tail].sum())
        if self.world is not None:
            with np.errstate(divide="ignore"):
                self.log_world = np.log(self.world)

    def __call__(self, p: np.ndarray) -> dict[str, float]:
        q = _normalise(p)
        nz = q > 0
        qn = q[nz]
        logq = np.log(qn)
        sum_sq = float(np.dot(qn, qn))
        shannon = float(-np.dot(qn, logq))
        out = {
            "heterozygosity": 1.0 - sum_sq,
            "hill0": float(qn.size),
            "hill1": float(np.exp(shannon)),
            "hill2": 1.0 / sum_sq if sum_sq > 0 else 0.0,
            "entropy": shannon,
        }
        if self.reference_present is not None:
            out["types_lost"] = float(np.count_nonzero(self.reference_present & ~nz))
        if self.world is not None:
            w = self.world
            wn = w[nz]
            out["tail_mass_kept"] = float(q[self.tail].sum() / self.world_tail) if self.world_tail > 0 else float("nan")
            # KL(model || world): finite because the world has full support on the model's types
            out["kl"] = float(np.dot(qn, logq - self.log_world[nz]))
            out["tv"] = 0.5 * float(np.abs(q - w).sum())
            out["js"] = _js(q, w)
        return out


def _js(p: np.ndarray, w: np.ndarray) -> float:
    m = 0.5 * (p + w)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        b = np.where(w > 0, w * np.log(w / m), 0.0).sum()
    return float(0.5 * (a + b))
