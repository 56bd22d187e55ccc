"""Shared helpers of the closed forms: generation arrays, iterated and fixed-point maps."""

from __future__ import annotations

from typing import Callable

import numpy as np


def _generations(t) -> np.ndarray:
    """``t`` as a non-negative int64 array (same shape); raises ``ValueError`` otherwise."""
    arr = np.asarray(t)
    if arr.size and (np.any(arr < 0) or np.any(arr != np.round(arr))):
        raise ValueError("generations t must be non-negative integers")
    return arr.astype(np.int64)


def _iterate(step: Callable[[int, np.ndarray], np.ndarray], s0, t: np.ndarray) -> np.ndarray:
    """States s_0..s_max(t) of ``s_j = step(j, s_{j-1})``, gathered at ``t``: shape ``t.shape + s0.shape``."""
    s = np.asarray(s0, dtype=np.float64)
    states = [s]
    for j in range(1, int(t.max(initial=0)) + 1):
        s = np.asarray(step(j, s), dtype=np.float64)
        states.append(s)
    return np.stack(states)[t]


def _fixed_point(step: Callable[[np.ndarray], np.ndarray], dim: int) -> np.ndarray:
    """Fixed point of the affine map ``step`` on R^dim (read off as A s + b, then solve (I - A) s = b)."""
    b = step(np.zeros(dim))
    a = np.stack([step(e) - b for e in np.eye(dim)], axis=1)
    return np.linalg.solve(np.eye(dim) - a, b)

