"""The watermark's z-test (Kirchenbauer et al. 2023, section 2): count green tokens, compare with gamma.

A sequence with ``T`` scored tokens of which ``G`` are green has
``z = (G - gamma T) / sqrt(T gamma (1 - gamma))``; without the watermark ``G``
is Binomial(T, gamma) (each scored token lands on a fresh pseudorandom list),
so ``z > 4`` happens with probability about 3e-5 (one-sided p-value
``erfc(z / sqrt 2) / 2``, Hugging Face's formula). Scored tokens are those with ``context`` tokens before them in
the sequence. ``ignore_repeated=True`` counts every distinct
``(context + 1)``-gram of a sequence once (the paper's section 7 remedy for
repeated text, Hugging Face's ``ignore_repeated_ngrams``): repeated n-grams are
not independent draws and inflate ``z`` on real text otherwise. Both readings
equal Hugging Face's ``WatermarkDetector`` at ``context = 1``
(tests/test_watermark.py).

For :class:`~redqueen.data.Counts` (i.i.d. items, ``context = 0``: one fixed
green list) the whole container is one document: :func:`detect_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erfc

from redqueen.data import Counts, Sequences
from redqueen.watermark.scheme import Watermark


@dataclass(frozen=True, eq=False)
class Detection:
    """Per document: ``scored`` and ``green`` token counts (int64), ``z`` and one-sided ``p_value`` (float64); all (n,).

    A document with no scored token has ``z = 0`` and ``p_value = 0.5`` (no evidence either way).
    """

    scored: np.ndarray
    green: np.ndarray
    z: np.ndarray
    p_value: np.ndarray


def z_scores(green: np.ndarray, scored: np.ndarray, gamma: float) -> Detection:
    """The z-test from green and scored counts (n,); the expected green share is ``gamma`` as in Hugging Face."""
    green = np.asarray(green, dtype=np.int64)
    scored = np.asarray(scored, dtype=np.int64)
    t = scored.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (green - gamma * t) / np.sqrt(t * gamma * (1 - gamma))
    z = np.where(scored > 0, z, 0.0)
    return Detection(scored, green, z, 0.5 * erfc(z / np.sqrt(2.0)))


def green_flags(watermark: Watermark, data: Sequences, vocab_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per token of ``data`` (flat, (N,)): whether it is scored and whether it is green (both bool)."""
    v = len(data.vocab) if vocab_size is None else int(vocab_size)
    scored, h = watermark.hash_inputs(data.tokens, data.offsets)
    green = np.zeros(scored.shape, bool)
    if scored.any():
        green[scored] = watermark.greens(v).is_green(h[scored], data.tokens[scored])
    return scored, green


def detect(watermark: Watermark, data: Sequences, *, vocab_size: int | None = None,
           ignore_repeated: bool = False) -> Detection:
    """The z-test for each sequence of ``data`` (n sequences -> arrays of shape (n,)).

    ``vocab_size`` is the size of the vocabulary the green lists were drawn over
    (default ``len(data.vocab)``; a model with extra symbols such as a BOS
    token still watermarks over the data vocabulary).
    """
    scored, green = green_flags(watermark, data, vocab_size)
    n = len(data)
    seq = np.repeat(np.arange(n), data.lengths())
    if ignore_repeated and scored.any():
        pos = np.flatnonzero(scored)
        width = watermark.context + 1
        grams = np.stack([seq[pos]] + [data.tokens[pos - k].astype(np.int64) for k in range(width - 1, -1, -1)], axis=1)
        _, first = np.unique(grams, axis=0, return_index=True)
        keep = pos[first]
        return z_scores(np.bincount(seq[keep], weights=green[keep], minlength=n).astype(np.int64),
                        np.bincount(seq[keep], minlength=n), watermark.gamma)
    return z_scores(np.bincount(seq, weights=green, minlength=n).astype(np.int64),
                    np.bincount(seq, weights=scored, minlength=n).astype(np.int64), watermark.gamma)


def detect_counts(watermark: Watermark, data: Counts) -> Detection:
    """The z-test of one document of i.i.d. items (arrays of shape (1,)); needs ``context = 0``."""
    if watermark.context != 0:
        raise ValueError("i.i.d. items have no previous token: a categorical watermark needs context = 0")
    green = watermark.greens(data.k).mask(np.ones(1, np.int64))[0]
    return z_scores(np.array([data.counts[green].sum()]), np.array([len(data)]), watermark.gamma)
