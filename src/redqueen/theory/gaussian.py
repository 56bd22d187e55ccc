"""Gaussian family: variance collapse under refitting and the error of the mean (replace, accumulate, fresh)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma

from redqueen.loop.regimes import Accumulate, Fresh, Replace
from redqueen.theory._common import _generations, _iterate




def gaussian_variance(t, *, n: int, ddof: int = 0, var0: float = 1.0) -> np.ndarray:
    """E[sigma^2_t] under replace: ``var0 ((N-1)/(N-ddof))^t`` (per dimension, or the trace).

    ``E[S | Sigma] = (N-1)/(N-ddof) Sigma`` for the moment estimate ``S``;
    ``var0`` is generation 0's (fitted to the world: ``(N-1)/(N-ddof) sigma^2``).
    """
    return var0 * ((n - 1) / (n - ddof)) ** _generations(t)


def gaussian_log_variance_drift(*, n: int, ddof: int = 1) -> float:
    """Per-generation change of E[log sigma^2]: ``psi((N-1)/2) + log(2/(N-ddof))`` (< 0 even for ddof=1).

    ``sigma^2_t = sigma^2_{t-1} chi^2_{N-1} / (N-ddof)`` and ``E log chi^2_k = psi(k/2) + log 2``.
    Holds for every diagonal entry of a d-dim covariance (its marginal is the same).
    """
    return float(digamma((n - 1) / 2) + math.log(2 / (n - ddof)))


def gaussian_log_variance(t, *, n: int, ddof: int = 1, log_var0: float = 0.0) -> np.ndarray:
    """E[log sigma^2_t] under replace: ``log_var0 + t * drift`` (:func:`gaussian_log_variance_drift`).

    For a Gaussian world, generation 0 has ``E = log sigma^2 + drift``.
    """
    return log_var0 + _generations(t) * gaussian_log_variance_drift(n=n, ddof=ddof)


def replace_mean_error(t, *, n: int, trace: float, ddof: int = 0) -> np.ndarray:
    """E||mu_t - mu||^2 under replace: ``(tr Sigma / N) sum_{j=0}^{t} c^j``, ``c = (N-1)/(N-ddof)``.

    ``mu_t = mu_{t-1} + eps`` with ``E||eps||^2 = E tr Sigma_{t-1} / N = c^t tr Sigma / N``;
    grows linearly (exactly so for ddof=1) and tends to ``tr Sigma`` for ddof=0.
    """
    t = _generations(t)
    c = (n - 1) / (n - ddof)
    geo = (t + 1.0) if c == 1 else (1 - c ** (t + 1.0)) / (1 - c)
    return trace / n * geo


def accumulate_mean_error_bound(t, *, n: int, trace: float) -> np.ndarray:
    """Gerstgrasser et al.'s bound ``(tr Sigma / N) sum_{j=1}^{t+1} 1/j^2 -> (pi^2/6) tr Sigma / N``.

    ``mu_t = mu_{t-1} + eps_t / (t+1)`` with ``E||eps_t||^2 = E tr Sigma_{t-1} / N <= tr Sigma / N``
    (the pooled variance stays below the world's); exact values from :func:`gaussian_moments`.
    """
    t = _generations(t)
    j = np.arange(1, int(t.max(initial=0)) + 2, dtype=float)
    return trace / n * np.cumsum(1 / j**2)[t]


@dataclass(frozen=True)
class GaussianMoments:
    """``fitted_trace`` E tr cov_t and ``mean_sq_error`` E||mean_t - mu||^2, each shaped like ``t``."""

    fitted_trace: np.ndarray
    mean_sq_error: np.ndarray


def _scatter(size: int, trace: float) -> float:
    """E of the trace of the within-group scatter of ``size`` draws with covariance trace ``trace``."""
    return max(size - 1, 0) * trace


def gaussian_moments(t, *, trace: float, d: int, n: int, regime=Replace(), ddof: int = 0, min_var: float = 0.0,
                     noise_scale: float = 0.0) -> GaussianMoments | None:
    """E tr cov_t and E||mean_t - mu||^2 for GaussianFamily(ddof, min_var) under a regime, with jitter noise.

    Needs only the world's mean and ``trace = tr Sigma`` (any world: moments).
    The model samples with covariance trace ``T~ = T + d scale^2`` after noise.
    Pooling groups adds the between-group scatter ``n1 n2 / (n1 + n2) ||m1 - m2||^2``.
    replace: ``Q' = Q + T~/N``. fresh (world, ``m`` real): ``Q' = nu^2 Q + nu T~/N + l tr/N``.
    accumulate: ``Q_t = Q + T~/(N (t+1)^2)``, scatter ``W_t = W + (N - 1 + t/(t+1)) T~``.
    Returns ``None`` for subsample and fresh from the bank (not derived).
    """
    t = _generations(t)
    jitter = d * noise_scale**2
    extra = d * min_var
    w0 = _scatter(n, trace)
    s0 = np.array([w0 / (n - ddof) + extra, trace / n, w0])
    if isinstance(regime, Replace) or (isinstance(regime, Fresh) and regime.source == "world"):
        m = regime.real_size(n) if isinstance(regime, Fresh) else 0
        ns = n - m

        def step(_, s):
            big_t, q, _w = s
            ts = big_t + jitter
            q_new = (ns / n) ** 2 * q + ns / n * ts / n + m / n * trace / n
            between = ns * m / n * (q + ts / ns + trace / m) if ns and m else 0.0
            w = _scatter(ns, ts) + _scatter(m, trace) + between
            return np.array([w / (n - ddof) + extra, q_new, w])
    elif isinstance(regime, Accumulate):
        def step(j, s):
            big_t, q, w = s
            ts = big_t + jitter
            w = w + (n - 1 + (j / (j + 1))) * ts
            return np.array([w / ((j + 1) * n - ddof) + extra, q + ts / (n * (j + 1) ** 2), w])
    else:
        return None
    out = _iterate(step, s0, t)
    return GaussianMoments(fitted_trace=out[..., 0], mean_sq_error=out[..., 1])


