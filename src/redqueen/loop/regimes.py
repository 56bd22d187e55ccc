"""Regimes: how generation t's training set is built from real and synthetic data.

Each regime is a small frozen dataclass with two methods:
``synthetic_size(n)`` (how many curated synthetic items it wants from the
previous model) and ``training_set(synthetic, pools, n, world, rng)``
returning ``(training data, new pools)``. :class:`Pools` holds what a regime
keeps between generations: the gene bank (generation 0's real data, never
replaced) and the accumulated pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redqueen.data import Data


@dataclass(frozen=True)
class Pools:
    """Data kept across generations: ``bank`` is generation 0's real data; ``accumulated`` everything so far."""

    bank: Data
    accumulated: Data


@dataclass(frozen=True)
class Replace:
    """Pure self-consumption: train only on the previous model's samples."""

    name: str = "replace"

    def synthetic_size(self, n: int) -> int:
        return n

    def training_set(self, synthetic: Data, pools: Pools, n: int, world, rng: np.random.Generator):
        return synthetic, pools


@dataclass(frozen=True)
class Accumulate:
    """Keep all real data and all synthetic data so far (Gerstgrasser et al. 2024); the set grows by n each generation."""

    name: str = "accumulate"

    def synthetic_size(self, n: int) -> int:
        return n

    def training_set(self, synthetic: Data, pools: Pools, n: int, world, rng: np.random.Generator):
        acc = pools.accumulated.concat(synthetic)
        return acc, Pools(pools.bank, acc)


@dataclass(frozen=True)
class Subsample:
    """Accumulate, but train on a random subset of ``budget`` items (default: n) of the pool."""

    budget: int | None = None
    name: str = "subsample"

    def synthetic_size(self, n: int) -> int:
        return n

    def training_set(self, synthetic: Data, pools: Pools, n: int, world, rng: np.random.Generator):
        acc = pools.accumulated.concat(synthetic)
        return acc.take(self.budget or n, rng), Pools(pools.bank, acc)


@dataclass(frozen=True)
class Fresh:
    """A fraction of every training set is real: new draws from the world (gene flow), or the gene bank.

    ``source="world"`` is migration from an unchanging mainland; ``source="bank"``
    re-uses generation 0's real data (Shumailov et al.'s "10% original data").
    """

    fraction: float = 0.1
    source: str = "world"
    name: str = "fresh"

    def synthetic_size(self, n: int) -> int:
        return n - self.real_size(n)

    def real_size(self, n: int) -> int:
        """Real items per training set: round(fraction * n), halves to even (0.25 * 10 -> 2); theory uses this too."""
        return int(round(self.fraction * n))

    def training_set(self, synthetic: Data, pools: Pools, n: int, world, rng: np.random.Generator):
        m = self.real_size(n)
        if m == 0:
            return synthetic, pools
        real = world.sample(m, rng) if self.source == "world" else pools.bank.take(m, rng)
        return synthetic.concat(real), pools


@dataclass(frozen=True)
class Web:
    """The contaminated web: a pool to which ``real_rate`` new real items arrive each generation and the
    previous model publishes ``publish`` items (default n); each generation trains on a scrape of
    ``n`` items drawn from the whole pool without replacement.

    Generation 0's ``n`` real items are the web's first pages. The pool only grows (nothing is
    taken down), so its synthetic share after ``t`` generations is ``t p / (n + t (p + r))`` for
    ``p`` published and ``r`` arriving per generation, and the scrape's expected share equals it.
    With provenance (always on for this regime) the pool's synthetic share is recorded each
    generation as ``pool_synthetic_share``. ``shared`` (populations): every member's output is
    published to every member's web, not only to its own.
    """

    real_rate: int = 0
    publish: int | None = None
    shared: bool = False
    name: str = "web"

    needs_provenance = True

    def synthetic_size(self, n: int) -> int:
        return n if self.publish is None else self.publish

    def training_set(self, synthetic: Data, pools: Pools, n: int, world, rng: np.random.Generator):
        web = pools.accumulated.concat(synthetic)
        if self.real_rate:
            web = web.concat(world.sample(self.real_rate, rng))
        return web.take(n, rng), Pools(pools.bank, web)

    def synthetic_share(self, t: int, n: int) -> float:
        """The web's synthetic share after generation ``t``'s arrivals (its expected scrape share)."""
        p = self.synthetic_size(n)
        return t * p / (n + t * (p + self.real_rate))  # per member's web; shared: p is P times larger


Regime = Replace | Accumulate | Subsample | Fresh | Web


def make_regime(kind: str, *, real_fraction: float = 0.1, real_source: str = "world", budget: int | None = None,
                real_rate: int = 0, publish: int | None = None, shared: bool = False) -> Regime:
    """The one factory from config strings to regimes."""
    if kind == "replace":
        return Replace()
    if kind == "accumulate":
        return Accumulate()
    if kind == "subsample":
        return Subsample(budget=budget)
    if kind == "fresh":
        return Fresh(fraction=real_fraction, source=real_source)
    if kind == "web":
        return Web(real_rate=real_rate, publish=publish, shared=shared)
    raise ValueError(f"unknown regime {kind!r}; choose replace, accumulate, subsample, fresh or web")
