"""Filters that really detect, and attacks that hide: curation steps built on detectors and the watermark.

Each step has the curation protocol (``apply(data, model, world, rng) -> Data``, ``oversample``,
``name``) and is meant for the mixed stage (``stage = "mixed"``), where what it removes is
measured against provenance (:mod:`redqueen.loop.provenance`: ``filter_precision``,
``filter_recall``, ``filter_fpr`` each generation). None of them reads the provenance tags.

* :class:`WatermarkFilter` -- drop sequences whose watermark z-score exceeds ``z`` (Kirchenbauer
  et al. 2023); for categorical items (one fixed green list) an item's only evidence is its
  colour, so every green item is dropped.
* :class:`DetectorFilter` -- a detector (:mod:`redqueen.models.detectors`) trained each generation
  on ``examples`` fresh real items from the world and as many samples of the last model (the
  curator knows both), applied to the mix: items scored above ``threshold`` are dropped.
* :class:`Resample` -- importance resampling by detector probability (Drayson & Lampos 2025): the
  balanced detector's ``p`` and the mix's synthetic share ``s`` (estimated from the detector's own
  examples by adjusted classify-and-count) give the weight real/mix ``(1-p) / ((1-s)(1-p) + s p)``;
  the training set is ``keep x len`` draws with replacement in proportion to it (clipped at
  ``clip`` times its mean), an importance sample of the real distribution when the detector is exact.
* :class:`Verifier` -- Feng et al. (2024)'s selection by a verifier: an item is *good* when the
  world's log-likelihood (per token for text) is at least the ``quantile`` of real items'; the
  verifier judges right with probability ``accuracy`` and the step keeps what it accepts.
* :class:`Substitute` and :class:`Paraphrase` -- attacks on the watermark before publication
  (:mod:`redqueen.watermark.attacks`): random substitution of a ``rate`` of tokens, and resampling
  a ``fraction`` of tokens from another model (a Kneser-Ney bigram fitted on ``examples`` real
  sequences each generation).

:class:`Ideal` is the filter theory assumes (:mod:`redqueen.theory.filters`): it reads the provenance
tags and removes exactly ``round(recall x synthetic)`` synthetic and ``round(fpr x real)`` real items,
uniformly within each class -- a detector of known error rates, to check the theory against.

Keep-high-perplexity (Gambetta et al. 2024) is :class:`redqueen.loop.curation.Filter` with
``prefer="perplexity"`` (config ``kind = "perplexity"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from redqueen.data import REAL, Counts, Data, Points, Sequences

#: the detector a filter trains when ``detector = "auto"``, by data kind
AUTO_DETECTOR = {Counts: "types", Points: "classifier", Sequences: "hashed_ngram"}


def drop(data: Data, remove: np.ndarray, rng: np.random.Generator) -> Data:
    """``data`` without the entries flagged in ``remove`` (bool, aligned with ``data.weights()``: per item,
    per type for :class:`Counts`, where all items of a flagged type go)."""
    if isinstance(data, Counts):
        return data.keep(np.where(remove, 0, data.counts), rng)
    return data.subset(np.flatnonzero(~np.asarray(remove, bool)))


def trained_detector(kind: str, params: dict, data: Data, model, world, examples: int, rng: np.random.Generator):
    """``(detector, real, synthetic)``: a detector of ``kind`` (``"auto"``: by the data kind) fitted on
    ``examples`` fresh real draws and as many samples of ``model``, with those examples."""
    from redqueen.models.detectors import make_detector

    if kind == "auto":
        kind = AUTO_DETECTOR[type(data)]
    real = world.sample(examples, rng)
    synthetic = model.sample(examples, rng)
    return make_detector(kind, **params).fit(real, synthetic, rng), real, synthetic


@dataclass(frozen=True)
class WatermarkFilter:
    z: float = 4.0
    watermark: dict | None = None  # the publishing family's watermark (gamma, delta, key, context)
    ignore_repeated: bool = False
    name: str = "watermark"

    oversample = 1.0

    def apply(self, data: Data, model, world, rng: np.random.Generator) -> Data:
        from redqueen.models.detectors import WatermarkDetector

        det = WatermarkDetector(watermark=self.watermark, ignore_repeated=self.ignore_repeated)
        if isinstance(data, Counts):
            return drop(data, det.score(data) > 0.5, rng)
        if isinstance(data, Sequences):
            return drop(data, det.detection(data).z > self.z, rng)
        raise TypeError(f"the watermark filter reads sequences or counts, not {type(data).__name__}")


@dataclass(frozen=True)
class DetectorFilter:
    threshold: float = 0.5
    detector: str = "auto"
    params: dict = field(default_factory=dict)
    examples: int = 1000
    name: str = "detector"

    oversample = 1.0

    def apply(self, data: Data, model, world, rng: np.random.Generator) -> Data:
        det, _, _ = trained_detector(self.detector, self.params, data, model, world, self.examples, rng)
        return drop(data, det.score(data) > self.threshold, rng)


@dataclass(frozen=True)
class Resample:
    keep: float = 1.0
    clip: float = 20.0
    detector: str = "auto"
    params: dict = field(default_factory=dict)
    examples: int = 1000
    name: str = "resample"

    oversample = 1.0

    def weights(self, p: np.ndarray, share: float, mass: np.ndarray) -> np.ndarray:
        """Importance weights real/mix per entry from a balanced detector's ``p`` and the mix's synthetic ``share``
        ``s``: ``r / ((1 - s) r + s q) = (1 - p) / ((1 - s)(1 - p) + s p)``, clipped at ``clip`` times their
        ``mass``-weighted mean."""
        w = (1 - p) / np.maximum((1 - share) * (1 - p) + share * p, 1e-12)
        mean = np.dot(w, mass) / mass.sum() if mass.sum() else 1.0
        return np.minimum(w, self.clip * mean)

    def apply(self, data: Data, model, world, rng: np.random.Generator) -> Data:
        det, real, synthetic = trained_detector(self.detector, self.params, data, model, world, self.examples, rng)
        p = det.score(data)
        share = estimated_share(p, data.weights(), *(
            np.dot(det.score(d), d.weights()) / d.weights().sum() for d in (real, synthetic)))
        m = int(round(self.keep * len(data)))
        w = self.weights(p, share, data.weights())
        if isinstance(data, Counts):
            return data.resample(w, m, rng)
        return data.subset(np.sort(rng.choice(len(data), m, replace=True, p=w / w.sum())))


def estimated_share(p: np.ndarray, mass: np.ndarray, mean_real: float, mean_synthetic: float) -> float:
    """The synthetic share of a mix from a detector's scores (adjusted classify-and-count, Forman 2008):
    ``(mean p over the mix - mean p over real) / (mean p over synthetic - mean p over real)``, clipped to [0, 1]
    (0 when the detector does not separate its examples)."""
    gap = mean_synthetic - mean_real
    if not gap > 0:
        return 0.0
    return float(np.clip((np.dot(p, mass) / mass.sum() - mean_real) / gap, 0.0, 1.0))


@dataclass(frozen=True)
class Verifier:
    accuracy: float = 0.9
    quantile: float = 0.1
    reference: int = 2000
    name: str = "verifier"

    oversample = 1.0

    def goodness(self, data: Data, world, rng: np.random.Generator) -> np.ndarray:
        """Per entry, whether it is good: world log-likelihood (per token) >= the ``quantile`` of real items'."""
        ref = world.sample(self.reference, rng)
        lp_ref, lp = world.log_prob(ref), world.log_prob(data)
        if lp is None:
            raise ValueError("the verifier needs a world with exact log-probabilities")
        if isinstance(data, Counts):
            cut = np.quantile(np.repeat(lp_ref, ref.counts), self.quantile)
        else:
            if isinstance(data, Sequences):
                lp, lp_ref = lp / np.maximum(data.lengths(), 1), lp_ref / np.maximum(ref.lengths(), 1)
            cut = np.quantile(lp_ref, self.quantile)
        return lp >= cut

    def apply(self, data: Data, model, world, rng: np.random.Generator) -> Data:
        accept = np.where(self.goodness(data, world, rng), self.accuracy, 1 - self.accuracy)
        if isinstance(data, Counts):
            return data.keep(rng.binomial(data.counts, accept), rng)
        return data.subset(np.flatnonzero(rng.random(len(data)) < accept))


@dataclass(frozen=True)
class Substitute:
    rate: float = 0.1
    name: str = "substitute"

    oversample = 1.0

    def apply(self, data: Sequences, model, world, rng: np.random.Generator) -> Sequences:
        from dataclasses import replace

        from redqueen.watermark import substitute

        return replace(data, tokens=substitute(data, self.rate, rng).tokens)


@dataclass(frozen=True)
class Paraphrase:
    fraction: float = 0.2
    examples: int = 1000
    name: str = "paraphrase"

    oversample = 1.0

    def apply(self, data: Sequences, model, world, rng: np.random.Generator) -> Sequences:
        from dataclasses import replace

        from redqueen.models.ngram import NGramFamily
        from redqueen.watermark import paraphrase

        other = NGramFamily(order=2, smoothing="kneser_ney").fit(world.sample(self.examples, rng), rng)
        return replace(data, tokens=paraphrase(data, self.fraction, other, rng).tokens)


def real_and_synthetic(data: Data) -> tuple[Data, Data]:
    """The real and the synthetic part of tracked ``data`` (by provenance)."""
    if isinstance(data, Counts):
        parts = []
        for rows in (data.origins[:, 1] == REAL, data.origins[:, 1] != REAL):
            by = data.by_origin[rows]
            parts.append(Counts(by.sum(axis=0), data.labels, data.origins[rows], by))
        return parts[0], parts[1]
    real = data.origin[:, 1] == REAL
    return data.subset(np.flatnonzero(real)), data.subset(np.flatnonzero(~real))


@dataclass(frozen=True)
class Ideal:
    recall: float = 0.9
    fpr: float = 0.05
    name: str = "ideal"

    oversample = 1.0

    def apply(self, data: Data, model, world, rng: np.random.Generator) -> Data:
        real, synthetic = real_and_synthetic(data)
        kept = []
        for part, rate in ((synthetic, self.recall), (real, self.fpr)):
            k = len(part) - int(round(rate * len(part)))
            if k > 0:
                kept.append(part.take(k, rng))
        if not kept:
            return data.take(0, rng) if isinstance(data, Counts) else data.subset(np.zeros(0, np.int64))
        return kept[0] if len(kept) == 1 else kept[0].concat(kept[1])
