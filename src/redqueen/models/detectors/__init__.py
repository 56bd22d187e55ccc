"""Detectors: tell synthetic items from real ones (``fit(real, synthetic, rng)``, ``score(data)``, ``state()``).

* :class:`HashedNGramDetector` -- logistic regression on hashed token / word / character n-grams (text);
* :class:`LikelihoodRatioDetector` -- per-token log-likelihood under a model of the real data against one of the
  synthetic data, calibrated (``candidate=None``: the perplexity detector);
* :class:`ClassifierDetector` -- any scikit-learn classifier named ``"module:Class"`` on points (default an MLP);
* :class:`WatermarkDetector` -- the watermark's z-test through the same protocol;
* :class:`TypeDetector` -- categorical items: P(synthetic | type) from smoothed type frequencies;
* :func:`check_detector` -- the contract every detector (and plug-in) passes; :func:`make_detector` -- the factory.
"""

from redqueen.models.detectors.base import Detector, pack_meta, unpack_meta
from redqueen.models.detectors.check import check_detector
from redqueen.models.detectors.classifier import ClassifierDetector, resolve_classifier
from redqueen.models.detectors.likelihood import LikelihoodRatioDetector, perplexity_detector
from redqueen.models.detectors.text import HashedNGramDetector
from redqueen.models.detectors.types import TypeDetector
from redqueen.models.detectors.watermark import WatermarkDetector

KINDS = ("hashed_ngram", "likelihood_ratio", "perplexity", "classifier", "watermark", "types")


def make_detector(kind: str, **params):
    """The one factory from a kind name and keyword parameters to an unfitted detector; ``ValueError`` if unknown.

    ``kind="classifier"`` takes ``estimator="package.module:Class"`` (any scikit-learn style classifier:
    the plug-in route) and its ``params``; the class is resolved here, so a bad name fails before a run.
    """
    if kind == "hashed_ngram":
        return HashedNGramDetector(**params)
    if kind == "likelihood_ratio":
        return LikelihoodRatioDetector(**params)
    if kind == "perplexity":
        return perplexity_detector(**params)
    if kind == "classifier":
        det = ClassifierDetector(**params)
        resolve_classifier(det.estimator)
        return det
    if kind == "watermark":
        return WatermarkDetector(**params)
    if kind == "types":
        return TypeDetector(**params)
    raise ValueError(f"unknown detector {kind!r}; choose one of {', '.join(KINDS)}")


__all__ = ["ClassifierDetector", "Detector", "HashedNGramDetector", "KINDS", "LikelihoodRatioDetector",
           "TypeDetector", "WatermarkDetector", "check_detector", "make_detector", "pack_meta", "perplexity_detector",
           "resolve_classifier", "unpack_meta"]
