"""A population: P >= 1 member lineages of one arm x replicate, stepped together with their couplings.

P = 1 without couplings is a plain lineage, and gives exactly the records a lineage always gave.
:class:`Lineage` is that case with the one-record API (``step()`` returns a record; ``model``,
``pools`` and ``pending`` are member 0's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from redqueen.loop.curation import Curation
from redqueen.loop.member import Member, member_seeds, population_seed
from redqueen.loop.record import GenerationRecord
from redqueen.loop.regimes import Regime
from redqueen.metrics.suite import Diagnostics, PopulationDiagnostics


@dataclass
class Population:
    """The runtime's unit: ``members`` lineages of one arm and replicate, and the couplings acting on them.

    ``couplings`` are zero-argument factories of :class:`redqueen.loop.couplings.Coupling` objects
    (couplings have state, so each population builds its own). ``step()`` runs one generation
    (:func:`redqueen.loop.phases.run_generation`) and returns one record per member.
    """

    world: object
    make_family: Callable[[], object]
    regime: Regime
    n: int
    seed: int
    arm: str = "arm"
    replicate: int = 0
    curation: Sequence[Curation] = ()
    texts_every: int = 0
    warm_start: bool = False  # fine-tune the previous generation's model instead of training from scratch
    reference_size: int | None = None  # real items the diagnostics hold out (default metrics.suite.REFERENCE_SIZE)
    members: int = 1
    couplings: Sequence[Callable[[], object]] = ()
    mixed_curation: Sequence[Curation] = ()  # steps applied to the mixed training set (after the regime mixes)
    provenance: bool = False  # tag every item with its origin and record the training sets' composition
    radioactivity: int = 0  # samples of an unwatermarked model of each training set, tested for the watermark
    generation: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        self.oversample = math.prod(c.oversample for c in self.curation)
        self.provenance = bool(self.provenance or self.mixed_curation or self.radioactivity or getattr(self.regime, "needs_provenance", False))
        self.member_list: list[Member] = []
        for i in range(self.members):
            loop_ss, diag_ss = member_seeds(self.seed, self.replicate, i)
            diag = Diagnostics(self.world, np.random.default_rng(diag_ss), reference_size=self.reference_size,
                               make_family=self.make_family)
            self.member_list.append(Member(i, np.random.default_rng(loop_ss), diag))
        self.coupling_rng = np.random.default_rng(population_seed(self.seed, self.replicate, 2))
        self.coupling_list = [make() for make in self.couplings]
        for c in self.coupling_list:
            c.bind(self)
        self.population_diagnostics = PopulationDiagnostics(self.world) if self.members > 1 else None

    def step(self, *, texts: bool = False) -> list[GenerationRecord]:
        """Run the next generation; one record per member (``texts`` asks for readable samples)."""
        from redqueen.loop.phases import run_generation

        return run_generation(self, texts=texts)

    def models(self) -> list:
        return [m.model for m in self.member_list]


class Lineage(Population):
    """A population of one member: ``step()`` returns its record; ``model``/``pools``/``pending`` are its own."""

    def __init__(self, **kwargs):
        if kwargs.get("members", 1) != 1 or kwargs.get("couplings"):
            raise ValueError("a Lineage is one member without couplings; use Population for more")
        super().__init__(**kwargs)

    def step(self, *, texts: bool = False) -> GenerationRecord:
        return super().step(texts=texts)[0]

    @property
    def member(self) -> Member:
        return self.member_list[0]

    @property
    def model(self):
        return self.member.model

    @property
    def pools(self):
        return self.member.pools

    @property
    def pending(self):
        return self.member.pending

    @property
    def diagnostics(self) -> Diagnostics:
        return self.member.diagnostics

    @property
    def rng(self) -> np.random.Generator:
        return self.member.rng
