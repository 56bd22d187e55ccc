"""Detector regimes: what the detector is trained against after each round of the arena.

* ``frozen`` -- trained once, on generation 0's generators, and never again (the filter that stops adapting);
* ``adapting`` -- retrained every round on the newest generators;
* ``history`` -- retrained every round on the champions (the best evader of each round) of the last
  ``capacity`` rounds (0 = all of them), as in Sakana's Digital Red Queen where each round's warrior
  must beat every earlier champion.

Every regime trains on the same budget -- ``samples`` real items against ``samples`` synthetic ones --
so the regimes differ in what the detector sees, not in how much; generation 0's detector is the same
for all three (fitted on the first generators), so their runs share a starting point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redqueen.data import Data

KINDS = ("frozen", "adapting", "history")


@dataclass(frozen=True)
class DetectorRegime:
    """``kind`` in :data:`KINDS`; ``capacity`` rounds a history detector remembers (0 = all)."""

    kind: str = "adapting"
    capacity: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown detector regime {self.kind!r}; choose {', '.join(KINDS)}")
        if self.capacity < 0:
            raise ValueError(f"capacity must be >= 0 (0 = every earlier champion), got {self.capacity}")

    def refits(self, generation: int) -> bool:
        """Whether the detector is retrained after ``generation`` (> 0; generation 0 always fits)."""
        return self.kind != "frozen"

    def opponents(self, newest: Data, champions: list[Data], size: int, rng: np.random.Generator) -> Data:
        """The synthetic side of the next training set: ``size`` items of the newest generators (adapting) or
        of the remembered champions, pooled and subsampled (history)."""
        if self.kind != "history":
            return newest.take(size, rng) if len(newest) > size else newest
        kept = champions[-self.capacity:] if self.capacity else champions
        pool = kept[0]
        for c in kept[1:]:
            pool = pool.concat(c)
        return pool.take(size, rng) if len(pool) > size else pool
