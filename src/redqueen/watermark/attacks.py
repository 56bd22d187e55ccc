"""Attacks that weaken a watermark: token substitution at a rate, and paraphrase by resampling tokens.

Both take and return :class:`~redqueen.data.Sequences` (same lengths and
vocabulary) and an explicit ``numpy.random.Generator``. A substituted or
resampled token lands on a fresh green list with probability ``gamma`` only
(and changes the green lists of the ``context`` tokens after it), so each
attack pulls the z-score towards the null: Kirchenbauer et al. (2023,
section 6) measure exactly these two, substitution with random tokens and
paraphrase (there by T5 span filling; here by another language model).
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Sequences


def substitute(data: Sequences, rate: float, rng: np.random.Generator, *, vocab_size: int | None = None) -> Sequences:
    """Replace each token, with probability ``rate``, by a uniformly random *other* token of the vocabulary.

    ``vocab_size`` defaults to ``len(data.vocab)``. Raises ``ValueError`` for a rate outside [0, 1] or a
    vocabulary of fewer than two tokens.
    """
    if not 0 <= rate <= 1:
        raise ValueError(f"substitution rate must be in [0, 1], got {rate}")
    v = len(data.vocab) if vocab_size is None else int(vocab_size)
    if v < 2:
        raise ValueError("substitution needs a vocabulary of at least two tokens")
    hit = rng.random(data.tokens.shape[0]) < rate
    tokens = data.tokens.copy()
    shift = rng.integers(1, v, int(hit.sum()))  # never the same token again
    tokens[hit] = (tokens[hit].astype(np.int64) + shift) % v
    return Sequences(tokens, data.offsets, data.vocab)


def paraphrase(data: Sequences, fraction: float, model, rng: np.random.Generator) -> Sequences:
    """Resample a ``fraction`` of the token positions from another ``model``, left to right.

    Each position is chosen independently with probability ``fraction``; a
    chosen token is replaced by a draw from ``model``'s next-token distribution
    given the tokens before it (with earlier replacements in place), so the
    text stays fluent under that model. ``model`` needs ``next_tokens(prefixes:
    Sequences, rng) -> (n,) int`` (the n-gram and transformer families have it;
    ``-1`` keeps the original token). Raises ``ValueError`` for a fraction
    outside [0, 1].
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"paraphrase fraction must be in [0, 1], got {fraction}")
    tokens = data.tokens.copy()
    lengths = data.lengths()
    starts = data.offsets[:-1]
    chosen = rng.random(tokens.shape[0]) < fraction
    local = np.arange(tokens.shape[0]) - np.repeat(starts, lengths)
    for t in range(int(lengths.max()) if lengths.size else 0):
        pos = np.flatnonzero(chosen & (local == t))
        if not pos.size:
            continue
        seq = np.repeat(np.arange(len(data)), lengths)[pos]
        prefix_offsets = np.concatenate([[0], np.cumsum(np.full(pos.size, t))])
        gather = (starts[seq][:, None] + np.arange(t)).reshape(-1)
        prefixes = Sequences(tokens[gather], prefix_offsets, data.vocab)
        new = np.asarray(model.next_tokens(prefixes, rng), dtype=np.int64)
        keep = new >= 0
        tokens[pos[keep]] = new[keep]
    return Sequences(tokens, data.offsets, data.vocab)
