"""Strategy couplings: an ask/tell evolution strategy as the coupling of a task population.

``m2n2`` (:class:`redqueen.evolve.m2n2.M2N2`), ``ga`` (the same with ``alpha = 0`` and no
matchmaker: the paper's steady-state GA), ``map_elites`` (:class:`redqueen.evolve.map_elites.MapElites`)
and ``cma`` (:class:`redqueen.evolve.cma_es.CMAES`) on a task world (:mod:`redqueen.loop.task`).
Each generation the strategy asks, the world scores the genomes on its training points, and the
strategy is told, until ``passes`` more forward passes are spent (``budget`` in all, the initial
genomes included); ask, then truncate the last batch to the budget, as before (CMA-ES must tell
whole populations, so it stops instead). Then the members take the genomes the strategy holds
(:meth:`Strategy.members`).

What ``tell`` answers is the outcome: for M2N2 and GA the archive slot each child replaced
(or -1), for MAP-Elites pyribs' add status (which MapElites also hands to its emitter), for
CMA-ES ranks. The coupling returns it as genealogy (M2N2/GA: a replaced slot's parents are
the two archive slots the last child put there was bred from, with the SLERP weight; MAP-Elites:
members are the best elites of the archive, kind ``archive``) and as metrics of the generation:
``accepted`` (share of this generation's children that entered the archive; for CMA-ES
every child is told, so it is 1) and, for MAP-Elites, ``new_cells`` (share that filled a new cell).
"""

from __future__ import annotations

import numpy as np

from redqueen.loop.couplings.base import Coupling
from redqueen.loop.record import Parent
from redqueen.runtime import restored

METHODS = ("m2n2", "ga", "map_elites", "cma")


def make_strategy(method: str, *, initial: np.ndarray, members: int, rng: np.random.Generator,
                  measure_masks: np.ndarray | None = None, mutation_sigma: float = 0.01, alpha: float = 1.0,
                  crossover: bool = True, splitpoint: bool = True, matchmaker: bool = True, batch_size: int = 1,
                  cells: int = 10, diagonal: bool = True):
    """The strategy ``method`` names (the one factory for strategies); ``members`` is its archive or population size."""
    if method in ("m2n2", "ga"):
        from redqueen.evolve.m2n2 import M2N2

        ga = method == "ga"
        return M2N2(initial=initial, archive_size=members, alpha=0.0 if ga else alpha, mutation_sigma=mutation_sigma,
                    crossover=crossover, splitpoint=splitpoint, matchmaker=False if ga else matchmaker,
                    batch_size=batch_size, rng=rng)
    if method == "map_elites":
        from redqueen.evolve.map_elites import MapElites

        return MapElites(initial=initial, measure_masks=measure_masks, cells=cells, mutation_sigma=mutation_sigma,
                         batch_size=batch_size, rng=rng)
    if method == "cma":
        from redqueen.evolve.cma_es import CMAES

        return CMAES(x0=initial[0], sigma0=mutation_sigma or 0.01, popsize=members, diagonal=diagonal, rng=rng)
    raise ValueError(f"unknown strategy {method!r}; choose {', '.join(METHODS)}")


class StrategyCoupling(Coupling):
    """A strategy stepping a task population ``passes`` forward passes per generation (see the module docstring)."""

    def __init__(self, *, method: str = "m2n2", passes: int = 1000, budget: int | None = None, **params):
        self.name = method
        self.method = method
        self.passes = passes
        self.budget = budget
        self.params = params

    def bind(self, pop) -> None:
        super().bind(pop)
        task = pop.world
        family = pop.make_family()
        initial = family.initial(task, pop.coupling_rng)
        self.first_ = len(initial)  # genomes of the first ask (the initial ones)
        odd = task.y_train % 2 == 1  # M2N2's MAP-Elites measures: accuracy on odd and on even digits
        self.strategy_ = make_strategy(self.method, initial=initial, members=len(pop.member_list),
                                       rng=pop.coupling_rng, measure_masks=np.stack([odd, ~odd]), **self.params)
        for m in pop.member_list:  # until the strategy holds as many, members show the initial genomes
            m.model = family.with_genome(initial[m.index % len(initial)])
        self.passes_ = 0  # forward passes spent
        self.exhausted_ = False  # CMA-ES: the budget left is less than a population
        self.outcome_: dict[str, float] = {}
        self.scores_: dict[int, float] = {}  # member -> mean training score of its genome, as the strategy told

    def _end(self, generation: int) -> int:
        end = self.passes * (generation + 1)
        return end if self.budget is None else min(end, self.budget)

    def act(self, pop, generation: int, rng: np.random.Generator) -> dict[int, list]:
        strategy, task = self.strategy_, pop.world
        end = self._end(generation)
        children = accepted = new = 0
        last_parents: dict[int, tuple[int, int, float]] = {}
        while self.passes_ < end and not self.exhausted_:
            bred = self.method == "cma" or strategy.started_  # the first batch is the initial genomes
            genomes = strategy.ask(rng)
            if self.budget is not None and len(genomes) > self.budget - self.passes_:
                if self.method == "cma":  # CMA-ES must tell whole populations
                    self.exhausted_ = True
                    break
                genomes = genomes[: self.budget - self.passes_]
            outcome = strategy.tell(genomes, task.scores(genomes))
            self.passes_ += len(genomes)
            if not bred:
                continue
            children += len(genomes)
            if self.method == "cma":
                accepted += len(genomes)
            elif self.method == "map_elites":
                accepted += int(np.count_nonzero(outcome))
                new += int(np.count_nonzero(outcome == 2))
            else:
                accepted += int(np.count_nonzero(outcome >= 0))
                for slot, (i, j, w) in zip(outcome, strategy.parents_):
                    if slot >= 0:
                        last_parents[int(slot)] = (int(i), int(j), float(w))
        self.outcome_ = {"accepted": accepted / children if children else float("nan")}
        if self.method == "map_elites":
            self.outcome_["new_cells"] = new / children if children else float("nan")
        edges = self._write_members(pop)
        for slot, (i, j, w) in last_parents.items():
            edges[slot] = [Parent(i, 1.0 - w, "merge"), Parent(j, w, "merge")]
        return edges

    def _write_members(self, pop) -> dict[int, list]:
        genomes, scores = self.strategy_.members(len(pop.member_list))
        family = pop.make_family()
        edges = {}
        for m, g, s in zip(pop.member_list, genomes, scores):
            m.model = family.with_genome(g)
            self.scores_[m.index] = float(s)
            if self.method == "map_elites":
                edges[m.index] = [Parent(-1, 1.0, "archive")]
        return edges

    def train_accuracy(self, genomes: np.ndarray) -> np.ndarray:
        """``(P,)`` the members' training accuracy: as told to the strategy, or scored now where it was not."""
        known = np.array([self.scores_.get(i, np.nan) for i in range(len(genomes))])
        missing = np.flatnonzero(np.isnan(known))
        if missing.size:
            known[missing] = self.pop.world.scores(genomes[missing]).mean(axis=1)
        return known

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays, meta = self.strategy_.state()
        return arrays, {"strategy": meta, "passes": self.passes_, "exhausted": self.exhausted_,
                        "scores": [[i, s] for i, s in sorted(self.scores_.items())]}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore :meth:`state`'s output; ``ValueError`` for passes the generations could not have spent or
        scores of members the population does not have."""
        exhausted = restored.flag(meta, "exhausted")
        end, p = self._end(self.pop.generation), len(self.pop.member_list)
        batch = max(self.first_, p, int(self.params.get("batch_size", 1)))  # the most one ask spends
        lo = 0 if exhausted else end  # a generation spends its passes unless CMA-ES ran out of budget
        passes = restored.whole(meta, "passes", lo=lo, hi=end + batch - 1 if self.budget is None else self.budget)
        rows = restored.items(meta, "scores")
        if not all(isinstance(r, list) and len(r) == 2 for r in rows):
            raise ValueError("scores are not [member, score] pairs")
        members = [restored.as_whole(r[0], "a scored member", hi=p - 1) for r in rows]
        if len(set(members)) != len(members):
            raise ValueError("scores name a member twice")
        scores = [restored.as_number(r[1], "a member's score") for r in rows]
        self.strategy_.load_state(arrays, restored.table(meta, "strategy"))
        self.passes_, self.exhausted_ = passes, exhausted
        self.scores_ = dict(zip(members, scores))
