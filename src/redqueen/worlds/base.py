"""The world protocol: where real data comes from, and the yardstick for it."""

from __future__ import annotations

from pathlib import Path
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
    parameters that define the world, for the run record. A world that reads
    files also has ``data_files()``: path -> :func:`data_digest` of each file
    or folder it read, stored with the run so that a resume against changed data is refused.
    """

    def sample(self, n: int, rng: np.random.Generator) -> Data: ...

    def log_prob(self, data: Data) -> np.ndarray | None: ...

    def type_probs(self) -> np.ndarray | None: ...

    def types(self, data: Data) -> np.ndarray | None: ...

    def describe(self) -> dict: ...



def data_digest(path: str | Path) -> dict:
    """``{"sha256", "bytes"}`` of a data file, or of a folder's files (:func:`redqueen.io.sets.file_digest`)."""
    from redqueen.io.sets import file_digest

    p = Path(path)
    size = sum(q.stat().st_size for q in p.rglob("*") if q.is_file()) if p.is_dir() else p.stat().st_size
    return {"sha256": file_digest(p), "bytes": size}
