"""The world protocol: where real data comes from, and the yardstick for it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from redqueen.data import Data


@runtime_checkable
class World(Protocol):
    """A ground-truth distribution or a real data set.

    ``sample(n, rng)`` draws ``n`` real items. ``log_prob(data)`` gives exact
    per-item log-probabilities (shape as :meth:`Data.weights`) or ``None``
    where the world has no closed form. ``type_probs()`` is the world's
    distribution over the "alleles" that population-genetics diagnostics
    count (words, mixture components, digit classes, tokens), or ``None``;
    ``types(data)`` maps data onto those types as counts, shape ``(K,)``.
    ``type_labels`` names them (or ``None``); ``describe()`` returns the
    parameters that define the world, for the run record.
    """

    def sample(self, n: int, rng: np.random.Generator) -> Data: ...

    def log_prob(self, data: Data) -> np.ndarray | None: ...

    def type_probs(self) -> np.ndarray | None: ...

    def types(self, data: Data) -> np.ndarray | None: ...

    def describe(self) -> dict: ...
