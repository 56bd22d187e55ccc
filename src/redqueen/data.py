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

Provenance (optional, "tracked" data): each item knows whether it is real or
synthetic and which generation and member made it, as an *origin* row
``(generation, member)`` with ``member = REAL`` (-1) for real items (their
generation is the one that drew them). :class:`Points` and :class:`Sequences`
carry one origin row per item (``origin``, (n, 2) int32); :class:`Counts`
keeps the counts of every origin apart (``origins`` (S, 2) int32 and
``by_origin`` (S, K) int64, ``counts`` their column sums), so a filter's
effect on real and synthetic items is counted, not assumed. Every operation
keeps provenance: ``concat`` joins it, ``take`` and :meth:`Counts.keep` split
what they keep among the origins (a hypergeometric split per type, drawn after
the untracked draw from the same generator), ``subset`` indexes it. Untracked
data (``origin is None``) behave exactly as before provenance existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Union

import numpy as np


REAL = -1  #: the member of a real item's origin row


def multinomial(n: int, pvals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rng.multinomial(n, pvals)`` for one 1-D ``pvals``, bit for bit (the counts and the generator's state
    after), drawing only over the types with mass. numpy draws a multinomial as one binomial per type in order;
    a type of probability 0 draws nothing from the generator and leaves the remaining mass as it was, and the
    last type takes what is left. So dropping the zero types but keeping the last one changes nothing, and a
    model that has lost most of its types (the state collapse leaves) is sampled at the cost of those it kept:
    a third faster at 5% of K = 50,000 types kept, the plain call above half (``tests/test_data.py`` checks
    the identity, ``benchmarks/bench_population.py`` the speed)."""
    p = np.asarray(pvals, dtype=np.float64)
    if p.ndim != 1 or p.shape[0] < 2:
        return rng.multinomial(n, p)
    if np.count_nonzero(p) > p.shape[0] // 2:  # finding the support would cost more than its zeros do
        return rng.multinomial(n, p)
    keep = np.append(np.flatnonzero(p[:-1]), p.shape[0] - 1)
    out = np.zeros(p.shape[0], dtype=np.int64)
    out[keep] = rng.multinomial(n, p[keep])
    return out


def origin_rows(n: int, generation: int, member: int) -> np.ndarray:
    """``n`` copies of the origin ``(generation, member)``; (n, 2) int32."""
    return np.tile(np.array([[generation, member]], dtype=np.int32), (n, 1))


def _join_origins(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Per-item origins of a concatenation: tracked only when both parts are."""
    return None if a is None or b is None else np.concatenate([a, b])


@dataclass(frozen=True)
class Composition:
    """Where a container's items came from: total, real and synthetic item counts, and items per origin
    (``by_origin``: ``((generation, member), items)`` pairs, sorted)."""

    items: int
    real: int
    synthetic: int
    by_origin: tuple[tuple[tuple[int, int], int], ...]

    @property
    def synthetic_share(self) -> float:
        return self.synthetic / self.items if self.items else float("nan")


def _composition(origins: np.ndarray, weights: np.ndarray) -> Composition:
    rows, inverse = np.unique(origins, axis=0, return_inverse=True)
    per = np.bincount(inverse.reshape(-1), weights=weights, minlength=rows.shape[0]).astype(np.int64)
    syn = int(per[rows[:, 1] != REAL].sum()) if rows.size else 0
    total = int(per.sum())
    pairs = tuple(((int(g), int(m)), int(c)) for (g, m), c in zip(rows, per) if c > 0)
    return Composition(total, total - syn, syn, pairs)


class _ItemProvenance:
    """Provenance of item containers (:class:`Points`, :class:`Sequences`): one origin row per item."""

    @property
    def tracked(self) -> bool:
        return self.origin is not None

    def tag(self, generation: int, member: int):
        """These items, all from the one origin ``(generation, member)``."""
        return replace(self, origin=origin_rows(len(self), generation, member))

    def untracked(self):
        return replace(self, origin=None)

    def composition(self) -> Composition:
        """Real, synthetic and per-origin item counts; ``ValueError`` if untracked."""
        if self.origin is None:
            raise ValueError(f"these {type(self).__name__.lower()} carry no provenance; tag them first")
        return _composition(self.origin, np.ones(len(self)))


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
    origins: np.ndarray | None = field(default=None, repr=False)  # (S, 2) int32, one row per origin
    by_origin: np.ndarray | None = field(default=None, repr=False)  # (S, K) int64; counts = by_origin.sum(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", np.asarray(self.counts, dtype=np.int64))
        if self.origins is not None:
            object.__setattr__(self, "origins", np.asarray(self.origins, dtype=np.int32).reshape(-1, 2))
            object.__setattr__(self, "by_origin", np.asarray(self.by_origin, dtype=np.int64).reshape(-1, self.k))

    @property
    def tracked(self) -> bool:
        return self.origins is not None

    def tag(self, generation: int, member: int) -> "Counts":
        """These counts, all from the one origin ``(generation, member)``."""
        return Counts(self.counts, self.labels, origin_rows(1, generation, member), self.counts[None, :])

    def untracked(self) -> "Counts":
        return Counts(self.counts, self.labels)

    def composition(self) -> Composition:
        """Real, synthetic and per-origin item counts; ``ValueError`` if untracked."""
        if not self.tracked:
            raise ValueError("these counts carry no provenance; tag them first")
        return _composition(self.origins, self.by_origin.sum(axis=1).astype(np.float64))

    def real_counts(self) -> np.ndarray:
        """Per type, the real items; (K,) int64 (tracked counts only)."""
        return self.by_origin[self.origins[:, 1] == REAL].sum(axis=0)

    def synthetic_counts(self) -> np.ndarray:
        """Per type, the synthetic items; (K,) int64 (tracked counts only)."""
        return self.by_origin[self.origins[:, 1] != REAL].sum(axis=0)

    def __len__(self) -> int:
        n = self.__dict__.get("_len")  # counts are never changed in place: summed once (a K-sized pass each call)
        if n is None:
            n = int(self.counts.sum())
            object.__setattr__(self, "_len", n)
        return n

    @property
    def k(self) -> int:
        return self.counts.shape[0]

    def concat(self, other: "Counts") -> "Counts":
        if not (self.tracked and other.tracked):
            return Counts(self.counts + other.counts, self.labels)
        rows, inverse = np.unique(np.concatenate([self.origins, other.origins]), axis=0, return_inverse=True)
        by = np.zeros((rows.shape[0], self.k), np.int64)
        np.add.at(by, inverse.reshape(-1), np.concatenate([self.by_origin, other.by_origin]))
        return Counts(self.counts + other.counts, self.labels, rows, by)

    def take(self, n: int, rng: np.random.Generator) -> "Counts":
        if n >= len(self):
            return self
        return self.keep(rng.multivariate_hypergeometric(self.counts, n, method="marginals"), rng)

    def keep(self, counts: np.ndarray, rng: np.random.Generator) -> "Counts":
        """A uniformly random sub-multiset with ``counts[k] <= self.counts[k]`` items of type ``k``.

        Untracked: just those counts (no draw). Tracked: each type's kept items are split among its
        origins without replacement (a multivariate hypergeometric per type, origin by origin).
        """
        counts = np.asarray(counts, dtype=np.int64)
        if not self.tracked:
            return Counts(counts, self.labels)
        by = np.zeros_like(self.by_origin)
        left = counts.copy()
        rest = self.by_origin.sum(axis=0)
        for s in range(self.origins.shape[0] - 1):
            rest = rest - self.by_origin[s]
            by[s] = rng.hypergeometric(self.by_origin[s], rest, left) if left.any() else 0
            left -= by[s]
        by[-1] = left
        return Counts(counts, self.labels, self.origins, by)

    def weights(self) -> np.ndarray:
        return self.counts.astype(np.float64)

    def resample(self, weights: np.ndarray, m: int, rng: np.random.Generator) -> "Counts":
        """``m`` items drawn with replacement, an item of type ``k`` with probability proportional to
        ``weights[k]`` ((K,), >= 0, not all zero where there are items); tracked: drawn over the
        ``(origin, type)`` cells, so every draw keeps its origin."""
        w = np.asarray(weights, dtype=np.float64)
        if not self.tracked:
            p = w * self.counts
            return Counts(multinomial(m, p / p.sum(), rng), self.labels)
        cells = (w[None, :] * self.by_origin).ravel()
        by = multinomial(m, cells / cells.sum(), rng).reshape(self.by_origin.shape)
        return Counts(by.sum(axis=0), self.labels, self.origins, by)

    def frequencies(self) -> np.ndarray:
        total = self.counts.sum()
        return self.counts / total if total else np.zeros(self.k)

    def to_arrays(self) -> dict[str, np.ndarray]:
        if self.tracked:
            return {"counts": self.counts, "origins": self.origins, "by_origin": self.by_origin}
        return {"counts": self.counts}

    def with_counts(self, counts: np.ndarray) -> "Counts":
        """Other counts with these labels, untracked (what happened to each origin is unknown; see :meth:`keep`)."""
        return Counts(counts, self.labels)


@dataclass(frozen=True, eq=False)
class Points(_ItemProvenance):
    """``n`` points in ``d`` dimensions; ``x`` has shape ``(n, d)``, float64."""

    x: np.ndarray
    origin: np.ndarray | None = field(default=None, repr=False)  # (n, 2) int32 (generation, member) per point

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        object.__setattr__(self, "x", x)
        if self.origin is not None:
            object.__setattr__(self, "origin", np.asarray(self.origin, dtype=np.int32).reshape(-1, 2))

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def d(self) -> int:
        return self.x.shape[1]

    def concat(self, other: "Points") -> "Points":
        return Points(np.concatenate([self.x, other.x]), _join_origins(self.origin, other.origin))

    def subset(self, idx: np.ndarray) -> "Points":
        """The points at positions ``idx`` (int array), in that order, with their origins."""
        return Points(self.x[idx], None if self.origin is None else self.origin[idx])

    def take(self, n: int, rng: np.random.Generator) -> "Points":
        if n >= len(self):
            return self
        return self.subset(np.sort(rng.choice(len(self), n, replace=False)))

    def weights(self) -> np.ndarray:
        return np.ones(len(self))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"x": self.x} if self.origin is None else {"x": self.x, "origin": self.origin}


@dataclass(frozen=True, eq=False)
class Sequences(_ItemProvenance):
    """Token sequences stored flat: sequence ``i`` is ``tokens[offsets[i]:offsets[i+1]]``."""

    tokens: np.ndarray
    offsets: np.ndarray
    vocab: Vocabulary = field(repr=False)
    origin: np.ndarray | None = field(default=None, repr=False)  # (n, 2) int32 (generation, member) per sequence

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", np.asarray(self.tokens, dtype=np.int32))
        object.__setattr__(self, "offsets", np.asarray(self.offsets, dtype=np.int64))
        if self.origin is not None:
            object.__setattr__(self, "origin", np.asarray(self.origin, dtype=np.int32).reshape(-1, 2))

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
            _join_origins(self.origin, other.origin),
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
        return Sequences(tokens, offsets, self.vocab, None if self.origin is None else self.origin[idx])

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
        out = {"tokens": self.tokens, "offsets": self.offsets}
        return out if self.origin is None else {**out, "origin": self.origin}


Data = Union[Counts, Points, Sequences]


def tracked(data: Data | None) -> bool:
    """Whether ``data`` carries provenance."""
    return data is not None and getattr(data, "tracked", False)


def mean_log_prob(log_prob: np.ndarray, data: Data) -> float:
    """Weighted mean of a family's or world's ``log_prob(data)`` output (per item)."""
    w = data.weights()
    total = w.sum()
    if total == 0:
        return float("nan")
    mask = w > 0
    return float(np.dot(w[mask], log_prob[mask]) / total)
