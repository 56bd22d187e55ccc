"""How well a detector or a filter tells synthetic from real: AUC, TPR at a false-positive rate, precision/recall.

Pure functions of scores and provenance labels. Scores grow with the evidence
that an item is synthetic; ``weights`` (optional, e.g. counts of
:class:`~redqueen.data.Counts` types) make an entry count that many times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _weights(w, n: int) -> np.ndarray:
    return np.ones(n) if w is None else np.asarray(w, dtype=np.float64)


def auc(real: np.ndarray, synthetic: np.ndarray, *, real_weights=None, synthetic_weights=None) -> float:
    """P(score of a synthetic item > score of a real one) + 1/2 P(tie): the area under the ROC curve.

    ``nan`` if either side has no weight. Equals ``sklearn.metrics.roc_auc_score`` (with sample weights).
    """
    real, synthetic = np.asarray(real, np.float64), np.asarray(synthetic, np.float64)
    wr, ws = _weights(real_weights, real.size), _weights(synthetic_weights, synthetic.size)
    if wr.sum() <= 0 or ws.sum() <= 0:
        return float("nan")
    values = np.unique(np.concatenate([real, synthetic]))
    r = np.bincount(np.searchsorted(values, real), weights=wr, minlength=values.size)
    s = np.bincount(np.searchsorted(values, synthetic), weights=ws, minlength=values.size)
    below = np.concatenate([[0.0], np.cumsum(r)[:-1]])  # real weight strictly below each value
    return float((s * (below + 0.5 * r)).sum() / (wr.sum() * ws.sum()))


def tpr_at_fpr(real: np.ndarray, synthetic: np.ndarray, fpr: float = 0.01, *, real_weights=None,
               synthetic_weights=None) -> float:
    """The largest share of synthetic items flagged by a threshold ``score > t`` that flags at most ``fpr`` of real ones.

    Thresholds run over the observed scores (no interpolation between ROC points, no randomised ties):
    the conservative reading. ``nan`` if either side has no weight.
    """
    real, synthetic = np.asarray(real, np.float64), np.asarray(synthetic, np.float64)
    wr, ws = _weights(real_weights, real.size), _weights(synthetic_weights, synthetic.size)
    if wr.sum() <= 0 or ws.sum() <= 0:
        return float("nan")
    cuts = np.concatenate([[-np.inf], np.unique(np.concatenate([real, synthetic]))])
    order_r, order_s = np.argsort(real), np.argsort(synthetic)
    cum_r = np.concatenate([[0.0], np.cumsum(wr[order_r])])
    cum_s = np.concatenate([[0.0], np.cumsum(ws[order_s])])
    above_r = wr.sum() - cum_r[np.searchsorted(real[order_r], cuts, side="right")]
    above_s = ws.sum() - cum_s[np.searchsorted(synthetic[order_s], cuts, side="right")]
    ok = above_r <= fpr * wr.sum() * (1 + 1e-12)
    return float(above_s[ok].max() / ws.sum())


@dataclass(frozen=True)
class FilterQuality:
    """What a filter removed, against provenance: ``precision`` (share of removed that was synthetic), ``recall``
    (share of synthetic removed), ``false_positive_rate`` (share of real removed) and the weights behind them."""

    precision: float
    recall: float
    false_positive_rate: float
    removed: float
    synthetic: float
    real: float


def filter_quality(removed: np.ndarray, synthetic: np.ndarray, weights=None) -> FilterQuality:
    """Realised precision and recall of a filter: ``removed`` and ``synthetic`` are bool per entry (provenance).

    Ratios with nothing behind them (nothing removed, no synthetic or no real entry) are ``nan``.
    """
    removed, synthetic = np.asarray(removed, bool), np.asarray(synthetic, bool)
    w = _weights(weights, removed.size)
    hit = float(w[removed & synthetic].sum())
    n_removed, n_syn, n_real = float(w[removed].sum()), float(w[synthetic].sum()), float(w[~synthetic].sum())

    def ratio(a, b):
        return a / b if b > 0 else float("nan")

    return FilterQuality(ratio(hit, n_removed), ratio(hit, n_syn), ratio(n_removed - hit, n_real), n_removed, n_syn,
                         n_real)


__all__ = ["FilterQuality", "auc", "filter_quality", "tpr_at_fpr"]
