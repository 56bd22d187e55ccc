"""Kazdan et al. 2024 (Collapse or Thrive?): Gaussian and KDE under replace / accumulate / accumulate-subsample.

The claims are the paper's three findings, checked in every cell of its grid
(``d`` in {1, 3, 10, 31, 100} x ``n`` in {10, 32, 100, 316, 1000}; quick scale: {1, 10} x {10, 100}):
replace collapses (the test loss diverges), accumulate stays bounded, and accumulate-subsample
degrades slowly, between the two. For the Gaussian the test loss is the fitted mean's squared error
in units of one fit's (``tr Sigma / n``), which also has closed forms under replace and accumulate
(:func:`redqueen.theory.predict`); those are checked too, as the simulated / predicted ratio at the last
generation pooled over the cells (its standard error from the replicates).
For the KDE it is the NLL of held-out real data.
"""

from __future__ import annotations

import math

import numpy as np

from redqueen import theory
from redqueen.loop import Accumulate, Replace
from redqueen.models import GaussianFamily
from redqueen.reproduce import experiments as X
from redqueen.reproduce import figures
from redqueen.reproduce.base import Z99, Claim, Context, Measured, Outcome, Reproduction, at_least, close
from redqueen.runtime import config as C
from redqueen.worlds import gaussian

PAPER = "Kazdan et al. 2024 (arXiv:2410.16713)"
REP, ACC, SUB = "replace", "accumulate", "accumulate-subsample"
GRID = {"paper": ((1, 3, 10, 31, 100), (10, 32, 100, 316, 1000)), "quick": ((1, 10), (10, 100))}


def _cells(ctx: Context, name: str):
    """``(d, n, results)`` for every cell of the grid."""
    base = X.raw_config(name, ctx.scale, ctx)
    ds, ns = GRID[ctx.scale]
    for d in ds:
        for n in ns:
            cfg = {**base, "n": n, "world": {**base["world"], "d": d}, "name": f"{base['name']} d={d} n={n}"}
            yield d, n, X.run(ctx, C.validate(cfg))


def _share(flags: list[bool], cells: int) -> Measured:
    return Measured(float(np.mean(flags)), 0.0, f"{sum(flags)} of {cells} cells")


def _pooled(ratios: list[tuple[float, float]]) -> Measured:
    """The mean of per-cell ratios and its standard error (cells independent)."""
    r = np.array(ratios)
    return Measured(float(r[:, 0].mean()), float(np.sqrt(np.sum(r[:, 1] ** 2)) / len(r)), f"{len(r)} cells")


def run_gaussian(ctx: Context) -> Outcome:
    grows, bounded, between, rep_fit, acc_fit, finals, ids = [], [], [], [], [], {}, []
    for d, n, results in _cells(ctx, "kazdan_gaussian"):
        ids += X.run_ids(results)
        one = d / n  # tr Sigma / n: one fit's expected squared error of the mean
        err = {a: X.trajectory(results, a, "fitted_mean_sq_error") / one for a in (REP, ACC, SUB)}
        last = {a: float(err[a][:, -1].mean()) for a in err}
        finals[(d, n)] = last
        t_max = err[REP].shape[1] - 1
        grows.append(last[REP] >= 0.5 * t_max * float(err[REP][:, 0].mean()))
        bounded.append(last[ACC] <= math.pi**2 / 6 + Z99 * float(err[ACC][:, -1].std(ddof=1)) / math.sqrt(len(err[ACC])))
        between.append(last[ACC] < last[SUB] < last[REP])
        for arm, regime, out in ((REP, Replace(), rep_fit), (ACC, Accumulate(), acc_fit)):
            pred = theory.predict("fitted_mean_sq_error", family=GaussianFamily(ddof=1), regime=regime, world=gaussian(d),
                                  n=n, generations=t_max) / one
            last_err = err[arm][:, -1]
            out.append((last_err.mean() / pred[-1], last_err.std(ddof=1) / math.sqrt(last_err.size) / pred[-1]))
    cells = len(grows)
    rows = (
        Claim("replace_grows", "replace: the mean's error diverges (last >= half of T x generation 0)",
              f"{PAPER}, §3 (Gaussian): replace collapses in every setting", at_least(1.0), published="every cell"
              ).row(_share(grows, cells), ctx.scale),
        Claim("accumulate_bounded", "accumulate: the mean's error stays below pi^2/6 of one fit",
              f"{PAPER}, §3; Gerstgrasser et al. 2024, Thm 2", at_least(1.0), published="every cell"
              ).row(_share(bounded, cells), ctx.scale),
        Claim("subsample_between", "accumulate-subsample: above accumulate, below replace at the last generation",
              f"{PAPER}, §4: a larger test loss than accumulate that plateaus", at_least(0.9),
              published="every cell (≥ 90% of cells here: equal-size noise)").row(_share(between, cells), ctx.scale),
        Claim("closed_form_replace", "replace, last generation: simulated / closed-form error, mean over cells",
              "redqueen.theory.gaussian_moments (exact: (t+1) tr Sigma / n)", close(1.0, rtol=0.02),
              published="1").row(_pooled(rep_fit), ctx.scale),
        Claim("closed_form_accumulate", "accumulate, last generation: simulated / closed-form error, mean over cells",
              "redqueen.theory.gaussian_moments (exact)", close(1.0, rtol=0.02), published="1"
              ).row(_pooled(acc_fit), ctx.scale),
    )
    fig = _grid_figure(finals, "last generation's mean error / one fit's")
    return Outcome(rows, tuple(ids), (("last generation by cell", fig),))


def run_kde(ctx: Context) -> Outcome:
    grows, bounded, between, finals, ids = [], [], [], {}, []
    for d, n, results in _cells(ctx, "kazdan_kde"):
        ids += X.run_ids(results)
        nll = {a: X.trajectory(results, a, "nll_real") for a in (REP, ACC, SUB)}
        rise = {a: float((nll[a][:, -1] - nll[a][:, 0]).mean()) for a in nll}
        finals[(d, n)] = rise
        grows.append(rise[REP] > 0)
        bounded.append(rise[ACC] < rise[REP] / 2)
        between.append(rise[ACC] <= rise[SUB] <= rise[REP])
    cells = len(grows)
    rows = (
        Claim("kde_replace_grows", "replace: the real data's NLL rises", f"{PAPER}, §3 (KDE)", at_least(1.0),
              published="every cell").row(_share(grows, cells), ctx.scale),
        Claim("kde_accumulate", "accumulate: rises less than half as much as replace", f"{PAPER}, §3 (KDE)",
              at_least(1.0), published="every cell").row(_share(bounded, cells), ctx.scale),
        Claim("kde_subsample", "accumulate-subsample: between accumulate and replace", f"{PAPER}, §4 (KDE)",
              at_least(0.9), published="every cell (≥ 90% here)").row(_share(between, cells), ctx.scale),
    )
    fig = _grid_figure(finals, "rise of the real data's NLL, generation 0 to last")
    return Outcome(rows, tuple(ids), (("last generation by cell", fig),))


def _grid_figure(finals: dict, ylabel: str) -> bytes:
    ns = sorted({n for _, n in finals})
    series, styles = {}, {}
    for arm, style in ((REP, "-"), (SUB, "--"), (ACC, ":")):
        for i, d in enumerate(sorted({d for d, _ in finals})):
            series[f"{arm}, d={d}"] = (np.array(ns), np.array([finals[(d, n)][arm] for n in ns]))
            styles[f"{arm}, d={d}"] = (i, style)
    return figures.lines(series, xlabel="n", ylabel=ylabel, size=(7.0, 4.5), styles=styles, logx=True)


GAUSSIAN = Reproduction(
    name="kazdan-gaussian", paper=PAPER, run=run_gaussian,
    summary="Gaussian over the d x n grid: replace diverges, accumulate bounded, subsample between; closed forms",
    claims=("replace collapses", "accumulate bounded", "subsample between"), minutes={"quick": 0.3, "paper": 15})
KDE = Reproduction(
    name="kazdan-kde", paper=PAPER, run=run_kde,
    summary="KDE over the d x n grid: replace's test NLL rises, accumulate's barely, subsample between",
    claims=("replace collapses", "accumulate bounded", "subsample between"), minutes={"quick": 0.3, "paper": 20})
