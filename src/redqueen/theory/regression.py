"""Linear regression refitted on its own labels (Gerstgrasser et al. 2024; Dey & Donoho 2024).

Fixed design: ``X`` is generation 0's ``(N, d)`` inputs, ``G = X^T X``; every
synthetic chunk relabels ``X`` with the previous model: ``y_j = X w_{j-1} +
s_j z`` (``w_{-1}`` the truth, ``s_0 = sigma``). With ``delta_j = G^-1 X^T s_j z``
the OLS errors are ``e_t = delta_0 + ... + delta_t`` under replace and
``e_t = sum_j delta_j / (j + 1)`` under accumulate (OLS on ``t + 1`` stacked
copies of ``X``). The ``delta_j`` are uncorrelated with
``E ||delta_j||^2_Sigma = v_j tr(Sigma G^-1)`` (``v_j = E s_j^2``), and for
Gaussian inputs ``E tr(Sigma G^-1) = d / (N - d - 1)``, so
``E test_error_t = d/(N-d-1) * sum_j c_j v_j`` with ``c_j = 1`` (replace)
or ``1/(j+1)^2`` (accumulate). With the fitted noise the ``v_j`` follow from
the expected residual sum of squares (:func:`regression_noise_variances`).
"""

from __future__ import annotations

import math

import numpy as np

from redqueen.loop.regimes import Accumulate, Replace
from redqueen.theory._common import _generations

__all__ = ["regression_error_per_generation", "regression_noise_variances", "regression_test_error_curve",
           "accumulate_regression_bound"]


def regression_error_per_generation(*, d: int, n: int, sigma2: float = 1.0) -> float:
    """One OLS fit's expected excess test error, Gaussian inputs: ``sigma^2 d / (N - d - 1)`` (needs N > d + 1)."""
    if n <= d + 1:
        raise ValueError(f"the expected OLS error is finite only for N > d + 1 (N = {n}, d = {d})")
    return sigma2 * d / (n - d - 1)


def regression_noise_variances(t_max: int, *, d: int, n: int, sigma2: float = 1.0, regime=Replace(),
                               variance: str = "unbiased", noise_std: float | None = None) -> np.ndarray | None:
    """``v_j = E s_j^2``, the label-noise variance of chunk ``j = 0..t_max`` (shape ``(t_max + 1,)``).

    ``v_0 = sigma^2``; ``v_{j+1}`` is the expected fitted noise of generation ``j``, or ``noise_std^2``.
    Replace: ``RSS_j = s_j^2 chi^2_{N-d}``. Accumulate: the stacked fit's ``RSS`` is each chunk's own
    residual (``E = (N - d) v_i``) plus the between-chunk scatter of the per-chunk estimates
    ``b_i = w_{i-1} + delta_i`` in the ``G`` norm (``E = d sum_i v_i sum_j (L_ji - mean_j L_ji)^2``, with
    ``b_j - w = sum_i L_ji delta_i``). Divided by ``N_train - d`` (unbiased) or ``N_train`` (mle).
    ``None`` for other regimes.
    """
    v = np.empty(t_max + 1)
    v[0] = sigma2
    if isinstance(regime, Replace):
        for j in range(t_max):
            dof = n - d if variance == "unbiased" else n
            v[j + 1] = noise_std**2 if noise_std is not None else v[j] * (n - d) / dof
        return v
    if not isinstance(regime, Accumulate):
        return None
    for t in range(t_max):
        chunks = t + 1
        lower = np.tril(np.ones((chunks, chunks)), -1) / (np.arange(chunks) + 1.0)[None, :]
        loadings = lower + np.eye(chunks)  # L[j, i]: b_j - w = sum_i L[j, i] delta_i
        scatter = ((loadings - loadings.mean(axis=0)) ** 2).sum(axis=0)
        rss = (n - d) * v[:chunks].sum() + d * scatter @ v[:chunks]
        dof = chunks * n - d if variance == "unbiased" else chunks * n
        v[t + 1] = noise_std**2 if noise_std is not None else rss / dof
    return v


def regression_test_error_curve(t, *, d: int, n: int, sigma2: float = 1.0, regime=Replace(), variance: str = "unbiased",
                                noise_std: float | None = None, design_trace: float | None = None) -> np.ndarray | None:
    """``E test_error_t`` (excess test error of generation ``t``) under replace or accumulate; ``None`` otherwise.

    ``design_trace`` is ``tr(Sigma G^-1)`` for a given design (the expectation is then conditional on
    it); default its mean over Gaussian designs, ``d / (N - d - 1)``. Replace with ``sigma^2`` kept
    (unbiased noise or ``noise_std = sigma``) grows linearly: ``(t + 1) sigma^2 d / (N - d - 1)``.
    """
    t = _generations(t)
    if design_trace is None and n <= d + 1:  # the mean over Gaussian designs is infinite: no closed form to draw
        return None
    trace = design_trace if design_trace is not None else regression_error_per_generation(d=d, n=n)
    v = regression_noise_variances(int(t.max(initial=0)), d=d, n=n, sigma2=sigma2, regime=regime, variance=variance,
                                   noise_std=noise_std)
    if v is None:
        return None
    j = np.arange(v.shape[0])
    weights = np.ones_like(v) if isinstance(regime, Replace) else 1.0 / (j + 1.0) ** 2
    return trace * np.cumsum(weights * v)[t]


def accumulate_regression_bound(*, d: int, n: int, sigma2: float = 1.0) -> float:
    """Gerstgrasser et al.'s bound for accumulate with the noise kept: ``(pi^2 / 6) sigma^2 d / (N - d - 1)``."""
    return math.pi**2 / 6 * regression_error_per_generation(d=d, n=n, sigma2=sigma2)
