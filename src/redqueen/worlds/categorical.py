"""Categorical worlds: Zipf laws and real word frequencies (wordfreq)."""

from __future__ import annotations

import numpy as np

from redqueen.data import Counts, multinomial


class Categorical:
    """A categorical distribution over ``K`` types; ``probs`` has shape ``(K,)``.

    Draws :class:`Counts`. Raises ``ValueError`` if ``probs`` is not a
    probability vector.
    """

    def __init__(self, probs: np.ndarray, *, labels: tuple[str, ...] | None = None, name: str = "categorical"):
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 1 or probs.size < 2 or np.any(~np.isfinite(probs)) or np.any(probs < 0) or probs.sum() <= 0:
            raise ValueError("probs must be a 1-D vector of at least 2 non-negative finite numbers")
        self.probs = probs / probs.sum()
        self.labels = labels
        self.name = name
        with np.errstate(divide="ignore"):
            self._log_probs = np.log(self.probs)

    @property
    def k(self) -> int:
        return self.probs.shape[0]

    def sample(self, n: int, rng: np.random.Generator) -> Counts:
        return Counts(multinomial(n, self.probs, rng), self.labels)

    def log_prob(self, data: Counts) -> np.ndarray:
        return self._log_probs

    def type_probs(self) -> np.ndarray:
        return self.probs

    def types(self, data: Counts) -> np.ndarray:
        return data.counts

    @property
    def type_labels(self) -> tuple[str, ...] | None:
        return self.labels

    def describe(self) -> dict:
        return {"world": self.name, "k": self.k}


def zipf(k: int = 1000, s: float = 1.1) -> Categorical:
    """Zipf's law over ``k`` types: ``p_i`` proportional to ``i**-s``."""
    if k < 2 or s < 0:
        raise ValueError("zipf needs k >= 2 and s >= 0")
    w = np.arange(1, k + 1, dtype=np.float64) ** -float(s)
    world = Categorical(w, labels=tuple(f"t{i}" for i in range(k)), name=f"zipf(k={k}, s={s})")
    return world


def wordfreq_world(lang: str = "en", k: int = 10000, wordlist: str = "best") -> Categorical:
    """The ``k`` most frequent words of ``lang`` with their real frequencies (wordfreq).

    Raises ``ValueError`` naming the available languages if ``lang`` is unknown.
    """
    import wordfreq

    langs = wordfreq.available_languages(wordlist)
    if lang not in langs:
        raise ValueError(f"wordfreq has no language {lang!r}; choose one of {', '.join(sorted(langs))}")
    freqs = wordfreq.get_frequency_dict(lang, wordlist=wordlist)
    items = sorted(freqs.items(), key=lambda kv: -kv[1])[:k]
    words = tuple(w for w, _ in items)
    return Categorical(np.array([f for _, f in items]), labels=words, name=f"wordfreq({lang}, k={len(words)})")
