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
from typing import Sequence

import numpy as np

from redqueen.loop.curation import Filter, Noise
from redqueen.loop.regimes import Replace
from redqueen.models.categorical import CategoricalFamily
from redqueen.models.gaussian import GaussianFamily
from redqueen.models.regression import LinearRegressionFamily
from redqueen.theory._common import _fixed_point, _generations, _iterate  # noqa: F401
from redqueen.theory.check import ComparisonRow, compare, relative_power, replicates_for  # noqa: F401
from redqueen.theory.drift import *  # noqa: F401,F403
from redqueen.theory.drift import categorical_heterozygosity
from redqueen.theory.filters import *  # noqa: F401,F403
from redqueen.theory.filters import filtered_fresh_heterozygosity
from redqueen.theory.gaussian import *  # noqa: F401,F403
from redqueen.theory.gaussian import gaussian_log_variance, gaussian_log_variance_drift, gaussian_moments
from redqueen.theory.islands import *  # noqa: F401,F403
from redqueen.theory.islands import island_heterozygosity
from redqueen.theory.regression import *  # noqa: F401,F403
from redqueen.theory.regression import regression_noise_variances, regression_test_error_curve

PREDICTED_METRICS = (
    "heterozygosity", "inbreeding", "fitted_var_ratio", "fitted_log_var", "fitted_mean_sq_error", "var_ratio",
    "mean_sq_error", "pool_heterozygosity", "fst", "test_error", "noise_var_ratio",
)
#: metrics whose prediction starts from the observed generation-0 mean (``h0``): generation 0 is not a test
ANCHORED_METRICS = ("heterozygosity", "inbreeding")




def _family(family):
    """An instance from an instance, a class or a zero-argument factory (what Lineage calls make_family)."""
    return family() if isinstance(family, type) or not hasattr(family, "fit") else family


def _population_migration(members: int, couplings: Sequence, migration: np.ndarray | None) -> np.ndarray | None:
    """The ``(P, P)`` migration matrix of a population whose couplings are all migration (the product of theirs,
    in order, times ``migration`` if given; the identity for none), or ``None`` where a coupling is another kind."""
    from redqueen.loop.couplings import Migration, migration_matrix

    m = np.eye(members) if migration is None else np.asarray(migration, dtype=float)
    for c in couplings:
        if not isinstance(c, Migration):
            return None
        m = m @ migration_matrix(members, c.rate, c.topology)
    return m


def predict(metric: str, *, family, regime, curation: Sequence = (), world, n: int, generations,
            h0: float | None = None, members: int = 1, migration: np.ndarray | None = None,
            couplings: Sequence = (), mixed: Sequence = ()) -> np.ndarray | None:
    """The predicted mean curve of ``metric`` for one arm, or ``None`` where no theory exists.

    ``family`` is a family instance (or its class / zero-argument factory),
    ``regime`` a :mod:`redqueen.loop.regimes` object, ``curation`` a sequence of
    :mod:`redqueen.loop.curation` steps (or one, or ``None``), ``world`` a world,
    ``n`` the training size. ``generations`` is ``T`` (an int: the curve is for
    ``t = 0..T``, shape ``(T+1,)``) or an int array of generations.
    ``h0`` is the observed generation-0 heterozygosity (categorical only).
    ``members`` > 1 is a population; ``couplings`` its coupling objects (:mod:`redqueen.loop.couplings`),
    or ``migration`` its ``(P, P)`` migration matrix directly (neither: the members do not interact). Theory
    covers migration only: with any other coupling (merge, niches, quality-diversity, island reset, a
    strategy) every metric is ``None``, and for interacting members only the categorical island model answers.
    ``mixed`` are the curation steps on the mixed training set (``ArmPlan.mixed_curation``).

    Covered: categorical family (no temperature/top-k/top-p) on a categorical
    world: ``heterozygosity``, ``inbreeding`` (``1 - E H_t / E H_0``: exact for pure
    drift, first order otherwise) under every regime with smoothing and
    noise; for a population under replace with no smoothing or curation, Wright's island
    model (:mod:`redqueen.theory.islands`): per-member ``heterozygosity`` and ``inbreeding``,
    ``pool_heterozygosity`` and ``fst``. Gaussian family on a world with ``mean``/``cov``:
    ``fitted_var_ratio``, ``fitted_mean_sq_error``, ``var_ratio``,
    ``mean_sq_error`` under replace, fresh (world) and accumulate, with
    jitter noise; ``fitted_log_var`` (E of the mean log fitted/world variance
    ratio, ``(t+1)`` times :func:`gaussian_log_variance_drift`) under replace
    without noise or ``min_var``. Linear regression on a regression world: ``test_error`` and
    ``noise_var_ratio`` under replace and accumulate (no curation). On the mixed training set: one
    :class:`~redqueen.loop.filters.Ideal` filter on the categorical MLE under fresh (world source), one
    lineage, no other curation (:mod:`redqueen.theory.filters`): ``heterozygosity`` and ``inbreeding``.
    Any other filter: ``None``.
    """
    if metric not in PREDICTED_METRICS:
        return None
    t = np.arange(int(generations) + 1) if np.ndim(generations) == 0 else _generations(generations)
    steps = () if curation is None else (curation,) if isinstance(curation, (Noise, Filter)) else tuple(curation)
    if any(not isinstance(c, Noise) for c in steps):
        return None
    fam = _family(family)
    if mixed and not isinstance(fam, CategoricalFamily):  # a mixed-stage filter's closed form is categorical
        return None
    if metric in ("pool_heterozygosity", "fst") and members < 2:
        return None
    if members > 1 or couplings:
        migration = _population_migration(members, couplings, migration)
        if migration is None:  # a coupling no closed form covers
            return None
    interacting = members > 1 and not np.allclose(migration, np.eye(members))
    if interacting and not isinstance(fam, CategoricalFamily):  # one lineage's theory is not a coupled member's
        return None
    if isinstance(fam, LinearRegressionFamily):
        if metric not in ("test_error", "noise_var_ratio") or steps or not hasattr(world, "coef"):
            return None
        common = dict(d=world.d, n=n, sigma2=world.sigma**2, regime=regime, variance=fam.variance, noise_std=fam.noise_std)
        if metric == "test_error":
            return regression_test_error_curve(t, **common)
        v = regression_noise_variances(int(t.max(initial=0)) + 1, **common)
        return None if v is None else v[1:][t] / world.sigma**2
    if isinstance(fam, CategoricalFamily):
        if metric not in ("heterozygosity", "inbreeding", "pool_heterozygosity", "fst"):
            return None
        if fam.temperature != 1.0 or fam.top_k or fam.top_p < 1.0:
            return None
        probs = world.type_probs() if hasattr(world, "type_probs") else None
        if probs is None or not hasattr(world, "k"):
            return None
        if mixed:
            return None if interacting else _filtered(metric, probs, fam, regime, steps, tuple(mixed), n, t, h0, members)
        if interacting or (members > 1 and metric in ("pool_heterozygosity", "fst")):  # else: one lineage each
            if not isinstance(regime, Replace) or steps or fam.alpha:
                return None
            mom = island_heterozygosity(np.concatenate([[0], t.ravel()]), n=n, migration=migration,
                                        world_probs=probs, h0=h0)
            curve = {"heterozygosity": mom.within, "pool_heterozygosity": mom.total, "fst": mom.fst,
                     "inbreeding": 1.0 - mom.within / mom.within[0]}[metric]
            return curve[1:].reshape(t.shape)
        if metric in ("pool_heterozygosity", "fst"):
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
        if metric == "fitted_log_var":
            if not isinstance(regime, Replace) or steps or fam.min_var > 0:
                return None
            return gaussian_log_variance(t, n=n, ddof=fam.ddof, log_var0=gaussian_log_variance_drift(n=n, ddof=fam.ddof))
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


def _filtered(metric, probs, fam, regime, steps, mixed, n, t, h0, members) -> np.ndarray | None:
    """:func:`predict`'s categorical branch for an arm with mixed-stage curation (world and sampling bias already
    checked there): the ideal filter's closed form, else ``None``."""
    from redqueen.loop.filters import Ideal
    from redqueen.loop.regimes import Fresh

    if (metric not in ("heterozygosity", "inbreeding") or members > 1 or steps or len(mixed) != 1
            or not isinstance(mixed[0], Ideal) or not isinstance(regime, Fresh) or regime.source != "world"
            or fam.alpha):
        return None
    f = mixed[0]
    tt = np.concatenate([[0], t.ravel()])
    try:
        h = filtered_fresh_heterozygosity(tt, world_probs=probs, n=n, fraction=regime.fraction, recall=f.recall,
                                          fpr=f.fpr, h0=h0)
    except ValueError:  # the filter removes every item: no process to predict
        return None
    out = h[1:] if metric == "heterozygosity" else 1.0 - h[1:] / h[0]
    return out.reshape(t.shape)
