"""Bertrand et al. 2024 (On the stability of iterative retraining of generative models on their own data).

Their Theorem 1: retraining on a mix of the fixed real data set and the current model's samples is
stable (it converges to a neighbourhood of the real-data fit) when the real share is large enough
relative to the model's own error; with little or no real data the error is amplified. Here the
model is a KDE, whose bandwidth adds ``h^2`` of variance at every refit (its own error). With a
fraction ``f`` of every training set taken from the generation-0 data, the training variance
follows ``v_t = f v_real + (1 - f)(v_{t-1} + h^2)``: a contraction by ``1 - f`` towards
``v_real + (1 - f) h^2 / f`` (the samples' variance: ``v_real + h^2 / f``), near the real fit for
large ``f``, ever farther as ``f`` falls, and a linear divergence (``+ h^2`` a generation) at ``f = 0``.
:func:`variance_curve` is that recursion with its finite-``n`` factors.
"""

from __future__ import annotations

import numpy as np

from redqueen.reproduce import experiments as X
from redqueen.reproduce import figures
from redqueen.reproduce.base import Claim, Context, Outcome, Reproduction, at_least, close

PAPER = "Bertrand et al. 2024, ICLR (arXiv:2310.00429)"


def variance_curve(f: float, h: float, generations: int, n: int) -> np.ndarray:
    """Expected variance (over the real variance 1) of the KDE's raw samples at generations 0..T.

    The KDE of a training set of empirical variance ``V`` has variance ``P = V + h^2``; a training
    set is ``m = round(f n)`` items of the generation-0 data and ``n - m`` samples of the last model,
    so ``E V_t = f (n-1)/n + (1 - f) (n-m-1)/(n-m) P_{t-1}`` (the small between-group term left out),
    and the ``n - m`` samples the diagnostics measure have ``E var = (n-m-1)/(n-m) P_t`` (numpy's var).
    Stationary: about ``1 + h^2 / f``.
    """
    m = int(round(f * n))
    shrink = (n - m - 1) / (n - m)
    p = [(n - 1) / n + h * h]
    for _ in range(generations):
        p.append(m / n * (n - 1) / n + (n - m) / n * shrink * p[-1] + h * h)
    return shrink * np.array(p)


def run(ctx: Context) -> Outcome:
    exp = X.experiment("bertrand_kde", ctx.scale, ctx)
    results = X.run(ctx, exp)
    h, T = exp.family.bandwidth, exp.generations
    rows, series, dashed = [], {}, {}
    arms = {a.name: (a.real_fraction if a.regime == "fresh" else 0.0) for a in exp.arms}
    last = {}
    for name, f in arms.items():
        var = X.trajectory(results, name, "var_ratio")
        last[f] = var[:, -1]
        pred = variance_curve(f, h, T, exp.n)
        series[name] = (np.arange(T + 1), var.mean(axis=0))
        dashed[f"{name}: recursion"] = (np.arange(T + 1), pred)
        what = (f"f = {f:g}: samples' variance at generation {T} (stationary ~1 + h^2/f = {1 + h * h / f:.3f})" if f
                else f"f = 0: variance at generation {T} (grows by h^2 = {h * h:g} a generation)")
        rows.append(Claim(f"variance_f{f:g}", what, f"{PAPER}, Thm 1 setting; the KDE recursion above",
                          close(pred[-1], rtol=0.05), published=f"{pred[-1]:.3f}").row(X.mean_of(var[:, -1]), ctx.scale))
    fs = sorted(arms.values(), reverse=True)
    gaps = [last[b] - last[a] for a, b in zip(fs, fs[1:])]  # each step to less real data moves farther
    rows.append(Claim("less_real_farther", "the stationary variance's distance from the real fit grows as f falls "
                      "(smallest step between neighbouring f)", f"{PAPER}, Thm 1 (stability needs enough real data)",
                      at_least(0.0), published="> 0").row(min((X.mean_of(g) for g in gaps), key=lambda m: m.value),
                                                            ctx.scale))
    fig = figures.lines(series, xlabel="generation", ylabel="sample variance / real", dashed=dashed)
    return Outcome(tuple(rows), X.run_ids(results), (("variance by generation and real fraction", fig),))


BERTRAND = Reproduction(
    name="bertrand-stability", paper=PAPER, run=run,
    summary="retraining with real fraction f: stable near the real fit for large f, diverging at f = 0",
    claims=("stable for large real fraction", "unstable (diverges) without real data"),
    minutes={"quick": 0.2, "paper": 4})
