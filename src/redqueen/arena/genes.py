"""Sampling parameters as evolvable genes, per generator: temperature, top-p, a mixture's weight temperature, a
text generator's logit bias and a point generator's shift.

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

``logit_bias`` is a vector gene: one value per outcome of the fitted model (for text, each token and the end
symbol; for a Hugging Face model each of its token ids), added to the log-probabilities before the temperature
(the n-gram, transformer and Hugging Face families' ``logit_bias``), the lever a generator has to evade one detector's particular features rather than to move closer to real text.
Scalar genes mutate multiplicatively (log-normal, ``sigma``), the bias additively (``sigma`` nats per
outcome, the same factor ``e^{sigma z}`` on an outcome's odds as on a temperature); a generator's record
carries a scalar gene's value and the bias's root mean square.

``shift`` is the point families' vector gene (Gaussian, Gaussian mixtures, VAE; kernel density has it too, but no genome): one value
per dimension, in the data's units, added to every sample, the density translated with it (the fit scores
``x - shift``; :func:`redqueen.models.base.translate`), so a shifted generator's fidelity is the
likelihood of real points under what it emits. It is to points what the bias is to text: a direction the
generator can move in to leave one detector's decision region, at a price in fidelity, without
becoming more like the real data. Mutated like the bias (``sigma`` in data units per dimension), clipped to
``[-4, 4]`` (digits in [0, 1] or 0..16: the fidelity floor binds long before).
"""

from __future__ import annotations

import numpy as np

GENES = ("temperature", "top_p", "weight_temperature", "logit_bias", "shift")
BOUNDS = {"temperature": (0.25, 4.0), "top_p": (0.2, 1.0), "weight_temperature": (0.25, 4.0),
          "logit_bias": (-4.0, 4.0), "shift": (-4.0, 4.0)}
#: genes with one value per outcome (logit_bias) or per dimension (shift) of the fitted model, mutated
#: additively; at most one per arena
VECTOR = ("logit_bias", "shift")


def width(gene: str, model) -> int:
    """A vector gene's length for a fitted ``model``: its tokens and the end symbol (a Hugging Face model: its
    token ids, ``logit_bias_size``), or its points' dimension."""
    if gene != "logit_bias":
        return model.dim()
    size = getattr(model, "logit_bias_size", None)
    return size() if callable(size) else len(model.vocab_) + 1


def _widths(genes: tuple[str, ...], size: int) -> list[int]:
    """Each gene's share of a row of ``size`` values: 1 for a scalar gene, the rest for the vector gene."""
    scalars = sum(g not in VECTOR for g in genes)
    return [1 if g not in VECTOR else size - scalars for g in genes]


def split(genes: tuple[str, ...], values: np.ndarray) -> dict:
    """``{gene: value}`` of one row: a float for a scalar gene, an array for a vector gene."""
    out, at = {}, 0
    for g, w in zip(genes, _widths(genes, values.size)):
        out[g] = values[at:at + w].copy() if g in VECTOR else float(values[at])
        at += w
    return out


def initial(make_family, genes: tuple[str, ...], members: int, model=None) -> np.ndarray:
    """``(members, width)``: the family's configured values for every member; a vector gene needs the fitted
    ``model`` for its :func:`width` and starts at the configured vector, or 0."""
    template = make_family()
    row = []
    for g in genes:
        v = getattr(template, g)
        if g in VECTOR:
            row.append(np.zeros(width(g, model)) if v is None else np.asarray(v, dtype=np.float64))
        else:
            row.append(np.array([float(v)]))
    return np.tile(np.concatenate(row) if row else np.zeros(0), (members, 1))


def apply(make_family, model, genes: tuple[str, ...], values: np.ndarray):
    """``model`` with its sampling genes set to ``values`` (a new object; the model itself is unchanged)."""
    if not genes:
        return model
    fresh = make_family()
    for name, v in split(genes, np.asarray(values, dtype=np.float64)).items():
        setattr(fresh, name, v)
    return fresh.load_state(model.state())


def summary(genes: tuple[str, ...], values: np.ndarray) -> dict[str, float]:
    """What a generator's record carries: each scalar gene's value, each vector gene's root mean square."""
    return {g: (float(np.sqrt(np.mean(v ** 2))) if g in VECTOR else v) for g, v in split(genes, values).items()}


def check(make_family, genes: tuple[str, ...], values: np.ndarray, members: int, model) -> np.ndarray:
    """``values`` (every member's genes, as stored) if a run can hold them: the shape :func:`initial` gives
    and each value within its gene's :data:`BOUNDS` or at the configured value it started from (a member
    never mutated keeps it); ``ValueError`` otherwise."""
    start = initial(make_family, genes, members, model)
    if values.shape != start.shape or not np.isfinite(values).all():
        raise ValueError(f"genes of shape {values.shape}, not {start.shape} finite values")
    widths = _widths(genes, start.shape[1])
    lo = np.minimum(np.repeat([BOUNDS[g][0] for g in genes], widths), start)
    hi = np.maximum(np.repeat([BOUNDS[g][1] for g in genes], widths), start)
    if ((values < lo) | (values > hi)).any():
        raise ValueError(f"genes outside their bounds ({', '.join(f'{g} {BOUNDS[g]}' for g in genes)})")
    return values


def child(genes: tuple[str, ...], a: np.ndarray, b: np.ndarray, w: float, sigma: float,
          rng: np.random.Generator) -> np.ndarray:
    """The genes of a child with weight ``w`` of parent ``b``: interpolated, then noise of ``sigma``: log-normal
    for a scalar gene (multiplicative, so a temperature moves by the same factor up or down), Gaussian for a
    vector gene (additive: nats for the bias, data units for the shift); clipped to :data:`BOUNDS`."""
    out = (1.0 - w) * a + w * b
    widths = _widths(genes, out.size)
    vector = np.repeat([g in VECTOR for g in genes], widths).astype(bool)
    if sigma > 0 and out.size:
        z = sigma * rng.standard_normal(out.shape)
        out = np.where(vector, out + z, out * np.exp(z))
    lo = np.repeat([BOUNDS[g][0] for g in genes], widths)
    hi = np.repeat([BOUNDS[g][1] for g in genes], widths)
    return np.clip(out, lo, hi)
