"""One member of a population: a lineage's model, data pools, pending synthetic items, generators and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from redqueen.data import Data
from redqueen.loop.regimes import Pools
from redqueen.metrics.suite import Diagnostics


def member_seeds(seed: int, replicate: int, member: int = 0) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The loop's and the diagnostics' seed sequences of one member of one replicate.

    Every arm of a replicate gets the same streams, so arms start from the same
    generation-0 data (common random numbers) and differ only by what they do.
    Member 0 has the streams a plain lineage always had (spawn keys ``(replicate, 0)``
    and ``(replicate, 1)``); member ``i > 0`` gets ``(replicate, 0, i)`` and ``(replicate, 1, i)``.
    """
    tail = () if member == 0 else (member,)
    return (np.random.SeedSequence(seed, spawn_key=(replicate, 0, *tail)),
            np.random.SeedSequence(seed, spawn_key=(replicate, 1, *tail)))


def lineage_seeds(seed: int, replicate: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The seed sequences of a plain lineage (member 0); see :func:`member_seeds`."""
    return member_seeds(seed, replicate, 0)


def population_seed(seed: int, replicate: int, stream: int) -> np.random.SeedSequence:
    """A population-level stream of one replicate: 2 drives the couplings, 3 draws their real reference set."""
    return np.random.SeedSequence(seed, spawn_key=(replicate, stream))


@dataclass
class Member:
    """A member lineage: what it holds between generations.

    ``pending`` is the curated synthetic data the next generation trains on; ``pools`` the
    regime's gene bank and accumulated pool; ``rng`` the loop's generator (training sets,
    fitting, sampling, curation); ``diagnostics`` measures with a generator of its own.
    """

    index: int
    rng: np.random.Generator
    diagnostics: Diagnostics
    model: object = None
    pools: Pools | None = None
    pending: Data | None = None
    generation: int = field(default=-1)
    provenance: dict = field(default_factory=dict)  # this generation's training-set composition metrics
