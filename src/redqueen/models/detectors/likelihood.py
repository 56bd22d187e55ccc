"""A likelihood-ratio detector: is an item more likely under a model of the synthetic data or of the real data?

Two model families are fitted, a *reference* on real items and a *candidate*
on synthetic ones (default: Kneser-Ney bigrams for text); each item gets the
features ``[log p_ref(x) / m, log p_cand(x) / m]`` (``m`` = its tokens, 1 for
points), and a two-feature logistic regression turns them into P(synthetic).
The log-likelihood ratio ``log p_cand - log p_ref`` is the special case of
weights (-1, 1), the Neyman-Pearson test when both models are right; with
``candidate=None`` the only feature is the reference's per-token
log-likelihood -- the perplexity detector (synthetic text is typically more
likely under a model of real text than real text is; Gambetta et al.'s
keep-high-perplexity filter reads it the other way). To keep the calibration
honest the models are fitted on a share of each set (``1 - holdout``) and the
regression on the rest, split with the caller's generator.

DetectGPT (Mitchell et al. 2023) compares an item's log-likelihood with that of
perturbed copies under one model; its perturbation model (T5 span filling) has
no counterpart here, so it is not implemented.

Log-likelihoods of ``-inf`` (a truncated or unsmoothed model) are floored at
``floor`` nats per token. Fitted state: the two models' states (keys prefixed
``reference.`` / ``candidate.``), ``coef`` and ``intercept``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from redqueen.data import Data, Points, Sequences
from redqueen.models.detectors.base import check_kind, fit_logistic, logistic
from redqueen.runtime import restored


def _kn_bigram():
    from redqueen.models.ngram import NGramFamily

    return NGramFamily(order=2, smoothing="kneser_ney")


class LikelihoodRatioDetector:
    """Reference model on real data, candidate on synthetic, calibrated by logistic regression (see the module).

    ``reference`` and ``candidate`` are zero-argument factories of unfitted
    families (default: Kneser-Ney bigrams; ``candidate="same"``, the default,
    reuses the reference's factory; ``candidate=None``: perplexity only); ``holdout`` in (0, 1) is
    the share of each set kept for the calibration; ``C`` its inverse L2
    strength; ``floor`` the per-token log-likelihood given to impossible items.
    """

    def __init__(self, *, reference: Callable[[], object] = _kn_bigram, candidate: Callable[[], object] | None = "same",
                 holdout: float = 0.5, C: float = 1.0, floor: float = -50.0):
        self.reference = reference
        self.candidate = reference if candidate == "same" else candidate
        self.holdout = holdout
        self.C = C
        self.floor = floor

    def _models(self) -> list[tuple[str, Callable]]:
        return [("reference", self.reference)] + ([("candidate", self.candidate)] if self.candidate else [])

    def features(self, data: Data) -> np.ndarray:
        """Per item ``[log p_ref / m(, log p_cand / m)]``; (n, 1 or 2)."""
        check_kind(data, (Sequences, Points), "LikelihoodRatioDetector")
        m = np.maximum(data.lengths(), 1) if isinstance(data, Sequences) else np.ones(len(data))
        cols = []
        for name, _ in self._models():
            lp = np.asarray(getattr(self, f"{name}_").log_prob(data), dtype=np.float64) / m
            cols.append(np.where(np.isfinite(lp), lp, self.floor) if isinstance(data, Sequences) else
                        np.nan_to_num(lp, neginf=-1e300))
        return np.stack(cols, axis=1)

    def fit(self, real: Data, synthetic: Data, rng: np.random.Generator) -> "LikelihoodRatioDetector":
        """Raises ``ValueError`` if ``holdout`` leaves either side of a split empty."""
        if not 0 < self.holdout < 1:
            raise ValueError(f"holdout must be in (0, 1), got {self.holdout}")
        parts = {}
        for label, data in (("real", real), ("synthetic", synthetic)):
            k = int(round(len(data) * self.holdout))
            if k < 1 or k >= len(data):
                raise ValueError(f"{label}: {len(data)} items cannot be split {1 - self.holdout:.2f}/{self.holdout:.2f}")
            order = rng.permutation(len(data))
            parts[label] = (_subset(data, np.sort(order[k:])), _subset(data, np.sort(order[:k])))
        self.reference_ = self.reference().fit(parts["real"][0], rng)
        if self.candidate:
            self.candidate_ = self.candidate().fit(parts["synthetic"][0], rng)
        self.coef_, self.intercept_ = fit_logistic(self.features(parts["real"][1]),
                                                   self.features(parts["synthetic"][1]), rng, C=self.C)
        return self

    def score(self, data: Data) -> np.ndarray:
        """P(synthetic) per item; (len(data),) float64."""
        return logistic(self.features(data) @ self.coef_ + self.intercept_[0])

    def state(self) -> dict[str, np.ndarray]:
        out = {"coef": self.coef_, "intercept": self.intercept_}
        for name, _ in self._models():
            out.update({f"{name}.{k}": v for k, v in getattr(self, f"{name}_").state().items()})
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> "LikelihoodRatioDetector":
        """Rebuild both models from their states (through this detector's factories) and the calibration."""
        for name, make in self._models():
            prefix = f"{name}."
            setattr(self, f"{name}_", make().load_state({k[len(prefix):]: v for k, v in state.items()
                                                          if k.startswith(prefix)}))
        self.coef_ = restored.array(state, "coef", shape=(len(self._models()),)).astype(np.float64)
        self.intercept_ = restored.array(state, "intercept", shape=(1,)).astype(np.float64)
        return self


def _subset(data: Data, idx: np.ndarray) -> Data:
    return data.subset(idx) if isinstance(data, Sequences) else Points(data.x[idx])


def perplexity_detector(**kwargs) -> LikelihoodRatioDetector:
    """The one-model variant: P(synthetic) from the per-token log-likelihood under a reference fitted on real data."""
    return LikelihoodRatioDetector(candidate=None, **kwargs)

