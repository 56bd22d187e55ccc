"""How well each member explains real data: the yardstick of niches, quality-diversity and island resets.

A fixed real reference set per population (the world's held-out split where it has one,
otherwise a draw from the population's own reference stream) is scored by every member.
Per reference item ``j`` and member ``i`` the score is the member's likelihood relative to
the best member's, ``S_ij = exp(l_ij - max_k l_kj)`` in ``[0, 1]`` (per token for text, so
length does not decide; 0 where no member can produce the item). It is non-negative, scale-
free across families and 1 for whoever explains an item best, so M2N2's resource sharing
divides each item among the members that explain it: a member that alone keeps a rare type
alive earns that item almost to itself. ``coverage`` scores (categorical worlds) are instead
1 where the member gives the item's type any probability at all.

Items carry weights: a categorical reference is counts over types (weight = count).
``tail`` marks the rarest part of the reference -- the world's tail types (those holding 10%
of its mass), or the 10% of points the world finds least likely (farthest from the
reference mean where the world has no density).
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Counts, Points, Sequences
from redqueen.loop.member import population_seed
from redqueen.metrics.diversity import tail_set

TAIL_SHARE = 0.1


class ReferenceScores:
    """The population's real reference set and the members' scores on it."""

    def __init__(self, pop, *, size: int = 1000, score: str = "likelihood"):
        world = pop.world
        rng = np.random.default_rng(population_seed(pop.seed, pop.replicate, 3))
        draw = getattr(world, "heldout", None) or world.sample
        self.data = draw(size, rng)
        self.score = score
        if isinstance(self.data, Counts):
            self.keep = np.flatnonzero(self.data.counts > 0)
            self.weights = self.data.counts[self.keep].astype(np.float64)
        else:
            self.keep = None
            self.weights = np.ones(len(self.data))
        self.tail = self._tail(world)

    def _tail(self, world) -> np.ndarray:
        d = self.data
        probs = world.type_probs()
        if isinstance(d, Counts) and probs is not None:
            return tail_set(probs, TAIL_SHARE)[self.keep]
        lp = world.log_prob(d) if not isinstance(d, Counts) else None
        if lp is None and isinstance(d, Sequences) and probs is not None:
            # a sequence is as rare as its rarest token
            tok = np.log(np.maximum(probs[d.tokens], 1e-300))
            lp = np.minimum.reduceat(tok, d.offsets[:-1]) if d.tokens.size else np.zeros(len(d))
            lp[np.diff(d.offsets) == 0] = 0.0
        if lp is None and isinstance(d, Points):
            lp = -np.sum((d.x - d.x.mean(axis=0)) ** 2, axis=1)
        cut = np.quantile(lp, TAIL_SHARE)
        return lp <= cut

    def log_likelihoods(self, models, decoded: bool = False) -> np.ndarray:
        """``(P, n)`` per-item log-likelihoods (per token for text); with ``decoded``, under the distribution each
        model samples from (``decoded_log_prob`` where a family's ``log_prob`` leaves its decoding biases out)."""
        rows = []
        for m in models:
            score = getattr(m, "decoded_log_prob", m.log_prob) if decoded else m.log_prob
            lp = np.asarray(score(self.data), dtype=np.float64)
            if self.keep is not None:
                lp = lp[self.keep]
            elif isinstance(self.data, Sequences):
                lp = lp / (self.data.lengths() + 1)
            rows.append(lp)
        return np.stack(rows)

    def scores(self, models) -> np.ndarray:
        """``(P, n)`` scores in [0, 1] (see the module docstring)."""
        return self.relative(self.log_likelihoods(models))

    def relative(self, lp: np.ndarray) -> np.ndarray:
        """Scores from a ``(P, n)`` log-likelihood matrix, each item relative to the best row."""
        if self.score == "coverage":
            return np.isfinite(lp).astype(np.float64)
        best = lp.max(axis=0)
        with np.errstate(invalid="ignore", over="ignore"):
            s = np.exp(lp - np.where(np.isfinite(best), best, 0.0))
        s[:, ~np.isfinite(best)] = 0.0
        return np.nan_to_num(s, nan=0.0)

    def quality(self, scores: np.ndarray, *, tail: bool = False) -> np.ndarray:
        """``(P,)`` weighted mean score over the reference (or over its tail), in [0, 1]."""
        w = self.weights * self.tail if tail else self.weights
        total = w.sum()
        return scores @ w / total if total > 0 else np.zeros(scores.shape[0])
