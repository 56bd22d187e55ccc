"""Alemohammad et al. 2024 (Self-consuming generative models go MAD), with exact theory.

Their three loops on the categorical family (Wright–Fisher; closed forms in
:mod:`redqueen.theory.drift`): the fully synthetic loop loses diversity without end ("MAD"); a
fixed real set (synthetic augmentation) only slows it; fresh real data every generation holds the
model at an equilibrium, within 10% of the real diversity only above a threshold fraction of fresh
data; sampling bias (temperature 0.9, their lambda < 1) loses diversity faster. Diversity is the
heterozygosity H (Gini–Simpson) relative to the world's. Precision — their other axis of sampling
bias — is not measured here: a categorical model emits only real types.
"""

from __future__ import annotations

import numpy as np

from redqueen import theory
from redqueen.loop import Fresh
from redqueen.reproduce import experiments as X
from redqueen.reproduce import figures
from redqueen.runtime.predictions import _Arms
from redqueen.reproduce.base import Claim, Context, Measured, Outcome, Reproduction, at_least, at_most, close
from redqueen.worlds import zipf

PAPER = "Alemohammad et al. 2024, ICLR (arXiv:2307.01850)"
SYN, AUG, BIAS = "fully synthetic", "synthetic augmentation 20%", "sampling bias 0.9"


def threshold(probs: np.ndarray, n: int, share: float = 0.9) -> float:
    """The smallest fresh fraction m/n whose equilibrium H* keeps ``share`` of the world's H."""
    world_h = 1 - probs @ probs
    for m in range(1, n + 1):
        if theory.categorical_equilibrium(world_probs=probs, n=n, regime=Fresh(m / n)) >= share * world_h:
            return m / n
    return 1.0


def run(ctx: Context) -> Outcome:
    exp = X.experiment("alemohammad_mad", ctx.scale, ctx)
    results = X.run(ctx, exp)
    probs = zipf(exp.world.k, exp.world.s).probs
    world_h = float(1 - probs @ probs)
    T = exp.generations
    h = {a.name: X.trajectory(results, a.name, "heterozygosity") / world_h for a in exp.arms}
    arms = _Arms(exp)
    pred = {a.name: arms.predict(a.name, "heterozygosity", T, None) for a in exp.arms}
    pred = {k: v / world_h for k, v in pred.items() if v is not None}
    f_star = threshold(probs, exp.n)
    fresh = [a for a in exp.arms if a.regime == "fresh" and a.real_source == "world"]
    sides = [bool((h[a.name][:, -1].mean() >= 0.9) == (a.real_fraction >= f_star)) for a in fresh]
    rows = [
        Claim("mad_synthetic", f"fully synthetic: H after {T} generations / world's",
              f"{PAPER}, fully synthetic loop", close(pred[SYN][-1], rtol=0.03),
              published=f"falls without end: (1-1/N)^t = {pred[SYN][-1]:.3f}").row(X.mean_of(h[SYN][:, -1]), ctx.scale),
        Claim("mad_augmentation", "synthetic augmentation (20% fixed real): last H above fully synthetic, "
              "below fresh 20%", f"{PAPER}, synthetic augmentation loop", at_least(1.0),
              published="only delays MAD").row(Measured(float(
                  h[SYN][:, -1].mean() < h[AUG][:, -1].mean() < h["fresh data 20%"][:, -1].mean())), ctx.scale),
        Claim("mad_threshold", f"fresh-data loops on the predicted side of the threshold f* = {f_star:g} "
              "(H within 10% of the world's iff f >= f*)", f"{PAPER}, fresh data loop (enough fresh data avoids MAD)",
              at_least(1.0), published="all").row(
            Measured(float(np.mean(sides)), 0.0, f"{sum(sides)} of {len(sides)} arms"), ctx.scale),
        Claim("mad_bias", "sampling bias 0.9: last H / unbiased last H", f"{PAPER}, sampling bias lambda < 1",
              at_most(1.0), published="< 1: diversity falls faster").row(
            X.mean_of(h[BIAS][:, -1] / max(h[SYN][:, -1].mean(), 1e-12)), ctx.scale),
    ]
    for a in fresh:
        rows.append(Claim(f"fresh_{a.real_fraction:g}", f"fresh data {a.real_fraction:.0%}: last H / world's",
                          "redqueen.theory.categorical_heterozygosity (exact)", close(pred[a.name][-1], rtol=0.03)
                          ).row(X.mean_of(h[a.name][:, -1]), ctx.scale))
    t = np.arange(T + 1)
    fig = figures.lines({k: (t, v.mean(axis=0)) for k, v in h.items()}, xlabel="generation", ylabel="H / world's H",
                        dashed={f"{k}: theory": (t, v) for k, v in pred.items()})
    return Outcome(tuple(rows), X.run_ids(results), (("diversity by loop", fig),),
                   (f"fresh-data threshold from theory: f* = {f_star:g} of each training set",))


MAD = Reproduction(
    name="alemohammad-mad", paper=PAPER, run=run,
    summary="the three MAD loops: fully synthetic collapses, a fixed real set delays it, enough fresh data holds it",
    claims=("fully synthetic goes MAD", "augmentation only delays", "fresh-data threshold", "sampling bias"),
    minutes={"quick": 0.2, "paper": 3})
