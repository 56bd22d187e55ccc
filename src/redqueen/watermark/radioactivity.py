"""Radioactivity (Sander et al. 2024): was a model trained on watermarked text? Read it off its own samples.

A model fine-tuned or trained on text watermarked with key ``k`` picks up a
small bias towards the green tokens of ``k`` -- it has learnt which tokens
follow which contexts, and the watermark made green successors more frequent.
The test samples text from the suspect model and asks whether its tokens are
green more often than ``gamma``. As in the paper (section 4), each
``(context tokens, token)`` tuple is scored once over the whole corpus
(repeats are not independent evidence, and a model repeats), optionally
leaving out tuples that occur in ``exclude`` (e.g. its prompts, whose
watermark the model merely copies). Under the null the green count of ``N``
distinct tuples is Binomial(N, gamma); the p-value is the exact upper tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from redqueen.data import Sequences
from redqueen.watermark.detect import green_flags
from redqueen.watermark.scheme import Watermark


@dataclass(frozen=True)
class Radioactivity:
    """Distinct scored tuples, how many are green, their share, the z-statistic and the one-sided p-value."""

    scored: int
    green: int
    green_share: float
    z: float
    p_value: float


def _tuples(watermark: Watermark, data: Sequences, vocab_size: int | None):
    scored, green = green_flags(watermark, data, vocab_size)
    pos = np.flatnonzero(scored)
    grams = np.stack([data.tokens[pos - k].astype(np.int64) for k in range(watermark.context, -1, -1)], axis=1)
    return grams, green[pos]


def radioactivity(watermark: Watermark, samples: Sequences, *, vocab_size: int | None = None,
                  exclude: Sequences | None = None) -> Radioactivity:
    """The green-bias test on a suspect model's ``samples`` under ``watermark``'s key.

    ``vocab_size`` is the green lists' vocabulary (default ``len(samples.vocab)``);
    tuples that also occur in ``exclude`` are not scored. With no tuple left,
    ``z = 0`` and ``p_value = 1``.
    """
    grams, green = _tuples(watermark, samples, vocab_size)
    uniq, first = np.unique(grams, axis=0, return_index=True)
    green = green[first]
    if exclude is not None and len(exclude) and uniq.shape[0]:
        seen, _ = _tuples(watermark, exclude, vocab_size)
        if seen.shape[0]:
            both = np.concatenate([uniq, np.unique(seen, axis=0)])
            _, inverse, counts = np.unique(both, axis=0, return_inverse=True, return_counts=True)
            green = green[counts[inverse.reshape(-1)[: uniq.shape[0]]] == 1]
    n, g = int(green.shape[0]), int(green.sum())
    gamma = watermark.gamma
    if n == 0:
        return Radioactivity(0, 0, float("nan"), 0.0, 1.0)
    z = (g - gamma * n) / np.sqrt(n * gamma * (1 - gamma))
    return Radioactivity(n, g, g / n, float(z), float(binom.sf(g - 1, n, gamma)))
