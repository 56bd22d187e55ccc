"""Curation: what happens to synthetic data before it is trained on.

* :class:`Noise` -- mutation. Categorical items and text tokens change to a
  uniformly random type with probability ``rate``; points get Gaussian
  jitter of standard deviation ``scale``.
* :class:`Filter` -- selection. Keep the top ``keep`` fraction of the samples
  by a score: the model's own log-likelihood (``score="model"``, the usual
  quality filter, which narrows diversity) or the world's (``"world"``, an
  oracle curator). The model is asked for ``1/keep`` times more samples.

* :class:`Filter` with ``prefer="perplexity"`` -- keep the *least* likely: Gambetta et al.
  (2024)'s keep-high-perplexity.

Each step is ``apply(data, model, world, rng) -> Data`` with the same number
of items out as requested in (after oversampling). The steps that detect
(watermark, detector, importance resampling, verifier) and the attacks on a
watermark live in :mod:`redqueen.loop.filters`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from redqueen.data import Counts, Data, Points, Sequences


@dataclass(frozen=True)
class Noise:
    rate: float = 0.01
    scale: float = 0.1
    name: str = "noise"

    oversample = 1.0

    def apply(self, data: Data, model, world, rng: np.random.Generator) -> Data:
        if isinstance(data, Counts):
            moved = rng.binomial(data.counts, self.rate)
            arrive = rng.multinomial(int(moved.sum()), np.full(data.k, 1.0 / data.k))
            if not data.tracked:
                return data.with_counts(data.counts - moved + arrive)
            # tracked: a uniform split of the movers among the origins of their types, then of the
            # arrivals among the movers' origins (each origin's movers take a uniform share of the arrivals)
            stay = data.keep(data.counts - moved, rng)
            movers = (data.by_origin - stay.by_origin).sum(axis=1)
            pool, into = arrive.copy(), np.zeros_like(data.by_origin)
            for s, m in enumerate(movers):
                if m:
                    into[s] = rng.multivariate_hypergeometric(pool, int(m), method="marginals")
                    pool -= into[s]
            return Counts(stay.counts + arrive, data.labels, data.origins, stay.by_origin + into)
        if isinstance(data, Points):
            return replace(data, x=data.x + self.scale * rng.standard_normal(data.x.shape))
        if isinstance(data, Sequences):
            hit = rng.random(data.tokens.shape[0]) < self.rate
            tokens = data.tokens.copy()
            tokens[hit] = rng.integers(0, len(data.vocab), int(hit.sum()))
            return replace(data, tokens=tokens)
        raise TypeError(f"noise cannot curate {type(data).__name__}")


@dataclass(frozen=True)
class Filter:
    keep: float = 0.5
    score: str = "model"
    prefer: str = "likelihood"  # keep the most likely items, or the least likely ("perplexity": Gambetta et al. 2024)
    name: str = "filter"

    @property
    def oversample(self) -> float:
        return 1.0 / self.keep

    def apply(self, data: Data, model, world, rng: np.random.Generator) -> Data:
        scorer = model if self.score == "model" else world
        lp = scorer.log_prob(data)
        if lp is None:
            raise ValueError("filter score='world' needs a world with exact log-probabilities; use score='model'")
        if self.prefer == "perplexity":
            lp = -np.asarray(lp, dtype=np.float64)
        m = int(np.ceil(len(data) * self.keep - 1e-9))
        if isinstance(data, Counts):
            # every item of a type has the type's score: keep whole types above the cut-off score,
            # and share what is left of the quota among the tied types at the cut-off at random
            order = np.argsort(-lp, kind="stable")
            c = data.counts[order]
            cut = lp[order][np.searchsorted(np.cumsum(c), m, side="left").clip(max=len(c) - 1)]
            above = data.counts * (lp > cut)
            tied = (lp == cut) & (data.counts > 0)
            out = above.copy()
            left = m - int(above.sum())
            if left > 0 and tied.any():
                out[tied] = rng.multivariate_hypergeometric(data.counts[tied], min(left, int(data.counts[tied].sum())))
            return data.keep(out, rng)
        if isinstance(data, Sequences):
            lp = lp / np.maximum(data.lengths(), 1)  # per token, so length does not decide
        # ties broken at random so that a flat score keeps a random subset
        order = np.lexsort((rng.random(len(lp)), -lp))[:m]
        idx = np.sort(order)
        return data.subset(idx)


Curation = Noise | Filter  # and the detecting filters and attacks of redqueen.loop.filters


def make_curation(kind: str, **kwargs):
    """The one factory from config strings to curation steps (those of :mod:`redqueen.loop.filters` too)."""
    from redqueen.loop import filters as F

    kinds = {"noise": Noise, "filter": Filter, "watermark": F.WatermarkFilter, "detector": F.DetectorFilter,
             "resample": F.Resample, "verifier": F.Verifier, "ideal": F.Ideal, "substitute": F.Substitute, "paraphrase": F.Paraphrase}
    if kind == "perplexity":
        return Filter(score="model", prefer="perplexity", name="perplexity", **kwargs)
    if kind not in kinds:
        raise ValueError(f"unknown curation {kind!r}; choose {', '.join(sorted([*kinds, 'perplexity']))}")
    return kinds[kind](**kwargs)
