"""What one generation of one member produced: an immutable record, and where the member came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Parent:
    """One edge of the genealogy: member ``member`` of the previous generation gave ``weight`` of this
    member's make-up, as ``kind`` (``"migrant"``: that share of its training items; ``"merge"``: that
    interpolation weight in weight space; ``"copy"``: a re-seeded island; ``"archive"``: bred from two
    elites of a quality-diversity archive, ``member`` -1)."""

    member: int
    weight: float
    kind: str


@dataclass(frozen=True)
class GenerationRecord:
    """What one generation of one member lineage produced: numbers, a few readable samples, and
    per-item distributions (``(name, float32 bytes)`` pairs, e.g. each sample's perplexity
    under the generation-0 model; read one with :meth:`distribution`).

    ``member`` is the member's index in its population (0 for a plain lineage); ``parents`` lists
    what a coupling did to it this generation (empty when the member simply descends from itself).
    """

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
    member: int = 0
    parents: tuple[Parent, ...] = ()

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
