"""MAP-Elites on a pyribs grid archive, as M2N2's baseline runs it.

The archive is a :class:`ribs.archives.GridArchive` over two measures, by
default the accuracies on two disjoint groups of datapoints (M2N2: odd and
even digits), each in ``[0, 1]`` cut into ``cells`` bins; the objective is
the mean score over all datapoints. :class:`SlerpEmitter` is a pyribs
emitter that draws two elites with probability proportional to their
objective (without replacement when it can), crosses them with M2N2's
split-point SLERP and adds Gaussian noise.

``MapElites.tell`` returns pyribs' add status of each genome (0: not added,
1: improved an occupied cell, 2: filled a new cell) and hands it, with the
rest of the archive's ``add`` answer, to the emitter's ``tell``, as pyribs'
schedulers do; the emitter counts the statuses of its children
(``status_counts_``), which the runtime reports as the share of children
that found a new cell or improved one.
"""

from __future__ import annotations

import numpy as np
from ribs.archives import GridArchive
from ribs.emitters import EmitterBase

from redqueen.evolve.base import as_rng, check_told
from redqueen.evolve.operators import random_splitpoint_slerp
from redqueen.runtime import restored


class SlerpEmitter(EmitterBase):
    """pyribs emitter: fitness-proportional parents, split-point SLERP, Gaussian mutation."""

    def __init__(
        self,
        archive: GridArchive,
        *,
        mutation_sigma: float = 0.01,
        batch_size: int = 1,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__(archive, solution_dim=archive.solution_dim, bounds=None, lower_bounds=None, upper_bounds=None)
        self.mutation_sigma = mutation_sigma
        self.batch_size = batch_size
        self.rng_ = as_rng(rng)
        self.status_counts_ = np.zeros(3, dtype=np.int64)  # children told back: not added, improved, new cell

    def tell(self, solution, objective, measures, add_info, **fields) -> None:
        """pyribs' emitter ``tell``: ``add_info["status"]`` ``(B,)`` says where each child went; counted."""
        self.status_counts_ += np.bincount(np.asarray(add_info["status"], dtype=np.int64), minlength=3)[:3]

    def ask(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """``(batch_size, d)`` float32 children of elites; raises ``IndexError`` on an empty archive."""
        rng = rng or self.rng_
        data = self.archive.data(["solution", "objective"])
        sols, obj = data["solution"], np.asarray(data["objective"], dtype=np.float64)
        if len(obj) == 0:
            raise IndexError("SlerpEmitter.ask() needs a non-empty archive; add initial solutions first")
        total = obj.sum()
        p = obj / total if total > 0 else None
        out = np.empty((self.batch_size, sols.shape[1]), dtype=np.float32)
        for b in range(self.batch_size):
            replace = len(obj) < 2 or (p is not None and np.count_nonzero(p) < 2)
            i, j = rng.choice(len(obj), size=2, replace=replace, p=p)
            out[b] = random_splitpoint_slerp(sols[i], sols[j], rng)
        if self.mutation_sigma > 0:
            out += np.float32(self.mutation_sigma) * rng.standard_normal(out.shape, dtype=np.float32)
        return out


class MapElites:
    """MAP-Elites over ``(d,)`` genomes with per-datapoint scores.

    ``measure_masks`` is ``(2, n)`` bool: the datapoint groups whose
    accuracies are the two measures. ``initial`` ``(k, d)`` is returned by
    the first ``ask``.
    """

    def __init__(
        self,
        *,
        initial: np.ndarray,
        measure_masks: np.ndarray,
        cells: int = 10,
        mutation_sigma: float = 0.01,
        batch_size: int = 1,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        self.initial = np.asarray(initial, dtype=np.float32)
        self.measure_masks = np.asarray(measure_masks, dtype=bool)
        self.cells = cells
        self.mutation_sigma = mutation_sigma
        self.batch_size = batch_size
        self.rng_ = as_rng(rng)
        d = self.initial.shape[1]
        self.archive_ = GridArchive(
            solution_dim=d,
            dims=[cells] * self.measure_masks.shape[0],
            ranges=[(0.0, 1.0)] * self.measure_masks.shape[0],
            seed=int(self.rng_.integers(2**31)),
            solution_dtype=np.float32,
        )
        self.emitter_ = SlerpEmitter(self.archive_, mutation_sigma=mutation_sigma, batch_size=batch_size, rng=self.rng_)
        self.started_ = False

    def measures(self, scores: np.ndarray) -> np.ndarray:
        """``(B, m)``: mean score on each datapoint group."""
        m = self.measure_masks
        return (scores @ m.T.astype(np.float32)) / m.sum(axis=1)

    def ask(self, rng: np.random.Generator | None = None) -> np.ndarray:
        if not self.started_:
            return self.initial.copy()
        return self.emitter_.ask(rng)

    def tell(self, genomes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Add each genome to the grid in turn; returns pyribs' ``(B,)`` add statuses (0 rejected,
        1 improved a cell, 2 new cell). Children (not the initial genomes) are told to the emitter."""
        g, s = check_told(genomes, scores)
        objective = s.mean(axis=1)
        measures = self.measures(s)
        status = np.zeros(len(g), dtype=np.int64)
        for i in range(len(g)):  # one by one, as the sequential algorithm does
            info = self.archive_.add(g[i : i + 1], objective[i : i + 1], measures[i : i + 1])
            if self.started_:
                self.emitter_.tell(g[i : i + 1], objective[i : i + 1], measures[i : i + 1], info)
            status[i] = int(info["status"][0])
        self.started_ = True
        return status

    def best(self) -> tuple[np.ndarray, float]:
        elite = self.archive_.best_elite
        return np.asarray(elite["solution"], dtype=np.float32).copy(), float(elite["objective"])

    def members(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best elites (fewer while the grid holds fewer), best first, ties by cell index."""
        d = self.archive_.data(["solution", "objective", "index"])
        order = np.lexsort((d["index"], -np.asarray(d["objective"], dtype=np.float64)))[:k]
        return np.asarray(d["solution"][order], dtype=np.float32), np.asarray(d["objective"][order], dtype=np.float64)

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The elites in the archive's own order (re-adding them in it rebuilds the same grid), the
        emitter's status counts and the generator."""
        d = self.archive_.data(["solution", "objective", "measures"])
        arrays = {"solution": np.asarray(d["solution"], dtype=np.float32),
                  "objective": np.asarray(d["objective"], dtype=np.float64),
                  "measures": np.asarray(d["measures"], dtype=np.float64),
                  "status_counts": self.emitter_.status_counts_}
        return arrays, {"started": self.started_, "rng": self.rng_.bit_generator.state}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        m = self.measure_masks.shape[0]
        sol = restored.array(arrays, "solution", shape=(None, self.initial.shape[1])).astype(np.float32)
        obj = restored.array(arrays, "objective", shape=(sol.shape[0],))
        meas = restored.array(arrays, "measures", shape=(sol.shape[0], m), lo=0.0, hi=1.0)
        counts = restored.array(arrays, "status_counts", shape=(3,), kind="i", lo=0)
        started = restored.flag(meta, "started")
        self.archive_.clear()
        for i in range(len(obj)):  # one by one: a batch add would store them in cell order, not the archive's
            self.archive_.add(sol[i : i + 1], obj[i : i + 1], meas[i : i + 1])
        if len(self.archive_) != len(obj):
            raise ValueError("two elites of the stored archive share a cell")
        self.emitter_.status_counts_ = counts.astype(np.int64)
        self.started_ = started
        self.rng_.bit_generator.state = meta["rng"]
