"""Training data as it flows through the loop: three immutable containers.

Every world draws, every family samples and every regime pools one of these:

* :class:`Counts` -- categorical data stored as counts over ``K`` types
  (``len`` is the number of items, ``counts.sum()``). Storing counts instead of
  items is what makes a loop with 10^6 samples over 5*10^4 types cost no more
  than ``rng.multinomial``.
* :class:`Points` -- ``(n, d)`` float arrays (Gaussians, mixtures, images).
* :class:`Sequences` -- ``n`` token sequences of varying length, stored flat
  (``tokens`` int32 and ``offsets`` int64 of shape ``(n + 1,)``) with the
  vocabulary that decodes them.

All three share one small interface: ``len``, ``concat``, ``take`` (a random
subset without replacement), ``weights`` (how much each entry of
``log_prob``'s output counts) and ``to_arrays``/``from_arrays`` for
checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np


@dataclass(frozen=True)
class Vocabulary:
    """Token strings and how to join them back into text (``""`` for characters)."""

    tokens: tuple[str, ...]
    joiner: str = " "

    def __len__(self) -> int:
        return len(self.tokens)

    def decode(self, ids: np.ndarray) -> str:
        return self.joiner.join(self.tokens[i] for i in ids)

    def state(self, prefix: str = "") -> dict[str, np.ndarray]:
        """The vocabulary as arrays a checkpoint holds: ``{prefix}vocab_utf8`` (tokens, UTF-8, NUL-separated),
        ``{prefix}vocab_size``, ``{prefix}joiner_utf8``."""
        return {f"{prefix}vocab_utf8": strings_to_array(self.tokens),
                f"{prefix}vocab_size": np.array(len(self.tokens), dtype=np.int64),
                f"{prefix}joiner_utf8": strings_to_array([self.joiner])}

    @classmethod
    def from_state(cls, state: dict, prefix: str = "") -> "Vocabulary":
        """Inverse of :meth:`state`."""
        tokens = array_to_strings(state[f"{prefix}vocab_utf8"])
        joiner = array_to_strings(state[f"{prefix}joiner_utf8"])[0]
        return cls(tuple(tokens) if int(state[f"{prefix}vocab_size"]) else (), joiner)


def strings_to_array(strings) -> np.ndarray:
    """Strings as one uint8 array (UTF-8, NUL-separated): text a checkpoint's arrays can hold."""
    return np.frombuffer("\x00".join(strings).encode("utf-8"), dtype=np.uint8).copy()


def array_to_strings(array) -> list[str]:
    """Inverse of :func:`strings_to_array` (an empty array gives ``[""]``)."""
    return bytes(np.asarray(array, dtype=np.uint8)).decode("utf-8").split("\x00")


@dataclass(frozen=True, eq=False)
class Counts:
    """``counts[k]`` items of type ``k``; shape ``(K,)``, int64."""

    counts: np.ndarray
    labels: tuple[str, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", np.asarray(self.counts, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.counts.sum())

    @property
    def k(self) -> int:
        return self.counts.shape[0]

    def concat(self, other: "Counts") -> "Counts":
        return Counts(self.counts + other.counts, self.labels)

    def take(self, n: int, rng: np.random.Generator) -> "Counts":
        if n >= len(self):
            return self
        return Counts(rng.multivariate_hypergeometric(self.counts, n, method="marginals"), self.labels)

    def weights(self) -> np.ndarray:
        return self.counts.astype(np.float64)

    def frequencies(self) -> np.ndarray:
        total = self.counts.sum()
        return self.counts / total if total else np.zeros(self.k)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def with_counts(self, counts: np.ndarray) -> "Counts":
        return Counts(counts, self.labels)


@dataclass(frozen=True, eq=False)
class Points:
    """``n`` points in ``d`` dimensions; ``x`` has shape ``(n, d)``, float64."""

    x: np.ndarray

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        object.__setattr__(self, "x", x)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def d(self) -> int:
        return self.x.shape[1]

    def concat(self, other: "Points") -> "Points":
        return Points(np.concatenate([self.x, other.x]))

    def take(self, n: int, rng: np.random.Generator) -> "Points":
        if n >= len(self):
            return self
        return Points(self.x[np.sort(rng.choice(len(self), n, replace=False))])

    def weights(self) -> np.ndarray:
        return np.ones(len(self))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"x": self.x}


@dataclass(frozen=True, eq=False)
class Sequences:
    """Token sequences stored flat: sequence ``i`` is ``tokens[offsets[i]:offsets[i+1]]``."""

    tokens: np.ndarray
    offsets: np.ndarray
    vocab: Vocabulary = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", np.asarray(self.tokens, dtype=np.int32))
        object.__setattr__(self, "offsets", np.asarray(self.offsets, dtype=np.int64))

    @classmethod
    def from_list(cls, seqs: list[np.ndarray] | list[list[int]], vocab: Vocabulary) -> "Sequences":
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        tokens = np.concatenate([np.asarray(s, dtype=np.int32) for s in seqs]) if seqs else np.zeros(0, np.int32)
        return cls(tokens, offsets, vocab)

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def concat(self, other: "Sequences") -> "Sequences":
        return Sequences(
            np.concatenate([self.tokens, other.tokens]),
            np.concatenate([self.offsets, other.offsets[1:] + self.offsets[-1]]),
            self.vocab,
        )

    def subset(self, idx: np.ndarray) -> "Sequences":
        """The sequences at positions ``idx`` (int array), in that order."""
        lengths = self.lengths()[idx]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        if len(idx):
            starts = self.offsets[idx]
            gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
            tokens = self.tokens[gather]
        else:
            tokens = np.zeros(0, np.int32)
        return Sequences(tokens, offsets, self.vocab)

    def take(self, n: int, rng: np.random.Generator) -> "Sequences":
        if n >= len(self):
            return self
        return self.subset(np.sort(rng.choice(len(self), n, replace=False)))

    def weights(self) -> np.ndarray:
        return np.ones(len(self))

    def token_counts(self) -> np.ndarray:
        """How often each vocabulary token occurs; shape ``(V,)``."""
        return np.bincount(self.tokens, minlength=len(self.vocab)).astype(np.int64)

    def decode(self, i: int) -> str:
        return self.vocab.decode(self[i])

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"tokens": self.tokens, "offsets": self.offsets}


Data = Union[Counts, Points, Sequences]


def mean_log_prob(log_prob: np.ndarray, data: Data) -> float:
    """Weighted mean of a family's or world's ``log_prob(data)`` output (per item)."""
    w = data.weights()
    total = w.sum()
    if total == 0:
        return float("nan")
    mask = w > 0
    return float(np.dot(w[mask], log_prob[mask]) / total)
