"""Sampling bias: temperature, top-k and top-p truncation of categorical rows, and the check of a logit bias."""

from __future__ import annotations

import numpy as np


def check_logit_bias(bias, size: int, what: str) -> np.ndarray:
    """``bias`` as a float64 ``(size,)`` array; ``ValueError`` naming the length and what one value is for
    (``what``, e.g. "one per token, the end symbol last") when it has another shape or a non-finite value."""
    b = np.asarray(bias, dtype=np.float64)
    if b.shape != (size,) or not np.isfinite(b).all():
        raise ValueError(f"logit_bias must be {size} finite floats ({what}), got shape {b.shape}")
    return b


def decode_probs(probs: np.ndarray, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Apply temperature, then top-k, then top-p (nucleus) truncation to each row.

    ``probs`` has shape ``(K,)`` or ``(m, K)``; rows need not be normalised.
    Returns rows that sum to 1 (same shape). ``top_k=0`` and ``top_p=1`` mean
    no truncation. The argmax is always kept, so no row becomes empty.
    """
    p = np.asarray(probs, dtype=np.float64)
    squeeze = p.ndim == 1
    p = np.atleast_2d(p).copy()
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logp = np.log(p) / temperature
        logp -= logp.max(axis=1, keepdims=True)
        p = np.exp(logp)
    k = p.shape[1]
    if 0 < top_k < k:
        kth = -np.partition(-p, top_k - 1, axis=1)[:, top_k - 1 : top_k]
        order = np.argsort(-p, axis=1, kind="stable")
        keep = np.zeros_like(p, dtype=bool)
        np.put_along_axis(keep, order[:, :top_k], True, axis=1)
        p = np.where(keep & (p >= kth), p, 0.0)
    if top_p < 1.0:
        order = np.argsort(-p, axis=1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=1)
        cum = np.cumsum(sorted_p, axis=1) / sorted_p.sum(axis=1, keepdims=True)
        keep_sorted = (cum - sorted_p / sorted_p.sum(axis=1, keepdims=True)) < top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        p = np.where(keep, p, 0.0)
    p /= p.sum(axis=1, keepdims=True)
    return p[0] if squeeze else p
