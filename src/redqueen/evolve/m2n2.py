"""M2N2: model merging with natural niches (Abrantes, Lange & Tang, GECCO 2025).

A fixed-size archive of ``P`` genomes with their per-datapoint scores
``S`` (``(P, n)``). Datapoints are a resource shared by the models that
solve them: with ``z_j = sum_k S_kj`` (``1`` where zero),

    fitness_i = sum_j S_ij / z_j ** alpha

so a model that alone solves rare points is fit even with a modest
accuracy. One step: the first parent is drawn with probability
proportional to fitness; the second by attraction to the first,
proportional to ``sum_j max(0, F_kj - F_p1,j)`` with ``F = S / z**alpha``
(the normalised matrix, as in Sakana's code) -- a mate that solves what the
first parent cannot; the child is their split-point SLERP, plus Gaussian
noise; it replaces the archive's least-fit member (fitness recomputed with
the child included in ``z``) unless it is itself the least fit. Ties go to
the child. The archive starts as ``P`` zero genomes with zero scores; the
initial models enter through the same replacement rule.

Checked step by step against Sakana's code on its own trajectory (same
state, same draws): identical children (to float32 rounding), scores and
replacements. One deliberate difference: when no member is attracted (the
first parent solves everything any member solves) the second parent is
drawn by fitness here, whereas there ``0 / 0`` probabilities make
``jax.random.choice`` return member 0; on digits this happens only in the
first few steps, if at all.

Switches: ``crossover=False`` (child = first parent + noise),
``splitpoint=False`` (plain SLERP with one weight), ``matchmaker=False``
(both parents drawn by fitness); ``alpha=0`` with ``matchmaker=False`` is
the plain steady-state GA of the paper.

``batch_size > 1`` draws that many children from the same archive state
before any is inserted (inserting them one by one afterwards): one call
does more work, at the price of parents that are up to ``B - 1`` children
stale. ``batch_size=1`` is the exact sequential algorithm.
"""

from __future__ import annotations

import numpy as np

from redqueen.evolve.base import as_rng, check_told
from redqueen.evolve.operators import slerp, splitpoint_slerp
from redqueen.runtime import restored


def niche_fitness(scores: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(fitness (P,), F (P, n))`` of a ``(P, n)`` score matrix under resource sharing with exponent ``alpha``."""
    z = scores.sum(axis=0)
    z = np.where(z != 0, z, 1.0)
    if alpha != 1.0:
        z = z**alpha
    f = scores / z
    return f.sum(axis=1), f


def attraction(f: np.ndarray, first: int) -> np.ndarray:
    """``(P,)`` matchmaker weights: how much of what ``first`` misses each member solves, ``sum_j max(0, F_kj - F_first,j)``."""
    return np.maximum(f - f[first], 0).sum(axis=1)


def _choice(rng: np.random.Generator, weights: np.ndarray, fallback: np.ndarray) -> int:
    """Index ``i`` with probability ``weights[i] / sum(weights)`` (``fallback``'s if all are zero), by inverse CDF.

    One ``rng.random()`` per draw; several times cheaper than ``rng.choice(p=...)``.
    """
    cdf = np.cumsum(weights)
    if not cdf[-1] > 0:
        cdf = np.cumsum(fallback)
    i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))  # zero weights are never hit
    return i if i < cdf.shape[0] else int(np.flatnonzero(np.diff(cdf, prepend=0.0))[-1])  # r rounded up to the total


class M2N2:
    """Natural-niches model merging; see the module docstring.

    ``initial`` is a ``(k, d)`` stack of starting genomes (returned by the
    first ``ask``). ``rng`` is a ``Generator`` or seed. Raises
    ``ValueError`` if ``initial`` does not fit in the archive.
    """

    def __init__(
        self,
        *,
        initial: np.ndarray,
        archive_size: int = 20,
        alpha: float = 1.0,
        mutation_sigma: float = 0.01,
        crossover: bool = True,
        splitpoint: bool = True,
        matchmaker: bool = True,
        batch_size: int = 1,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        self.initial = np.asarray(initial, dtype=np.float32)
        self.archive_size = archive_size
        self.alpha = alpha
        self.mutation_sigma = mutation_sigma
        self.crossover = crossover
        self.splitpoint = splitpoint
        self.matchmaker = matchmaker
        self.batch_size = batch_size
        if self.initial.ndim != 2 or self.initial.shape[0] > archive_size:
            raise ValueError(f"initial must be (k, d) with k <= archive_size={archive_size}, got {self.initial.shape}")
        self.rng_ = as_rng(rng)
        self.archive_ = np.zeros((archive_size, self.initial.shape[1]), dtype=np.float32)
        self.scores_: np.ndarray | None = None  # (P, n), allocated at the first tell
        self.started_ = False
        self.parents_ = np.zeros((0, 3))  # per child of the last ask: first parent, second parent, weight of the second
        self._fitness: tuple[np.ndarray, np.ndarray] | None = None  # niche_fitness(scores_), until the next insert

    # -- selection -------------------------------------------------------
    def _parents(self, rng: np.random.Generator, fitness: np.ndarray, f: np.ndarray) -> tuple[int, int]:
        uniform = np.ones_like(fitness)
        p1 = _choice(rng, fitness, uniform)
        if self.matchmaker:
            return p1, _choice(rng, attraction(f, p1), fitness if fitness.sum() > 0 else uniform)
        return p1, _choice(rng, fitness, uniform)

    def ask(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """The initial genomes on the first call; then ``(batch_size, d)`` children."""
        if not self.started_:
            self.parents_ = np.full((len(self.initial), 3), -1.0)
            return self.initial.copy()
        rng = rng or self.rng_
        if self._fitness is None:
            self._fitness = niche_fitness(self.scores_, self.alpha)
        fitness, f = self._fitness
        d = self.archive_.shape[1]
        children = np.empty((self.batch_size, d), dtype=np.float32)
        parents = np.zeros((self.batch_size, 3))
        for b in range(self.batch_size):
            i, j = self._parents(rng, fitness, f)
            x, y = self.archive_[i], self.archive_[j]
            if not self.crossover:
                children[b] = x
                parents[b] = i, i, 0.0
                continue
            if self.splitpoint:
                split = int(rng.integers(0, d))
                w = float(rng.random())
                splitpoint_slerp(x, y, w, split, out=children[b])
            else:
                w = float(rng.random())
                children[b] = slerp(x, y, w)
            parents[b] = i, j, w
        self.parents_ = parents
        if self.mutation_sigma > 0:
            noise = rng.standard_normal(children.shape, dtype=np.float32)
            noise *= np.float32(self.mutation_sigma)
            children += noise
        return children

    # -- replacement -----------------------------------------------------
    def _insert(self, genome: np.ndarray, score: np.ndarray) -> int:
        colsum = self.colsum_ + score
        z = np.where(colsum != 0, colsum, 1.0)
        if self.alpha != 1.0:
            z = z**self.alpha
        fit = np.concatenate([self.scores_, score[None]]) @ (1.0 / z)  # (P + 1,), child last
        worst = int(np.argmin(fit))  # first minimum: an archive member ties out the child
        if worst == self.archive_size:
            return -1
        self.colsum_ += score - self.scores_[worst]
        self.scores_[worst] = score
        self.archive_[worst] = genome
        self._fitness = None
        return worst

    def tell(self, genomes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Insert each scored genome in turn by the replacement rule; ``scores`` ``(B, n)``.

        Returns ``(B,)`` int: the archive slot each genome replaced, or -1 where it was the least fit.
        """
        g, s = check_told(genomes, scores)
        if self.scores_ is None:
            self.scores_ = np.zeros((self.archive_size, s.shape[1]), dtype=np.float32)
            self.colsum_ = np.zeros(s.shape[1], dtype=np.float64)
            self._fitness = None
        slots = np.array([self._insert(gi, si) for gi, si in zip(g, s)], dtype=np.int64)
        self.started_ = True
        return slots

    def best(self) -> tuple[np.ndarray, float]:
        """The archive member with the highest mean score, and that score."""
        acc = self.scores_.mean(axis=1)
        i = int(np.argmax(acc))
        return self.archive_[i].copy(), float(acc[i])

    def members(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``k`` archive slots as they are (slot ``i`` is member ``i``) and their mean scores."""
        acc = self.scores_.mean(axis=1) if self.scores_ is not None else np.zeros(self.archive_size)
        return self.archive_[:k].copy(), acc[:k].astype(np.float64)

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The archive, its scores and their running column sums (kept, not recomputed: they are summed
        incrementally, and a fresh sum would round differently), and the generator."""
        arrays = {"archive": self.archive_}
        if self.scores_ is not None:
            arrays |= {"scores": self.scores_, "colsum": self.colsum_}
        return arrays, {"started": self.started_, "rng": self.rng_.bit_generator.state}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        archive = restored.array(arrays, "archive", shape=self.archive_.shape).astype(np.float32)
        started = restored.flag(meta, "started")
        if "scores" in arrays:
            scores = restored.array(arrays, "scores", shape=(self.archive_size, None))
            self.colsum_ = restored.array(arrays, "colsum", shape=(scores.shape[1],)).astype(np.float64)
            self.scores_ = scores.astype(np.float32)
        self.archive_ = archive.copy()
        self.started_ = started
        self.rng_.bit_generator.state = meta["rng"]
        self._fitness = None
