"""Filters on the mixed training set: the real fraction they leave, and the categorical drift it implies.

A filter that removes a share ``r`` of the synthetic items (its recall) and a share ``f`` of the real
ones (its false-positive rate) from a mix whose synthetic share is ``s`` leaves a training set whose
real fraction is

    lambda = (1 - s)(1 - f) / ((1 - s)(1 - f) + s (1 - r))

and whose size is ``N ((1 - s)(1 - f) + s (1 - r))``. When the filter picks its removals uniformly
within each class (whatever the type: :class:`redqueen.loop.filters.Ideal`, the detector of known
error rates that theory assumes), what it keeps of ``n`` i.i.d. draws is again i.i.d.: under the
``fresh`` regime (real fraction ``1 - s``, new real draws from the world) the categorical family is
then exactly the migration-drift process of :func:`redqueen.theory.drift.fresh_data_heterozygosity`
with an *effective* fresh fraction ``lambda`` and an effective size ``N_eff``: a filter is gene flow
bought by discarding. Its heterozygosity trajectory and equilibrium follow in closed form
(:func:`filtered_fresh_heterozygosity`, :func:`filtered_fresh_equilibrium`; exact for the MLE,
``alpha = 0``, with the sizes rounded as the filter rounds them). With a perfect filter (``r = 1``,
``f = 0``) the set is all real: ``H`` returns to the world's ``(1 - 1/m) H_pi`` at once; with a blind
one (``r = f``) it changes nothing but ``N``.
"""

from __future__ import annotations

import numpy as np

from redqueen.loop.regimes import Fresh, Replace
from redqueen.theory.drift import categorical_equilibrium, categorical_heterozygosity


def filtered_real_fraction(share: float, recall: float, fpr: float) -> float:
    """``lambda``: the real fraction left by a filter of ``recall`` and ``fpr`` on a mix of synthetic ``share``."""
    real, syn = (1 - share) * (1 - fpr), share * (1 - recall)
    return real / (real + syn) if real + syn > 0 else float("nan")


def filtered_sizes(n: int, fraction: float, recall: float, fpr: float) -> tuple[int, int]:
    """``(N_eff, m_eff)``: items and real items a filter keeps of a ``fresh`` training set of ``n`` with real
    ``fraction``, rounding as :class:`redqueen.loop.filters.Ideal` does (removes ``round(f m)`` real and
    ``round(r (n - m))`` synthetic items; Python rounds halves to even)."""
    m = Fresh(fraction=fraction).real_size(n)
    real = m - int(round(fpr * m))
    syn = (n - m) - int(round(recall * (n - m)))
    return real + syn, real


def _process(n: int, fraction: float, recall: float, fpr: float) -> tuple[int, Fresh]:
    n_eff, m_eff = filtered_sizes(n, fraction, recall, fpr)
    if n_eff < 1:
        raise ValueError("the filter removes every item; lower recall or fpr")
    regime = Fresh(fraction=m_eff / n_eff)  # real_size(n_eff) rounds m_eff / n_eff * n_eff back to m_eff
    return n_eff, regime


def filtered_fresh_heterozygosity(t, *, world_probs: np.ndarray, n: int, fraction: float, recall: float, fpr: float,
                                  h0: float | None = None) -> np.ndarray:
    """``E[H_t]`` of the categorical MLE under ``fresh`` (real ``fraction``, world source) with a mixed-stage
    filter of ``recall`` and ``fpr``; generation 0 is ``n`` real items (``h0``: its observed value)."""
    pi = np.asarray(world_probs, float) / np.sum(world_probs)
    if h0 is None:
        h0 = float(categorical_heterozygosity(0, world_probs=pi, n=n, regime=Replace()))
    n_eff, regime = _process(n, fraction, recall, fpr)
    return categorical_heterozygosity(t, world_probs=pi, n=n_eff, regime=regime, h0=h0)


def filtered_fresh_equilibrium(*, world_probs: np.ndarray, n: int, fraction: float, recall: float, fpr: float) -> float:
    """``H*`` of :func:`filtered_fresh_heterozygosity`."""
    n_eff, regime = _process(n, fraction, recall, fpr)
    return float(categorical_equilibrium(world_probs=np.asarray(world_probs, float), n=n_eff, regime=regime))


__all__ = ["filtered_fresh_equilibrium", "filtered_fresh_heterozygosity", "filtered_real_fraction", "filtered_sizes"]
