"""One lineage of the self-consuming loop, stepped one generation at a time.

Generation 0 trains on ``n`` real items from the world. Generation t > 0:
the regime says how many synthetic items it wants; the previous model
samples them (more if a filter will discard some); curation edits them; the
regime mixes them with real data and pools into the training set; a fresh
model of the family fits it; the diagnostics measure it. Each step returns
one immutable :class:`GenerationRecord`.

A population experiment steps several lineages side by side and may act on
them between steps (``model`` and ``pools`` are public); nothing else changes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from redqueen.data import Data
from redqueen.loop.curation import Curation
from redqueen.loop.regimes import Pools, Regime
from redqueen.metrics.suite import Diagnostics, sample_texts
from redqueen.models.warm import warm_start as continue_from


@dataclass(frozen=True)
class GenerationRecord:
    """What one generation of one lineage produced: numbers, a few readable samples, and
    per-item distributions (``(name, float32 bytes)`` pairs, e.g. each sample's perplexity
    under the generation-0 model; read one with :meth:`distribution`)."""

    arm: str
    replicate: int
    generation: int
    metrics: dict[str, float]
    samples: tuple[str, ...] = ()
    seconds: float = 0.0
    train_size: int = 0
    status: str = "ok"
    reason: str = ""
    distributions: tuple[tuple[str, bytes], ...] = ()

    def distribution(self, name: str) -> np.ndarray:
        """The per-item values stored under ``name`` (float32); KeyError if the record has none."""
        for key, data in self.distributions:
            if key == name:
                return np.frombuffer(data, dtype=np.float32)
        raise KeyError(f"record {self.arm}/{self.replicate}/{self.generation} has no distribution {name!r}; "
                       f"it has {[k for k, _ in self.distributions]}")


MAX_DISTRIBUTION = 100_000  # values kept per distribution; above it, evenly spaced order statistics


def pack_distribution(values: np.ndarray) -> bytes:
    """Per-item values as float32 bytes for a record. More than :data:`MAX_DISTRIBUTION` values are
    reduced to that many evenly spaced order statistics (minimum and maximum kept), which keeps
    the histogram's shape without drawing random numbers."""
    v = np.asarray(values, dtype=np.float32).ravel()
    if v.size > MAX_DISTRIBUTION:
        v = np.sort(v)[np.linspace(0, v.size - 1, MAX_DISTRIBUTION).round().astype(np.int64)]
    return v.tobytes()


def lineage_seeds(seed: int, replicate: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The loop's and the diagnostics' seed sequences for one replicate.

    Every arm of a replicate gets the same streams, so arms start from the
    same generation-0 data (common random numbers) and differ only by regime.
    """
    return (
        np.random.SeedSequence(seed, spawn_key=(replicate, 0)),
        np.random.SeedSequence(seed, spawn_key=(replicate, 1)),
    )


@dataclass
class Lineage:
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
    rng: np.random.Generator = field(init=False)
    generation: int = field(init=False, default=-1)
    model: object = field(init=False, default=None)
    pools: Pools | None = field(init=False, default=None)
    pending: Data | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        loop_ss, diag_ss = lineage_seeds(self.seed, self.replicate)
        self.rng = np.random.default_rng(loop_ss)
        self.diagnostics = Diagnostics(self.world, np.random.default_rng(diag_ss), reference_size=self.reference_size,
                                       make_family=self.make_family)
        self.oversample = math.prod(c.oversample for c in self.curation)

    def _curate(self, raw: Data) -> Data:
        want = self.regime.synthetic_size(self.n)
        data = raw
        for step in self.curation:
            data = step.apply(data, self.model, self.world, self.rng)
        return data.take(want, self.rng) if len(data) > want else data

    def step(self, *, texts: bool = False) -> GenerationRecord:
        """Run the next generation; ``texts`` asks for a readable sample in the record.

        The new model's raw samples for the next generation are drawn at the
        end of this step and are what the diagnostics measure, so each model is
        sampled once per generation, as in a bare resampling loop.
        """
        t0 = time.perf_counter()
        self.generation += 1
        if self.generation == 0:
            train = self.world.sample(self.n, self.rng)
            self.pools = Pools(bank=train, accumulated=train)
        else:
            synthetic = self._curate(self.pending)
            train, self.pools = self.regime.training_set(synthetic, self.pools, self.n, self.world, self.rng)
        family = self.make_family()
        if self.warm_start and self.model is not None:
            family = continue_from(family, self.model)
        self.model = family.fit(train, self.rng)
        want = self.regime.synthetic_size(self.n)
        self.pending = self.model.sample(int(math.ceil(want * self.oversample - 1e-9)), self.rng)
        metrics, distributions = self.diagnostics(self.generation, self.model, self.pending)
        want_texts = texts or (self.texts_every and self.generation % self.texts_every == 0)
        shown = sample_texts(self.model, self.pending, self.diagnostics.rng) if want_texts else ()
        return GenerationRecord(
            arm=self.arm,
            replicate=self.replicate,
            generation=self.generation,
            metrics=metrics,
            samples=shown,
            seconds=time.perf_counter() - t0,
            train_size=len(train),
            distributions=tuple((k, pack_distribution(v)) for k, v in distributions.items()),
        )
