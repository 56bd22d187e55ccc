"""Diversity of a distribution over types, in population-genetics units.

All functions take a probability vector or counts ``p`` of shape ``(K,)``
(normalised inside) and return plain floats.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """1-D dot product without BLAS: a threaded BLAS call on a busy 2-core machine can take 1000x longer."""
    return float(np.einsum("i,i->", a, b))


def _normalise(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    s = p.sum()
    return p / s if s > 0 else p


def heterozygosity(p: np.ndarray) -> float:
    """Gini-Simpson index 1 - sum p_i^2: the chance two draws are different types (NaN for an empty population)."""
    q = _normalise(p)
    if not q.any():
        return float("nan")
    return 1.0 - _dot(q, q)


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
    if np.isinf(q):
        return float(1.0 / r.max())  # the inverse Berger-Parker index
    if q == 1:
        return float(np.exp(-_dot(r, np.log(r))))
    return float(np.sum(r**q) ** (1.0 / (1.0 - q)))


def richness(p: np.ndarray) -> int:
    """Number of types with non-zero probability (or count)."""
    return int(np.count_nonzero(np.asarray(p)))


def types_lost(p: np.ndarray, reference: np.ndarray) -> int:
    """Types present in ``reference`` (e.g. generation 0) that ``p`` no longer has."""
    return int(np.count_nonzero((np.asarray(reference) > 0) & (np.asarray(p) == 0)))


def tail_set(world_probs: np.ndarray, mass: float = 0.1) -> np.ndarray:
    """Boolean mask (K,) of the world's rarest types that together carry at most ``mass`` of its probability.

    Types the world gives no probability are never in it (they are not the world's rare types).
    """
    w = _normalise(world_probs)
    order = np.argsort(w, kind="stable")
    cum = np.cumsum(w[order])
    mask = np.zeros(w.shape[0], dtype=bool)
    mask[order[cum <= mass + 1e-12]] = True
    return mask & (w > 0)


def tail_mass_kept(p: np.ndarray, world_probs: np.ndarray, tail: np.ndarray) -> float:
    """Mass the model gives the world's tail types, as a fraction of the mass the world gives them (1 = intact)."""
    world_tail = float(_normalise(world_probs)[tail].sum())
    return float(_normalise(p)[tail].sum() / world_tail) if world_tail > 0 else float("nan")


class WorldTerms:
    """What a profile derives from the world alone (its normalised probabilities, their log, the tail and its
    weights): read-only, and shared by every profile of one world array and tail mass in a process, so a
    population of P members holds it once, not P times (2.6 MB a member at K = 10^5)."""

    _cache: dict[tuple[int, float], "WorldTerms"] = {}

    def __init__(self, world_probs: np.ndarray, tail_mass: float):
        self.source = np.array(world_probs, dtype=np.float64)  # what they were derived from, to tell an edit
        self.world = _normalise(self.source.copy())
        self.tail = tail_set(self.world, tail_mass)
        self.world_tail = float(self.world[self.tail].sum())
        # types the world never produces: a model that gives them mass is infinitely far in KL
        self.world_zero = self.world <= 0
        self.log_world = np.log(np.maximum(self.world, 1e-300))
        self.tail_weights = self.tail / self.world_tail if self.world_tail > 0 else None
        self.neg_entropy_world = float(_dot(self.world, self.log_world))
        for a in (self.source, self.world, self.tail, self.world_zero, self.log_world, self.tail_weights):
            if a is not None:
                a.flags.writeable = False

    @classmethod
    def of(cls, world_probs: np.ndarray, tail_mass: float) -> "WorldTerms":
        """The terms of this very array (by identity, while it lives, and as long as its values are unchanged) and
        tail mass; computed once."""
        key = (id(world_probs), float(tail_mass))
        hit = cls._cache.get(key)
        if hit is not None and hit._source() is world_probs and np.array_equal(hit.source, world_probs):
            return hit
        terms = cls(world_probs, tail_mass)
        try:
            terms._source = weakref.ref(world_probs, lambda _, key=key: cls._cache.pop(key, None))
        except TypeError:  # not weak-referenceable (a list): not shared
            return terms
        cls._cache[key] = terms
        return terms


class DiversityProfile:
    """Every diversity number of one distribution at once, sharing the log.

    Equal to calling the functions above one by one (tests check this) but a
    single pass over ``p``: the hot path of a categorical loop with K = 10^5.
    The world's terms are :class:`WorldTerms`, shared by the profiles of one world.
    """

    def __init__(self, world_probs: np.ndarray | None, reference: np.ndarray | None, tail_mass: float = 0.1):
        self.reference_present = None if reference is None else np.asarray(reference) > 0
        self.world = self.tail = self.world_tail = None
        if world_probs is not None:
            terms = WorldTerms.of(world_probs, tail_mass)
            self.world, self.tail, self.world_tail = terms.world, terms.tail, terms.world_tail
            self.world_zero, self.log_world = terms.world_zero, terms.log_world
            self.tail_weights, self.neg_entropy_world = terms.tail_weights, terms.neg_entropy_world

    def __call__(self, p: np.ndarray) -> dict[str, float]:
        q = np.asarray(p, dtype=np.float64)
        total = float(q.sum())
        if abs(total - 1.0) > 1e-12 and total > 0:
            q = q / total
        buf, logq = self._buffers(q.shape[0])
        zero = q == 0
        # log q where q > 0; where q = 0 the clamp keeps the log finite and q * log q = 0 exactly
        np.log(np.maximum(q, 1e-300, out=logq), out=logq)
        sum_sq = _dot(q, q)
        shannon = -_dot(q, logq)
        out = {
            "heterozygosity": 1.0 - sum_sq,
            "hill0": float(q.size - np.count_nonzero(zero)),
            "hill1": float(np.exp(shannon)),
            "hill2": 1.0 / sum_sq if sum_sq > 0 else 0.0,
            "entropy": shannon,
        }
        if self.reference_present is not None:
            out["types_lost"] = float(np.count_nonzero(np.logical_and(self.reference_present, zero, out=zero)))
        if self.world is not None:
            w = self.world
            out["tail_mass_kept"] = _dot(q, self.tail_weights) if self.world_tail > 0 else float("nan")
            # KL(model || world), infinite when the model puts mass where the world has none
            out["kl"] = -shannon - _dot(q, self.log_world) if not q[self.world_zero].any() else float("inf")
            out["tv"] = 1.0 - float(np.minimum(q, w, out=buf).sum())
            m = np.add(q, w, out=buf)
            m *= 0.5
            # JS = H(m) - (H(q) + H(w)) / 2. log m in float32 (4x faster than float64 here): the sum is
            # still accumulated in float64 and its absolute error stays below 1e-7 nats, far under sampling noise
            m32 = np.maximum(m.astype(np.float32), np.float32(1e-37))
            out["js"] = 0.5 * (self.neg_entropy_world - shannon) - float(np.einsum("i,i->", m, np.log(m32, out=m32)))
        return out

    @staticmethod
    def _buffers(k: int) -> tuple[np.ndarray, np.ndarray]:
        # large temporaries are fresh mmaps (page faults) on every call; reuse two instead, one pair per thread
        # for every profile (a population's P members' calls never overlap within a thread)
        buf = getattr(_SCRATCH, "buf", None)
        if buf is None or buf[0].shape[0] != k:
            buf = _SCRATCH.buf = (np.empty(k), np.empty(k))
        return buf


_SCRATCH = threading.local()
