"""Detectors: tell synthetic items from real ones (``fit(real, synthetic, rng)``, ``score(data)``, ``state()``).

* :class:`HashedNGramDetector` -- logistic regression on hashed token / word / character n-grams (text);
* :class:`LikelihoodRatioDetector` -- per-token log-likelihood under a model of the real data against one of the
  synthetic data, calibrated (``candidate=None``: the perplexity detector);
* :class:`ClassifierDetector` -- any scikit-learn classifier named ``"module:Class"`` on points (default an MLP);
* :class:`WatermarkDetector` -- the watermark's z-test through the same protocol;
* :class:`TypeDetector` -- categorical items: P(synthetic | type) from smoothed type frequencies;
* :func:`check_detector` -- the contract every detector (and plug-in) passes; :func:`make_detector` -- the factory.
"""

import inspect

from redqueen.models.detectors.base import Detector, pack_meta, unpack_meta
from redqueen.models.detectors.check import check_detector
from redqueen.models.detectors.classifier import ClassifierDetector, resolve_classifier
from redqueen.models.detectors.likelihood import LikelihoodRatioDetector, perplexity_detector
from redqueen.models.detectors.text import HashedNGramDetector
from redqueen.models.detectors.types import TypeDetector
from redqueen.models.detectors.watermark import WatermarkDetector

KINDS = ("hashed_ngram", "likelihood_ratio", "perplexity", "classifier", "watermark", "types")


#: detector kind -> what builds it
MAKERS = {"hashed_ngram": HashedNGramDetector, "likelihood_ratio": LikelihoodRatioDetector,
          "perplexity": perplexity_detector, "classifier": ClassifierDetector, "watermark": WatermarkDetector,
          "types": TypeDetector}


def _keys(kind: str) -> dict:
    """The keyword parameters of detector ``kind``: name -> its default (``inspect.Parameter.empty``: required)."""
    cls = LikelihoodRatioDetector if kind == "perplexity" else MAKERS[kind]  # perplexity: candidate=None fixed
    return {n: p.default for n, p in inspect.signature(cls).parameters.items()
            if p.kind is p.KEYWORD_ONLY and not (kind == "perplexity" and n == "candidate")}


def make_detector(kind: str, **params):
    """The one factory from a kind name and keyword parameters to an unfitted detector; ``ValueError`` if
    unknown, or a parameter is unknown or missing (naming the detector's parameters).

    ``kind="classifier"`` takes ``estimator="package.module:Class"`` (any scikit-learn style classifier:
    the plug-in route) and its ``params``; the class is resolved here, so a bad name fails before a run.
    """
    if kind not in MAKERS:
        raise ValueError(f"unknown detector {kind!r}; choose one of {', '.join(KINDS)}")
    keys = _keys(kind)
    unknown = [k for k in params if k not in keys]
    missing = [k for k, default in keys.items() if default is inspect.Parameter.empty and k not in params]
    if unknown or missing:
        what = f"has no key {unknown[0]!r}" if unknown else f"needs the key {missing[0]!r}"
        raise ValueError(f"detector '{kind}' {what}; its keys are {', '.join(keys)}")
    det = MAKERS[kind](**params)
    if kind == "classifier":
        resolve_classifier(det.estimator)
    return det


__all__ = ["ClassifierDetector", "Detector", "HashedNGramDetector", "KINDS", "LikelihoodRatioDetector",
           "TypeDetector", "WatermarkDetector", "check_detector", "make_detector", "pack_meta", "perplexity_detector",
           "resolve_classifier", "unpack_meta"]
