"""Suresh et al. 2024 (Rate of model collapse in recursive training): two bounds, checked by simulation.

* Discrete: under maximum-likelihood refitting (Wright–Fisher), a symbol seen ``lambda`` times in
  the ``n`` original samples is still there after ``k`` generations with probability at least
  ``1 - e^(-lambda / k)``. Survival per symbol is not a stored diagnostic, so this loop is the
  categorical family's own ``fit`` / ``sample`` (what the replace regime runs), one Zipf world,
  replicates from ``SeedSequence.spawn``; symbols are grouped by their generation-0 count.
* Gaussian: refitted with the unbiased variance, ``P(sigma_k > eps) <= (sigma_0 / eps) e^(-k / 4n)``;
  measured on the stored ``fitted_var_ratio`` of a ``redqueen`` run.
"""

from __future__ import annotations

import math

import numpy as np

from redqueen.models import CategoricalFamily
from redqueen.reproduce import experiments as X
from redqueen.reproduce import figures
from redqueen.reproduce.base import Claim, Context, Measured, Outcome, Reproduction, at_least, at_most
from redqueen.worlds import zipf

PAPER = "Suresh et al. 2024 (arXiv:2412.17646)"
DISCRETE = {"quick": dict(replicates=20, generations=40), "paper": dict(replicates=300, generations=300)}
LAMBDAS = (1, 2, 3, 5, 8, 12)
EPS = (0.5, 0.2, 0.1)


def survival(*, k: int, n: int, replicates: int, generations: int, seed: int) -> tuple[dict, dict]:
    """``({lambda: P(survive to generation t)}, {lambda: symbols})``: survival for t = 0..generations
    (shape ``(generations + 1,)``) over every symbol whose generation-0 count was ``lambda``, pooled
    over replicates, and how many symbols each estimate rests on."""
    world = zipf(k, 1.1)
    alive = {lam: np.zeros(generations + 1) for lam in LAMBDAS}
    total = {lam: 0 for lam in LAMBDAS}
    for child in np.random.SeedSequence(seed).spawn(replicates):
        rng = np.random.default_rng(child)
        data = world.sample(n, rng)
        first = data.counts.copy()
        groups = {lam: first == lam for lam in LAMBDAS}
        for lam, g in groups.items():
            total[lam] += int(g.sum())
            alive[lam][0] += int(g.sum())
        for t in range(1, generations + 1):
            data = CategoricalFamily().fit(data).sample(n, rng)
            present = data.counts > 0
            for lam, g in groups.items():
                alive[lam][t] += int((present & g).sum())
    return {lam: alive[lam] / max(total[lam], 1) for lam in LAMBDAS if total[lam]}, total


def run(ctx: Context) -> Outcome:
    cfg = DISCRETE[ctx.scale]
    seed = (ctx.seeds or (2024,))[0]
    n = 1000
    surv, total = survival(k=1000, n=n, **cfg, seed=seed)
    t = np.arange(cfg["generations"] + 1)
    worst, worst_at = math.inf, None
    for lam, p in surv.items():
        bound = 1 - np.exp(-lam / np.maximum(t[1:], 1))
        se = np.sqrt(np.maximum(p[1:] * (1 - p[1:]), 1e-12) / total[lam])
        gap = (p[1:] - bound) / se  # standard errors above the bound
        j = int(np.argmin(gap))
        if gap[j] < worst:
            worst, worst_at = float(gap[j]), (lam, j + 1, float(p[j + 1]), float(bound[j]))
    exp = X.experiment("suresh_gaussian", ctx.scale, ctx)
    results = X.run(ctx, exp)
    sigma = np.sqrt(X.trajectory(results, "replace", "fitted_var_ratio"))  # sigma_k / sigma, sigma = 1
    excess, excess_at = -math.inf, None
    for eps in EPS:
        p = np.mean(sigma > eps, axis=0)
        bound = 1 / eps * np.exp(-np.arange(sigma.shape[1]) / (4 * exp.n))
        se = np.sqrt(np.maximum(p * (1 - p), 1e-12) / sigma.shape[0])
        z = (p - bound) / se
        j = int(np.argmax(z))
        if z[j] > excess:
            excess, excess_at = float(z[j]), (eps, j, float(p[j]), float(bound[j]))
    lam, k, p, b = worst_at
    eps, kk, pe, be = excess_at
    rows = (
        Claim("symbol_survival", "min over lambda, k of (simulated survival - (1 - e^(-lambda/k))), in standard errors",
              f"{PAPER}, discrete distributions (lower bound on survival)", at_least(-3.0),
              published="P(survive k) >= 1 - e^(-lambda/k): >= 0 (-3 s.e. allowed)").row(
            Measured(worst, 0.0, f"tightest at lambda={lam}, k={k}: {p:.3f} vs {b:.3f}"), ctx.scale),
        Claim("gaussian_tail", "max over eps, k of (P(sigma_k > eps) - (sigma_0/eps) e^(-k/4n)), in standard errors",
              f"{PAPER}, Gaussian (tail bound)", at_most(3.0),
              published="P(sigma_k > eps) <= (sigma_0/eps) e^(-k/4n): <= 0 (+3 s.e. allowed)").row(
            Measured(excess, 0.0, f"closest at eps={eps}, k={kk}: {pe:.3f} vs {be:.3f}"), ctx.scale),
    )
    fig1 = figures.lines({f"lambda={lam}": (t, p) for lam, p in surv.items()}, xlabel="generation k",
                         ylabel="P(symbol survives)",
                         dashed={f"bound, lambda={lam}": (t[1:], 1 - np.exp(-lam / t[1:])) for lam in surv})
    kk_ = np.arange(sigma.shape[1])
    fig2 = figures.lines({f"eps={e}": (kk_, np.mean(sigma > e, axis=0)) for e in EPS}, xlabel="generation k",
                         ylabel="P(sigma_k > eps)", log=True,
                         dashed={f"bound, eps={e}": (kk_, np.minimum(1, np.exp(-kk_ / (4 * exp.n)) / e)) for e in EPS})
    return Outcome(rows, X.run_ids(results), (("symbol survival", fig1), ("Gaussian tail", fig2)))


SURESH = Reproduction(
    name="suresh-bounds", paper=PAPER, run=run,
    summary="a symbol seen lambda times survives k generations w.p. >= 1 - e^(-lambda/k); P(sigma_k > eps) bound",
    claims=("symbol survival lower bound", "Gaussian tail bound"), minutes={"quick": 0.3, "paper": 8})
