"""Niches: M2N2 (Abrantes, Lange & Tang 2025) inside the loop.

Members are scored on the population's real reference set (:mod:`.scoring`: each item's
likelihood under each member relative to the best member's). Items are a resource shared by
the members that explain them: with ``z_j = sum_k S_kj``, fitness is ``sum_j w_j S_ij / z_j^alpha``
(:func:`redqueen.evolve.m2n2.niche_fitness`), so a member that alone explains rare items is fit
even if it explains the common ones worse. Every generation, ``children`` times: the first parent
is drawn by fitness, the second by attraction to it (``sum_j w_j max(0, F_kj - F_p1,j)``: a mate
that explains what the first parent does not; by fitness with ``matchmaker = false``); their
child (split-point SLERP by default) is scored, and replaces the least fit member -- fitness
recomputed with the child among them -- unless it is itself the least fit. ``tell``-style, each
child's fate is kept (``outcomes_``: the member it replaced or -1) and recorded: ``niche_accepted``, the share
of this generation's children that replaced a member, and each member's ``niche_fitness`` after them.
"""

from __future__ import annotations

import numpy as np

from redqueen.evolve.genome import genomes
from redqueen.evolve.m2n2 import _choice, attraction, niche_fitness
from redqueen.loop.couplings.base import Coupling
from redqueen.loop.couplings.breeding import Breeding
from redqueen.loop.couplings.scoring import ReferenceScores
from redqueen.loop.record import Parent


def weighted_fitness(scores: np.ndarray, weights: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(fitness (P,), F (P, n))`` under resource sharing, items weighted by ``weights`` (n,)."""
    _, f = niche_fitness(scores, alpha)
    return f @ weights, f


class Niches(Coupling):
    name = "niches"

    def __init__(self, *, alpha: float = 1.0, children: int = 1, matchmaker: bool = True, reference: int = 1000,
                 score: str = "likelihood", breeding: Breeding = Breeding()):
        self.alpha = alpha
        self.children = children
        self.matchmaker = matchmaker
        self.reference = reference
        self.score = score
        self.breeding = breeding

    def bind(self, pop) -> None:
        super().bind(pop)
        self.scorer_ = ReferenceScores(pop, size=self.reference, score=self.score)
        self.outcomes_: list[int] = []  # per child: the member it replaced, or -1
        self.fitness_ = np.full(len(pop.member_list), np.nan)  # each member's fitness after the last act

    def act(self, pop, generation: int, rng: np.random.Generator) -> dict[int, list]:
        members = pop.member_list
        scorer = self.scorer_
        w = scorer.weights
        lp = scorer.log_likelihoods(pop.models())
        g = genomes(pop.models())
        edges: dict[int, list] = {}
        self.outcomes_ = []
        for _ in range(self.children):
            fitness, f = weighted_fitness(scorer.relative(lp), w, self.alpha)
            uniform = np.ones_like(fitness)
            p1 = _choice(rng, fitness, uniform)
            pull = attraction(f * w, p1) if self.matchmaker else fitness
            p2 = _choice(rng, pull, fitness if fitness.sum() > 0 else uniform)
            vec, wt = self.breeding.child(g, p1, p2, rng)
            child = g.build(vec)
            child_lp = scorer.log_likelihoods([child])
            with_child, _ = weighted_fitness(scorer.relative(np.concatenate([lp, child_lp])), w, self.alpha)
            worst = int(np.argmin(with_child))  # first minimum: a member ties out the child
            if worst == len(members):
                self.outcomes_.append(-1)
                continue
            members[worst].model = child
            lp[worst] = child_lp[0]
            g.vectors[worst] = vec
            edges[worst] = [Parent(p1, 1.0 - wt, "merge"), Parent(p2, wt, "merge")]
            self.outcomes_.append(worst)
        self.fitness_, _ = weighted_fitness(scorer.relative(lp), w, self.alpha)
        return edges

    def measure(self, pop, generation: int, rng: np.random.Generator) -> dict[int, tuple[dict, dict]]:
        kept = sum(o >= 0 for o in self.outcomes_)
        accepted = kept / len(self.outcomes_) if self.outcomes_ else float("nan")
        return {m.index: ({"niche_accepted": accepted, "niche_fitness": float(self.fitness_[m.index])}, {})
                for m in pop.member_list}
