"""Detector regimes: what the detector is trained against after each round of the arena.

* ``frozen`` -- trained once, on generation 0's generators, and never again (the filter that stops adapting);
* ``adapting`` -- retrained every round on the newest generators;
* ``history`` -- retrained every round on the champions (the best evader of each round) of the last
  ``capacity`` rounds (0 = all of them), as in Sakana's Digital Red Queen where each round's warrior
  must beat every earlier champion; with ``remember = "generations"``, on those rounds' whole
  trained-on generations instead (a filter trained on all the machine text it has seen; with
  ``capacity = 1`` that is the adapting detector on other samples of the same generators).

Every regime trains on the same budget -- ``samples`` real items against ``samples`` synthetic ones --
so the regimes differ in what the detector sees, not in how much; generation 0's detector is the same
for all three (fitted on the first generators), so their runs share a starting point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redqueen.data import Data

KINDS = ("frozen", "adapting", "history")
#: what a history detector keeps of each earlier round
REMEMBER = ("champions", "generations")


@dataclass(frozen=True)
class DetectorRegime:
    """``kind`` in :data:`KINDS`; ``capacity`` rounds a history detector remembers (0 = all); ``remember`` in
    :data:`REMEMBER`, what it keeps of each."""

    kind: str = "adapting"
    capacity: int = 0
    remember: str = "champions"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown detector regime {self.kind!r}; choose {', '.join(KINDS)}")
        if self.capacity < 0:
            raise ValueError(f"capacity must be >= 0 (0 = every earlier champion), got {self.capacity}")
        if self.remember not in REMEMBER:
            raise ValueError(f"unknown remember {self.remember!r}; choose {', '.join(REMEMBER)}")

    def refits(self, generation: int) -> bool:
        """Whether the detector is retrained after ``generation`` (> 0; generation 0 always fits)."""
        return self.kind != "frozen"

    def opponents(self, newest: Data, champions: list[Data], generations: list[Data], size: int,
                  rng: np.random.Generator) -> Data:
        """The synthetic side of the next training set: ``size`` items of the newest generators (adapting) or
        of the remembered rounds' champions (or whole ``generations``), pooled and subsampled (history)."""
        if self.kind != "history":
            return newest.take(size, rng) if len(newest) > size else newest
        rounds = champions if self.remember == "champions" else generations
        kept = rounds[-self.capacity:] if self.capacity else rounds
        pool = kept[0]
        for c in kept[1:]:
            pool = pool.concat(c)
        return pool.take(size, rng) if len(pool) > size else pool
