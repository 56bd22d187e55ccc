"""Categorical family: Wright-Fisher drift, mutation (smoothing, noise), migration (fresh data, gene bank),
accumulate and subsample. Notation as in :mod:`redqueen.theory`."""

from __future__ import annotations


import numpy as np

from redqueen.loop.regimes import Accumulate, Fresh, Replace, Subsample
from redqueen.theory._common import _fixed_point, _generations, _iterate


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


