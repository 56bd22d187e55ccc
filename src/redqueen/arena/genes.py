"""Sampling parameters as evolvable genes: temperature, top-p and a mixture's weight temperature, per generator.

A family that samples with a temperature or a nucleus (categorical, n-gram with additive
smoothing, transformer, Hugging Face; a temperature for the Gaussian and the Gaussian mixtures,
which scales every standard deviation by ``T``, and for the mixtures a weight temperature,
``w^(1/S)``; a latent temperature for the VAE, which decodes ``z ~ N(0, T^2 I)`` and scores under that
prior) keeps them as constructor parameters; a generator's genes
are applied by building a fresh family object with the gene values and loading the fitted model's
state into it (the public ``state`` / ``load_state``), so the family's own code decides what a
temperature means. The biased distribution is the model's: it emits, is measured and scores real
data (its fidelity) with the genes in force -- evading by sharpening costs likelihood of real data.
(The transformer and Hugging Face families' ``log_prob`` scores the network, decoding biases aside, as
perplexity is usually reported; the arena's fidelity calls their ``decoded_log_prob``, which scores
with temperature, top-k and top-p in force.) A nucleus below 1 gives every token it removes
probability 0, so a real text that needs one scores ``-inf``: under the likelihood fidelity such a
generator is infeasible, and on King James bigrams selection keeps ``top_p`` at 0.98-1.0 (BENCHMARKS.md
section 14).
"""

from __future__ import annotations

import numpy as np

GENES = ("temperature", "top_p", "weight_temperature")
BOUNDS = {"temperature": (0.25, 4.0), "top_p": (0.2, 1.0), "weight_temperature": (0.25, 4.0)}


def initial(make_family, genes: tuple[str, ...], members: int) -> np.ndarray:
    """``(members, len(genes))``: the family's configured values for every member."""
    template = make_family()
    row = [float(getattr(template, g)) for g in genes]
    return np.tile(np.asarray(row, dtype=np.float64), (members, 1))


def apply(make_family, model, genes: tuple[str, ...], values: np.ndarray):
    """``model`` with its sampling genes set to ``values`` (a new object; the model itself is unchanged)."""
    if not genes:
        return model
    fresh = make_family()
    for name, v in zip(genes, values):
        setattr(fresh, name, float(v))
    return fresh.load_state(model.state())


def child(genes: tuple[str, ...], a: np.ndarray, b: np.ndarray, w: float, sigma: float,
          rng: np.random.Generator) -> np.ndarray:
    """The genes of a child with weight ``w`` of parent ``b``: interpolated, then log-normal noise of
    ``sigma`` per gene (multiplicative, so a temperature moves by the same factor up or down), clipped
    to :data:`BOUNDS`."""
    out = (1.0 - w) * a + w * b
    if sigma > 0 and out.size:
        out = out * np.exp(sigma * rng.standard_normal(out.shape))
    lo = np.array([BOUNDS[g][0] for g in genes])
    hi = np.array([BOUNDS[g][1] for g in genes])
    return np.clip(out, lo, hi)
