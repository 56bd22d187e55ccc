"""Island reset (Mind Evolution's island model): every ``every`` generations the worst islands
are re-seeded from the best.

Fitness is a member's mean relative likelihood of the real reference (:mod:`.scoring`). The
``ceil(fraction * P)`` least fit members (at most half) become copies of as many of the fittest:
model and data pools (the whole deme), ties broken by member index.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from redqueen.loop.couplings.base import Coupling
from redqueen.loop.couplings.scoring import ReferenceScores
from redqueen.loop.record import Parent


class IslandReset(Coupling):
    name = "island_reset"

    def __init__(self, *, every: int = 5, fraction: float = 0.25, reference: int = 1000):
        self.every = every
        self.fraction = fraction
        self.reference = reference

    def bind(self, pop) -> None:
        super().bind(pop)
        self.scorer_ = ReferenceScores(pop, size=self.reference)

    def act(self, pop, generation: int, rng: np.random.Generator) -> dict[int, list]:
        if generation == 0 or generation % self.every:
            return {}
        members = pop.member_list
        fitness = self.scorer_.quality(self.scorer_.scores(pop.models()))
        k = min(max(1, math.ceil(self.fraction * len(members))), len(members) // 2)
        order = np.lexsort((np.arange(len(members)), -fitness))  # best first
        edges = {}
        for best, worst in zip(order[:k], order[::-1][:k]):
            src, dst = members[int(best)], members[int(worst)]
            dst.model = copy.deepcopy(src.model)
            dst.pools = src.pools
            edges[int(worst)] = [Parent(int(best), 1.0, "copy")]
        return edges
