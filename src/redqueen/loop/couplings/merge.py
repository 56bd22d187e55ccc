"""Merge: recombination in weight space inside the loop.

Every ``every`` generations, ``children`` times: a member ``a`` drawn uniformly and a partner
``b`` drawn uniformly among the others; the child (:class:`~.breeding.Breeding`) takes ``a``'s
place, keeping its data pools (the deme's history). Children of one generation are bred from
the population as fitted, before any of them replaces a member.
"""

from __future__ import annotations

import numpy as np

from redqueen.evolve.genome import genomes
from redqueen.loop.couplings.base import Coupling
from redqueen.loop.couplings.breeding import Breeding
from redqueen.loop.record import Parent


class Merge(Coupling):
    name = "merge"

    def __init__(self, *, every: int = 1, children: int = 1, breeding: Breeding = Breeding(operator="slerp")):
        self.every = every
        self.children = children
        self.breeding = breeding

    def act(self, pop, generation: int, rng: np.random.Generator) -> dict[int, list]:
        if generation % self.every:
            return {}
        members = pop.member_list
        g = genomes(pop.models())
        edges: dict[int, list] = {}
        for _ in range(self.children):
            a = int(rng.integers(len(members)))
            b = int(rng.integers(len(members) - 1))
            b += b >= a
            vec, w = self.breeding.child(g, a, b, rng)
            members[a].model = g.build(vec)
            edges[a] = [Parent(a, 1.0 - w, "merge"), Parent(b, w, "merge")]
        return edges
