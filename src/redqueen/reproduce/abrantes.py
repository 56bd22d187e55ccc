"""Sakana's M2N2 on digits (Abrantes, Lange & Tang 2025, Competition and attraction improve model fusion).

The paper's digits figures: an MLP evolved from scratch for 50,000 forward passes, and two MLPs
pre-trained on digits 0-4 and 5-9 merged for 10,000, each against its ablations and baselines. The
arms run as one experiment on the population runtime (world ``digits_task``, family ``mlp``, the
``m2n2`` / ``ga`` / ``map_elites`` / ``cma`` couplings; what ``redqueen evolve`` runs for
examples/m2n2_digits*.toml). The measured value is the test accuracy of the best-on-train member at
the budget, its mean and standard error over seeds (the config's replicates; ``--seeds`` lists the
seeds instead, one run each). The published numbers are read off the paper's figure (about a point
of precision); the claim to meet is their order, checked pair by pair down the published ranking
(each gap at least 0, widened by 2.58 standard errors), and at paper scale each arm's value within
5 points. Quick scale runs a few hundred passes, where the ranking has not formed yet (from scratch
the GA was ahead at 2,000 passes in a 3-seed trial, 0.53 against 0.45; BENCHMARKS.md §3 has M2N2
ahead by 5,000), so it checks what holds that early: M2N2 from scratch
learns (test accuracy well above chance 0.1), and merging the two pre-trained models (each knows half
the digits) passes 0.6 within a few hundred children; the quick order rows (M2N2 against no
crossover, against the GA) are printed too, but with 2-3 seeds their standard errors (0.06-0.09)
leave them little power.
"""

from __future__ import annotations

import numpy as np

from redqueen.reproduce import experiments as X
from redqueen.reproduce import figures
from redqueen.reproduce.base import Claim, Context, Measured, Outcome, Reproduction, at_least, close

PAPER = "Abrantes, Lange & Tang 2025, Competition and attraction improve model fusion (M2N2, arXiv:2508.16204)"
#: arm -> published test accuracy at the paper's budget, best first (issue 13, read off the figures)
SCRATCH = {"M2N2": 0.87, "CMA-ES": 0.86, "no crossover": 0.77, "GA without crossover": 0.71, "GA": 0.68,
           "MAP-Elites": 0.60}
PRETRAINED = {"M2N2": 0.685, "no matchmaker": 0.66, "MAP-Elites": 0.62, "no split point": 0.577, "GA": 0.52}
BUDGET = {"m2n2_scratch": 50_000, "m2n2_pretrained": 10_000}
FIGURE = {"m2n2_scratch": "digits from scratch, 50,000 passes", "m2n2_pretrained": "digits from two pre-trained "
          "models, 10,000 passes"}


def _run(ctx: Context, config: str, published: dict[str, float], floor: dict[str, float]) -> Outcome:
    exp = X.experiment(config, ctx.scale, ctx)
    if ctx.seeds:  # one run per listed seed
        exp = exp.model_copy(update={"replicates": 1})
    results = X.run(ctx, exp)
    names = [a.name for a in exp.arms]
    acc = {a: X.trajectory(results, a, "best_test_acc") for a in names}
    passes = X.trajectory(results, names[0], "forward_passes")[0]
    budget = int(passes[-1])
    source = f"{PAPER}, {FIGURE[config]}"
    ranked = [a for a in published if a in acc]
    rows = []
    if budget == BUDGET[config]:
        rows += [Claim(f"acc_{a}", f"{a}: test accuracy at {budget:,} passes", source, close(published[a], atol=0.05),
                       published=f"≈ {published[a]:g}").row(X.mean_of(acc[a][:, -1]), ctx.scale) for a in ranked]
    for hi, lo in zip(ranked, ranked[1:]):
        rows.append(Claim(f"order_{hi}_{lo}", f"{hi} − {lo}: test accuracy at {budget:,} passes", source, at_least(0.0),
                          published=f"{published[hi] - published[lo]:+.3g} (≥ 0)").row(
            Measured(float(acc[hi][:, -1].mean() - acc[lo][:, -1].mean()),
                     float(np.hypot(X.mean_of(acc[hi][:, -1]).se, X.mean_of(acc[lo][:, -1]).se))), ctx.scale))
    if len(ranked) > 2:
        means = {a: float(acc[a][:, -1].mean()) for a in ranked}
        ok = max(means, key=means.get) == ranked[0] and min(means, key=means.get) == ranked[-1]
        rows.append(Claim("order_ends", f"{ranked[0]} first and {ranked[-1]} last (means)", source, at_least(1.0),
                          published="yes").row(Measured(float(ok), 0.0, " > ".join(sorted(means, key=means.get,
                                                                                            reverse=True))), ctx.scale))
    for a, low in floor.items():
        if a in acc and budget < BUDGET[config]:
            rows.append(Claim(f"learns_{a}", f"{a}: test accuracy at {budget:,} passes (chance 0.1)",
                              f"{source} (the curve's start)", at_least(low)).row(X.mean_of(acc[a][:, -1]), ctx.scale))
    fig = figures.lines({a: (passes, v.mean(axis=0)) for a, v in acc.items()}, xlabel="forward passes",
                        ylabel="test accuracy of the best on train")
    notes = (f"{acc[names[0]].shape[0]} seeds per arm; published values are read off the paper's figure",)
    return Outcome(tuple(rows), X.run_ids(results), ((FIGURE[config], fig),), notes)


def run_scratch(ctx: Context) -> Outcome:
    return _run(ctx, "m2n2_scratch", SCRATCH, {"M2N2": 0.25})


def run_pretrained(ctx: Context) -> Outcome:
    return _run(ctx, "m2n2_pretrained", PRETRAINED, {"M2N2": 0.6})


SCRATCH_REP = Reproduction(
    name="m2n2-scratch", paper=PAPER, run=run_scratch,
    summary="M2N2 from scratch on digits against its ablations, the GA, MAP-Elites and CMA-ES: the order at 50,000 passes",
    claims=("M2N2 ≈ 0.87 > CMA-ES ≈ 0.86 > no crossover ≈ 0.77 > GA without crossover ≈ 0.71 > GA ≈ 0.68 > "
            "MAP-Elites ≈ 0.60",), minutes={"quick": 0.2, "paper": 76})
PRETRAINED_REP = Reproduction(
    name="m2n2-pretrained", paper=PAPER, run=run_pretrained,
    summary="M2N2 merging two pre-trained digit models against its ablations, MAP-Elites and the GA: the order at 10,000 passes",
    claims=("M2N2 ≈ 0.685 > no matchmaker ≈ 0.66 > MAP-Elites ≈ 0.62 > no split point ≈ 0.577 > GA ≈ 0.52",),
    minutes={"quick": 0.2, "paper": 12})
