"""The strategy protocol: pyribs-style ask/tell over genomes scored per datapoint."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Strategy(Protocol):
    """An evolution strategy over ``(d,)`` float32 genomes.

    * ``ask(rng=None)`` returns a ``(B, d)`` float32 batch of genomes to
      evaluate (the first call(s) may return the initial population).
      ``rng`` overrides the strategy's own generator for this call.
    * ``tell(genomes, scores)`` reports them back: ``scores`` is ``(B, n)``
      float, each genome's score on each of ``n`` datapoints (1 = correct).
      Strategies that need one number use the mean over datapoints. It
      returns the outcome, pyribs-style: a ``(B,)`` int array saying where
      each genome went (see each strategy's ``tell``).
    * ``best()`` returns ``(genome, mean score)`` of the best member held
      (the population's best on the training data).
    * ``members(k)`` returns ``(genomes (m, d), mean scores (m,))``, the at
      most ``k`` genomes the strategy holds now, best first where it ranks them.
    * ``state()`` / ``load_state(arrays, meta)``: numpy arrays and JSON-able
      values from which a fresh strategy built with the same arguments
      continues bit for bit.

    Hyperparameters are keyword-only constructor arguments; state ends in ``_``.
    """

    def ask(self, rng: np.random.Generator | None = None) -> np.ndarray: ...

    def tell(self, genomes: np.ndarray, scores: np.ndarray) -> np.ndarray: ...

    def best(self) -> tuple[np.ndarray, float]: ...

    def members(self, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def state(self) -> tuple[dict[str, np.ndarray], dict]: ...

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None: ...


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``Generator`` from a generator, a seed, or ``None`` (fresh OS entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def check_told(genomes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(B, d)`` float32 genomes and ``(B, n)`` float32 scores; raises ``ValueError`` on mismatched batches."""
    g = np.asarray(genomes, dtype=np.float32)
    s = np.asarray(scores, dtype=np.float32)
    g = g[None] if g.ndim == 1 else g
    s = s[None] if s.ndim == 1 else s
    if g.shape[0] != s.shape[0]:
        raise ValueError(f"tell() got {g.shape[0]} genomes but {s.shape[0]} score rows; pass one row per genome")
    return g, s
