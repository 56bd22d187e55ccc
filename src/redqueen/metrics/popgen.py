"""Population-genetics summaries of a trajectory: F, N_e and F_ST."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from redqueen.metrics.diversity import heterozygosity


def inbreeding(h_t: float | np.ndarray, h_0: float) -> float | np.ndarray:
    """Inbreeding coefficient F_t = 1 - H_t / H_0 (0 at the start, 1 when one type is left)."""
    return 1.0 - np.asarray(h_t) / h_0 if h_0 > 0 else np.full_like(np.asarray(h_t, float), np.nan)


def effective_size(h: np.ndarray) -> float:
    """Effective population size from a heterozygosity trajectory h[0..T].

    Under drift H_t = H_0 (1 - 1/N_e)^t, so log(H_t/H_0) is linear in t with
    slope log(1 - 1/N_e). The slope is fitted by least squares through the
    origin over the generations where H_t > 0. Returns inf when H does not
    decay (no drift detectable) and nan when fewer than 2 points are usable.
    """
    h = np.asarray(h, float)
    if h.size < 2 or h[0] <= 0:
        return float("nan")
    t = np.arange(h.size, dtype=float)
    ok = h > 0
    if ok.sum() < 2:
        return float("nan")
    y = np.log(h[ok] / h[0])
    tt = t[ok]
    slope = float(np.dot(tt, y) / np.dot(tt, tt))
    if slope >= 0:
        return float("inf")
    return float(1.0 / (1.0 - np.exp(slope)))


@dataclass(frozen=True)
class EffectiveSize:
    """N_e with its interval: ``estimate`` in ``[low, high]`` at ``level`` (``high`` may be inf: no decay
    detectable; all NaN: not estimable, see ``reason``). ``increments`` per-generation changes were used."""

    estimate: float
    low: float
    high: float
    level: float
    increments: int
    reason: str = ""

    @property
    def estimable(self) -> bool:
        return not math.isnan(self.estimate)


def _size(ratio: float) -> float:
    """N_e from the per-generation ratio of heterozygosities, ``1 / (1 - ratio)``; inf when H does not decay."""
    return float(1.0 / (1.0 - ratio)) if ratio < 1 else math.inf


def effective_size_interval(h: np.ndarray, level: float = 0.99) -> EffectiveSize:
    """N_e with a regression interval from heterozygosity trajectories ``h`` of shape (replicates, T+1) or (T+1,).

    Under drift E[H_t | H_{t-1}] = (1 - 1/N_e) H_{t-1} exactly (the categorical MLE: Wright-Fisher),
    so the ratios r = H_t / H_{t-1} have conditional mean 1 - 1/N_e and are uncorrelated, within a
    lineage and across lineages. The estimate of 1 - 1/N_e is their mean over every replicate and
    generation, its interval Student's t on their standard error at ``level``; N_e = 1/(1 - r)
    maps it, the upper end to inf when the interval reaches ratios >= 1 (no decay detectable).
    (Means of log H_t - log H_{t-1} would be biased low by Jensen's inequality.) Generations whose
    previous H is 0 are left out. With fewer than 3 ratios N_e is not estimable (NaN, with a reason).

    One lineage of a diffuse distribution is noisy -- H's change over T generations is then not much
    larger than its chance wander -- and the interval shows it. Under fresh data, smoothing or
    accumulation H stops decaying: the estimate then grows with T, and the interval says so.
    """
    h = np.atleast_2d(np.asarray(h, dtype=np.float64))
    prev, nxt = h[:, :-1], h[:, 1:]
    ok = np.isfinite(prev) & np.isfinite(nxt) & (prev > 0)
    r = nxt[ok] / prev[ok]
    if r.size < 3:
        nan = math.nan
        return EffectiveSize(nan, nan, nan, level, int(r.size), "fewer than 3 generations with H > 0")
    mean = float(r.mean())
    half = float(student_t.ppf(0.5 + level / 2, r.size - 1) * r.std(ddof=1) / math.sqrt(r.size))
    return EffectiveSize(_size(mean), _size(mean - half), _size(mean + half), level, int(r.size))


def phi_st(samples: list[np.ndarray]) -> float:
    """AMOVA's Phi_ST (Excoffier, Smouse & Quattro 1992) of ``P`` groups of points (arrays ``(n_i, d)``) with
    squared Euclidean distances: the share of the variance that lies between the groups, from the variance
    components of the one-level analysis of molecular variance,

        sigma_w^2 = SSD_within / (N - P),  sigma_a^2 = (SSD_among / (P - 1) - sigma_w^2) / n_0,
        Phi_ST = sigma_a^2 / (sigma_a^2 + sigma_w^2),  n_0 = (N - sum n_i^2 / N) / (P - 1),

    ``SSD_within = sum_ij ||x_ij - m_i||^2``, ``SSD_among = sum_i n_i ||m_i - m||^2`` (``m_i`` group means, ``m`` the
    grand mean). A method-of-moments estimate: its components are unbiased, so groups drawn from one
    distribution read about 0 whatever the sample sizes (the ratio's own bias is ~0.001 at 10-60 points a group;
    a single estimate can be slightly negative), and groups that do not overlap read near 1. The
    population-genetic analogue of F_ST for quantitative data; ``nan`` with fewer than two groups, a group of
    fewer than two points, or no variance."""
    xs = [np.asarray(x, dtype=np.float64).reshape(len(x), -1) for x in samples]
    p = len(xs)
    if p < 2 or any(len(x) < 2 for x in xs):
        return float("nan")
    n = np.array([len(x) for x in xs], dtype=np.float64)
    total = float(n.sum())
    means = np.stack([x.mean(axis=0) for x in xs])
    grand = n @ means / total
    ssd_within = float(sum(((x - m) ** 2).sum() for x, m in zip(xs, means)))
    ssd_among = float(n @ ((means - grand) ** 2).sum(axis=1))
    n0 = (total - float(n @ n) / total) / (p - 1)
    sigma_w = ssd_within / (total - p)
    sigma_a = (ssd_among / (p - 1) - sigma_w) / n0
    whole = sigma_a + sigma_w
    return sigma_a / whole if whole > 0 else float("nan")


def fst_loci(freqs: np.ndarray) -> float:
    """Multi-locus F_ST of ``freqs`` ``(m, L, K)``: ``m`` equally weighted subpopulations' allele frequencies at
    ``L`` loci of ``K`` alleles each, as Nei's G_ST combines loci: ``sum_l (H_T - H_S) / sum_l H_T`` (a ratio of
    sums, so a locus where everyone agrees on one allele adds nothing). ``fst`` of one locus for ``L = 1``;
    NaN when no locus varies."""
    f = np.asarray(freqs, dtype=np.float64)
    f = f / f.sum(axis=2, keepdims=True)
    h_s = (1.0 - np.einsum("mlk,mlk->ml", f, f)).mean(axis=0)
    pooled = f.mean(axis=0)
    h_t = 1.0 - np.einsum("lk,lk->l", pooled, pooled)
    total = float(h_t.sum())
    return float((h_t - h_s).sum() / total) if total > 0 else float("nan")


def fst(subpopulations: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Wright's F_ST = (H_T - H_S) / H_T for type frequencies of shape (m, K).

    H_S is the (weighted) mean heterozygosity within subpopulations (e.g.
    replicate lineages or a population of models), H_T that of the pooled
    frequencies. 0 means the lineages agree; 1 means each fixed a different type.
    """
    f = np.asarray(subpopulations, float)
    f = f / f.sum(axis=1, keepdims=True)
    w = np.full(f.shape[0], 1.0 / f.shape[0]) if weights is None else np.asarray(weights, float) / np.sum(weights)
    h_s = float(np.dot(w, [heterozygosity(r) for r in f]))
    h_t = heterozygosity(w @ f)
    return float((h_t - h_s) / h_t) if h_t > 0 else 0.0
