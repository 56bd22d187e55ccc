"""Couplings: how the members of a population act on each other (see :mod:`.base` for the protocol).

| kind | what it does |
| --- | --- |
| ``migration`` | gene flow: items come from other members' models (all-to-all, ring, stepping stone) |
| ``merge`` | recombination in weight space (lerp, SLERP, split-point SLERP, TIES, DARE; Gaussian/SVD mutation) |
| ``niches`` | M2N2: resource-shared fitness on real data, attraction matchmaking, the least fit replaced |
| ``quality_diversity`` | CycleQD: pyribs archives of models over fidelity and tail coverage, alternating quality |
| ``island_reset`` | the worst islands re-seeded from the best every k generations (Mind Evolution) |
| ``m2n2``, ``ga``, ``map_elites``, ``cma`` | an evolution strategy on a task world (:mod:`.strategy`) |
| ``arena`` | the Red Queen arena: generators evolve to evade a detector (:mod:`redqueen.arena`) |
"""

from redqueen.loop.couplings.base import Coupling
from redqueen.loop.couplings.breeding import MUTATIONS, OPERATORS, Breeding
from redqueen.loop.couplings.island_reset import IslandReset
from redqueen.loop.couplings.merge import Merge
from redqueen.loop.couplings.migration import TOPOLOGIES, Migration, migration_matrix
from redqueen.loop.couplings.niches import Niches
from redqueen.loop.couplings.quality_diversity import QualityDiversity
from redqueen.loop.couplings.strategy import METHODS, StrategyCoupling

BREEDING_KEYS = ("operator", "weight", "density", "drop", "mutation", "sigma", "svd_rate")


def make_coupling(kind: str, **params) -> Coupling:
    """The one factory from config strings to (fresh, unbound) couplings; breeding keys become a :class:`Breeding`."""
    if kind in METHODS:
        return StrategyCoupling(method=kind, **params)
    breeding = {k: params.pop(k) for k in BREEDING_KEYS if k in params}
    if kind == "migration":
        return Migration(**params)
    if kind == "island_reset":
        return IslandReset(**params)
    if kind == "arena":
        from redqueen.arena import Arena

        cls = Arena
    else:
        cls = {"merge": Merge, "niches": Niches, "quality_diversity": QualityDiversity}.get(kind)
    if cls is None:
        raise ValueError(f"unknown coupling {kind!r}; choose migration, merge, niches, quality_diversity, island_reset"
                         f", arena, or a strategy ({', '.join(METHODS)})")
    return cls(**params, breeding=Breeding(**breeding))


__all__ = ["Breeding", "Coupling", "IslandReset", "MUTATIONS", "Merge", "Migration", "Niches", "OPERATORS",
           "QualityDiversity", "StrategyCoupling", "TOPOLOGIES", "make_coupling", "migration_matrix"]
