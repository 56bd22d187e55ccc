"""Closed-form predictions the simulations must meet (msprime-style verification).

Every prediction is an *expectation over replicates* as a function of the
generation ``t`` (an int or an int array; generation 0 is the model fitted on
real data) and is exact unless its docstring says otherwise. Notation: ``N``
training items per generation, ``K`` types, ``p_t`` the fitted categorical
distribution, ``G = sum p^2`` its homozygosity and ``H = 1 - G`` its
heterozygosity; ``pi`` the world's type distribution, ``G_pi = sum pi^2``.
For the Gaussian family ``T_t = E tr cov_t`` and ``Q_t = E ||mean_t - mu||^2``.

The one fact used throughout: ``N`` draws from ``q`` with frequencies ``x``
have ``E sum x^2 = (1 - 1/N) sum q^2 + 1/N``, and ``E <x, r> = <q, r>``.

:func:`predict` maps an arm (family, regime, curation, world) and a metric
name from :mod:`redqueen.metrics.suite` to its predicted curve, or ``None``
where no theory applies; :func:`compare` checks simulated replicates
against a prediction for ``redqueen theory``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.special import digamma
from scipy.stats import t as student_t

from redqueen.loop.curation import Filter, Noise
from redqueen.loop.regimes import Accumulate, Fresh, Replace, Subsample
from redqueen.models.categorical import CategoricalFamily
from redqueen.models.gaussian import GaussianFamily

PREDICTED_METRICS = (
    "heterozygosity", "inbreeding", "fitted_var_ratio", "fitted_mean_sq_error", "var_ratio", "mean_sq_error",
)


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


# ---------------------------------------------------------------- categorical: drift, mutation, migration


def smoothing_rate(alpha: float, *, k: int, n: int) -> float:
    """Mutation rate of additive smoothing: ``p' = (1-u) x + u/K`` with ``u = K alpha / (N + K alpha)``.

    From ``(c + alpha)/(N + K alpha) = N/(N + K alpha) * c/N + alpha/(N + K alpha)``.
    """
    return k * alpha / (n + k * alpha)


def initial_heterozygosity(world_probs: np.ndarray, *, n: int, alpha: float = 0.0) -> float:
    """E[H_0] of the model fitted to ``n`` real draws: ``H_world (1 - 1/N)`` when ``alpha = 0``.

    ``G_0 = (1-u)^2 [(1 - 1/N) G_pi + 1/N] + u(2-u)/K`` (the drift fact, then smoothing).
    """
    pi = np.asarray(world_probs, float) / np.sum(world_probs)
    k = pi.shape[0]
    u = smoothing_rate(alpha, k=k, n=n)
    g = (1 - u) ** 2 * ((1 - 1 / n) * float(pi @ pi) + 1 / n) + u * (2 - u) / k
    return 1.0 - g


def wright_fisher_heterozygosity(t, *, n: int, h0: float) -> np.ndarray:
    """Pure drift (replace, ``alpha = 0``): ``E[H_t | H_0] = H_0 (1 - 1/N)^t``.

    The drift fact with ``q = p_{t-1}`` gives ``E[G_t] = (1-1/N) G_{t-1} + 1/N``,
    i.e. ``H_t = (1-1/N) H_{t-1}``. Shape of ``t``.
    """
    return h0 * (1.0 - 1.0 / n) ** _generations(t)


def _affine_trajectory(t, a: float, b: float, h0: float) -> np.ndarray:
    """``G_t = a G_{t-1} + b`` from ``G_0 = 1 - h0``, as heterozygosity: ``H* + a^t (h0 - H*)``."""
    g_star = b / (1 - a)
    return 1 - g_star - a ** _generations(t) * (1 - g_star - h0)


def _mutation_drift_map(n: int, k: int, u: float) -> tuple[float, float]:
    """``E[G'] = (1-u)^2 [(1-1/N) G + 1/N] + u(2-u)/K = a G + b``: drift first, then mutation."""
    return (1 - u) ** 2 * (1 - 1 / n), (1 - u) ** 2 / n + u * (2 - u) / k


def mutation_drift_heterozygosity(t, *, n: int, k: int, u: float, h0: float) -> np.ndarray:
    """Smoothing under replace: ``E[G_t] = a E[G_{t-1}] + b`` (see :func:`_mutation_drift_map`).

    ``p' = (1-u) x + u/K`` so ``G' = (1-u)^2 sum x^2 + u(2-u)/K``; take E with the
    drift fact. ``u`` from :func:`smoothing_rate`. Returns ``E[H_t | H_0 = h0]``.
    """
    return _affine_trajectory(t, *_mutation_drift_map(n, k, u), h0)


def mutation_drift_equilibrium(*, n: int, k: int, u: float) -> float:
    """``H* = 1 - b/(1-a)`` of :func:`mutation_drift_heterozygosity` (about ``(1-1/K) 2uN/(1 + 2uN)`` for small u)."""
    a, b = _mutation_drift_map(n, k, u)
    return 1 - b / (1 - a)


def _noise_drift_map(n: int, k: int, rate: float) -> tuple[float, float]:
    """``E[G'] = (1-1/N) [(1-r)^2 G + r(2-r)/K] + 1/N``: mutation first, then drift."""
    return (1 - 1 / n) * (1 - rate) ** 2, (1 - 1 / n) * rate * (2 - rate) / k + 1 / n


def noise_drift_heterozygosity(t, *, n: int, k: int, rate: float, h0: float) -> np.ndarray:
    """Noise curation (``Noise(rate)``) under replace, ``alpha = 0``.

    Moving each sampled item to a uniform type with probability ``r`` makes the
    ``N`` training items i.i.d. draws from ``(1-r) p + r/K`` (thinning a
    multinomial and re-spreading the thinned items uniformly), so mutation acts
    *before* the sampling: the order of steps is reversed from smoothing.
    """
    return _affine_trajectory(t, *_noise_drift_map(n, k, rate), h0)


def noise_drift_equilibrium(*, n: int, k: int, rate: float) -> float:
    """``H*`` of :func:`noise_drift_heterozygosity`."""
    a, b = _noise_drift_map(n, k, rate)
    return 1 - b / (1 - a)


def _fresh_map(n: int, fraction: float, world_h: float) -> tuple[float, float]:
    """``E[G'] = G [(1-l)^2 - (1-l)/N] + G_pi (2l - l^2 - l/N) + 1/N`` (``alpha = 0``, ``E p_t = pi``)."""
    lam, g_pi = fraction, 1 - world_h
    nu = 1 - lam
    return nu * nu - nu / n, g_pi * (2 * lam - lam * lam - lam / n) + 1 / n


def fresh_data_heterozygosity(t, *, n: int, fraction: float, world_h: float, h0: float) -> np.ndarray:
    """Migration-drift (``Fresh(source='world')``, ``alpha = 0``): ``x = (1-l) y + l z``.

    ``y`` are ``(1-l) N`` draws from ``p``, ``z`` are ``l N`` from ``pi``;
    ``E sum x^2 = (1-l)^2 E sum y^2 + 2 l (1-l) <p, pi> + l^2 E sum z^2`` and
    ``E <p_t, pi> = G_pi`` because ``E p_t = pi``. ``fraction`` must be the
    realised ``Fresh.real_size(n) / n`` (Python rounds ``l N`` half to even).
    Returns ``E[H_t]`` from ``H_0 = h0``.
    """
    return _affine_trajectory(t, *_fresh_map(n, fraction, world_h), h0)


def fresh_data_equilibrium(*, n: int, fraction: float, world_h: float) -> float:
    """``H*`` of :func:`fresh_data_heterozygosity`."""
    a, b = _fresh_map(n, fraction, world_h)
    return 1 - b / (1 - a)


def accumulate_heterozygosity(t, *, n: int, h0: float) -> np.ndarray:
    """Accumulate, ``alpha = 0``: ``E[H_t] = H_0 prod_{j=2}^{t+1} (1 - 1/(N j^2)) > H_0 (1 - 0.645/N)``.

    The pool after generation t is ``(t p + y)/(t+1)`` with ``y`` drawn from ``p``,
    so ``E[G_t] = G_{t-1} + (1 - G_{t-1}) / (N (t+1)^2)``: drift slows as 1/t^2.
    """
    t = _generations(t)
    j = np.arange(2, int(t.max(initial=0)) + 2)
    factors = np.concatenate([[1.0], np.cumprod(1 - 1 / (n * j.astype(float) ** 2))])
    return h0 * factors[t]


def _mixing_step(*, n: int, k: int, alpha: float, rate: float, real: int, g_r: float, phi: float):
    """One generation of replace/fresh with smoothing and noise on the state ``(E G, E <p, r>)``.

    ``r`` is the real source (``pi``, or the bank ``b`` with ``G_r = E sum b^2``);
    ``phi`` the finite-population factor of drawing real items (1 from the
    world, ``(N-m)/(N-1)`` without replacement from a bank of ``N``).
    """
    u = smoothing_rate(alpha, k=k, n=n)
    nu, lam = (n - real) / n, real / n

    def step(s: np.ndarray) -> np.ndarray:
        g, c = s
        g_s = (1 - rate) ** 2 * g + rate * (2 - rate) / k  # sum of squares of what is sampled
        c_s = (1 - rate) * c + rate / k
        sq = (nu * nu - nu / n) * g_s + nu / n + 2 * nu * lam * c_s + lam * lam * g_r + lam * phi * (1 - g_r) / n
        cross = nu * c_s + lam * g_r
        return np.array([(1 - u) ** 2 * sq + u * (2 - u) / k, (1 - u) * cross + u / k])

    return step


def _pooled_heterozygosity(t: np.ndarray, *, g_pi: float, k: int, n: int, alpha: float, rate: float,
                           budget: int | None, g0: float | None) -> np.ndarray:
    """Accumulate (``budget=None``) or subsample ``budget`` of the pool, with smoothing and noise.

    ``A_t = E sum a_t^2`` of the pool frequencies; the training set is ``B_t``
    items drawn without replacement from the pool of ``M_t = (t+1) N``, so
    ``E sum x_t^2 = A_t + (1 - A_t)(M_t - B_t) / ((M_t - 1) B_t)`` and
    ``E <a_t, x_t> = A_t``. What the model samples is ``kappa x + (1-kappa)/K``.
    """
    u0 = smoothing_rate(alpha, k=k, n=n)
    x0 = (1 - 1 / n) * g_pi + 1 / n if g0 is None else (g0 - u0 * (2 - u0) / k) / (1 - u0) ** 2

    def step(j: int, s: np.ndarray) -> np.ndarray:
        a_prev, x_prev, _, kappa = s
        a = (j * j * a_prev + 2 * j * (kappa * a_prev + (1 - kappa) / k)
             + (1 - 1 / n) * (kappa**2 * x_prev + (1 - kappa**2) / k) + 1 / n) / (j + 1) ** 2
        m = (j + 1) * n
        b = m if budget is None else min(budget, m)
        x = a + (1 - a) * (m - b) / ((m - 1) * b)
        u = smoothing_rate(alpha, k=k, n=b)
        return np.array([a, x, (1 - u) ** 2 * x + u * (2 - u) / k, (1 - rate) * (1 - u)])

    s0 = np.array([x0, x0, (1 - u0) ** 2 * x0 + u0 * (2 - u0) / k, (1 - rate) * (1 - u0)])
    return 1 - _iterate(step, s0, t)[..., 2]


def categorical_heterozygosity(t, *, world_probs: np.ndarray, n: int, regime=Replace(), alpha: float = 0.0,
                               noise: float = 0.0, h0: float | None = None) -> np.ndarray | None:
    """E[H_t] for the categorical family under any regime, smoothing ``alpha`` and noise ``rate``.

    Combines every recursion above (all are affine in second moments, so
    expectations are exact). ``h0`` replaces E[H_0] by an observed value (for
    fresh data the unobserved ``<p_0, pi>`` keeps its expectation). ``None``
    for an unknown regime. Shape of ``t``.
    """
    t = _generations(t)
    pi = np.asarray(world_probs, float) / np.sum(world_probs)
    k, g_pi = pi.shape[0], float(pi @ pi)
    if isinstance(regime, (Accumulate, Subsample)):
        budget = None if isinstance(regime, Accumulate) else (regime.budget or n)
        return _pooled_heterozygosity(t, g_pi=g_pi, k=k, n=n, alpha=alpha, rate=noise, budget=budget,
                                      g0=None if h0 is None else 1 - h0)
    if isinstance(regime, Replace):
        real, bank = 0, False
    elif isinstance(regime, Fresh) and regime.source in ("world", "bank"):
        real, bank = regime.real_size(n), regime.source == "bank"
    else:
        return None
    u = smoothing_rate(alpha, k=k, n=n)
    # the bank is generation 0's real sample: E sum b^2 = (1-1/N) G_pi + 1/N, drawn without replacement
    g_r = (1 - 1 / n) * g_pi + 1 / n if bank else g_pi
    phi = (n - real) / (n - 1) if bank else 1.0
    g0 = (1 - u) ** 2 * ((1 - 1 / n) * g_pi + 1 / n) + u * (2 - u) / k if h0 is None else 1 - h0
    c0 = (1 - u) * g_r + u / k
    step = _mixing_step(n=n, k=k, alpha=alpha, rate=noise, real=real, g_r=g_r, phi=phi)
    return 1 - _iterate(lambda _, s: step(s), [g0, c0], t)[..., 0]


def categorical_equilibrium(*, world_probs: np.ndarray, n: int, regime=Replace(), alpha: float = 0.0,
                            noise: float = 0.0) -> float:
    """``H*`` of :func:`categorical_heterozygosity` for replace and fresh (1 - 1 = 0 with no mutation or migration).

    Raises ``ValueError`` for accumulate/subsample (no equilibrium: drift stops).
    """
    pi = np.asarray(world_probs, float) / np.sum(world_probs)
    if isinstance(regime, Replace):
        real, bank = 0, False
    elif isinstance(regime, Fresh):
        real, bank = regime.real_size(n), regime.source == "bank"
    else:
        raise ValueError(f"regime {type(regime).__name__} has no mutation-drift equilibrium; use replace or fresh")
    g_pi = float(pi @ pi)
    g_r = (1 - 1 / n) * g_pi + 1 / n if bank else g_pi
    phi = (n - real) / (n - 1) if bank else 1.0
    step = _mixing_step(n=n, k=pi.shape[0], alpha=alpha, rate=noise, real=real, g_r=g_r, phi=phi)
    if alpha == 0 and noise == 0 and real == 0:
        return 0.0
    return float(1 - _fixed_point(step, 2)[0])


# ---------------------------------------------------------------- Gaussian: variance and mean


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


# ---------------------------------------------------------------- the API the CLI calls


def _family(family):
    """An instance from an instance, a class or a zero-argument factory (what Lineage calls make_family)."""
    return family() if isinstance(family, type) or not hasattr(family, "fit") else family


def predict(metric: str, *, family, regime, curation: Sequence = (), world, n: int, generations,
            h0: float | None = None) -> np.ndarray | None:
    """The predicted mean curve of ``metric`` for one arm, or ``None`` where no theory exists.

    ``family`` is a family instance (or its class / zero-argument factory),
    ``regime`` a :mod:`redqueen.loop.regimes` object, ``curation`` a sequence of
    :mod:`redqueen.loop.curation` steps (or one, or ``None``), ``world`` a world,
    ``n`` the training size. ``generations`` is ``T`` (an int: the curve is for
    ``t = 0..T``, shape ``(T+1,)``) or an int array of generations.
    ``h0`` is the observed generation-0 heterozygosity (categorical only).

    Covered: categorical family (no temperature/top-k/top-p) on a categorical
    world: ``heterozygosity``, ``inbreeding`` (``1 - E H_t / E H_0``: exact for pure
    drift, first order otherwise) under every regime with smoothing and
    noise. Gaussian family on a world with ``mean``/``cov``:
    ``fitted_var_ratio``, ``fitted_mean_sq_error``, ``var_ratio``,
    ``mean_sq_error`` under replace, fresh (world) and accumulate, with
    jitter noise. Any filter curation: ``None``.
    """
    if metric not in PREDICTED_METRICS:
        return None
    t = np.arange(int(generations) + 1) if np.ndim(generations) == 0 else _generations(generations)
    steps = () if curation is None else (curation,) if isinstance(curation, (Noise, Filter)) else tuple(curation)
    if any(not isinstance(c, Noise) for c in steps):
        return None
    fam = _family(family)
    if isinstance(fam, CategoricalFamily):
        if metric not in ("heterozygosity", "inbreeding"):
            return None
        if fam.temperature != 1.0 or fam.top_k or fam.top_p < 1.0:
            return None
        probs = world.type_probs() if hasattr(world, "type_probs") else None
        if probs is None or not hasattr(world, "k"):
            return None
        rate = 1.0 - math.prod(1.0 - c.rate for c in steps)
        tt = np.concatenate([[0], t.ravel()])
        h = categorical_heterozygosity(tt, world_probs=probs, n=n, regime=regime, alpha=fam.alpha, noise=rate, h0=h0)
        if h is None:
            return None
        out = h[1:] if metric == "heterozygosity" else 1.0 - h[1:] / h[0]
        return out.reshape(t.shape)
    if isinstance(fam, GaussianFamily):
        if not (hasattr(world, "mean") and hasattr(world, "cov")):
            return None
        cov = np.atleast_2d(world.cov())
        trace, d = float(np.trace(cov)), cov.shape[0]
        scale2 = sum(c.scale**2 for c in steps)
        mom = gaussian_moments(t, trace=trace, d=d, n=n, regime=regime, ddof=fam.ddof, min_var=fam.min_var,
                               noise_scale=math.sqrt(scale2))
        if mom is None:
            return None
        drawn = regime.synthetic_size(n)  # what the diagnostics measure: the model's raw samples
        if metric == "fitted_var_ratio":
            return mom.fitted_trace / trace
        if metric == "fitted_mean_sq_error":
            return mom.mean_sq_error
        if drawn < 2:
            return None
        if metric == "var_ratio":
            return (drawn - 1) / drawn * mom.fitted_trace / trace
        if metric == "mean_sq_error":
            return mom.mean_sq_error + mom.fitted_trace / drawn
    return None


@dataclass(frozen=True)
class ComparisonRow:
    """One generation of :func:`compare`: the replicate mean, its confidence interval and the prediction."""

    t: int
    mean: float
    ci_low: float
    ci_high: float
    prediction: float
    inside: bool
    replicates: int

    def as_dict(self) -> dict:
        return asdict(self)


def compare(simulated: np.ndarray, predicted: np.ndarray, level: float = 0.99, *, simultaneous: bool = True,
            t: np.ndarray | None = None, atol: float = 0.0) -> tuple[ComparisonRow, ...]:
    """Check each generation's replicate mean against the prediction.

    ``simulated`` has shape ``(replicates, T+1)`` (NaNs are dropped per
    generation), ``predicted`` ``(T+1,)``; ``t`` labels the columns (default
    ``0..T``). The interval is Student's t at ``level``; with ``simultaneous``
    (default) Bonferroni over the ``T+1`` generations, so that a correct
    theory has every row inside with probability >= ``level``. ``inside``
    allows ``atol`` slack (for columns with no spread). Raises ``ValueError``
    if the shapes do not match or ``level`` is not in (0, 1).
    """
    sim = np.atleast_2d(np.asarray(simulated, dtype=np.float64))
    pred = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if sim.shape[1] != pred.shape[0]:
        raise ValueError(f"simulated has {sim.shape[1]} generations but predicted has {pred.shape[0]}; "
                         "pass simulated as (replicates, T+1)")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    labels = np.arange(pred.shape[0]) if t is None else np.asarray(t).reshape(-1)
    tail = (1 - level) / 2 / (pred.shape[0] if simultaneous else 1)
    rows = []
    for j in range(pred.shape[0]):
        col = sim[:, j][np.isfinite(sim[:, j])]
        r = col.size
        mean = float(col.mean()) if r else float("nan")
        if r >= 2:
            half = float(student_t.ppf(1 - tail, r - 1) * col.std(ddof=1) / math.sqrt(r))
            lo, hi = mean - half, mean + half
        else:
            lo = hi = float("nan")
        inside = bool(lo - atol <= pred[j] <= hi + atol) if r >= 2 else False
        rows.append(ComparisonRow(int(labels[j]), mean, lo, hi, float(pred[j]), inside, r))
    return tuple(rows)
