"""Feng et al. 2024 (synthesized data requires verification) and Yi et al. 2026 (the verifier's knowledge centre).

A Gaussian refitted to its own samples on N(0, 1) (replace, unbiased covariance) collapses in
Gerstgrasser's sense: its mean's squared error grows by one fit's ``sigma^2 / n`` at every refit
(exactly ``(t + 1) / n``). Feng et al.'s remedy is to keep only what a verifier accepts; here the
verifier calls an item good when the world's log-likelihood of it is at least the ``q`` quantile of
real items' (in one dimension ``|x| <= r``, ``r = Phi^-1(1 - q/2)``) and judges right with
probability ``a`` (:class:`redqueen.loop.filters.Verifier`). Its acceptance is centred on the world's
mode, so it pulls a wandering mean back and the error stays far below the unverified loop's.

Yi et al.'s long-run statement is that verified retraining converges to the verifier's *knowledge
centre* -- what the verifier accepts -- rather than to the world. This verifier knows the world
exactly but selects for typicality, so its centre is the world's mode: each verified refit shrinks
the variance, by :func:`verified_variance` ``g(v) / v`` at the first step (0.669 at ``a = 0.9``,
0.883 at ``a = 0.6`` for ``q = 0.1``), and the samples grow more typical than the world's own
(their world log-likelihood climbs above the world's mean ``-1/2 log(2 pi e)`` towards the mode's
``-1/2 log(2 pi)``). A weaker verifier moves both ways less: the mean wanders more, the spread
shrinks more slowly.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from redqueen.reproduce import experiments as X
from redqueen.reproduce import figures
from redqueen.reproduce.base import Claim, Context, Measured, Outcome, Reproduction, at_least, at_most, close

PAPER = ("Feng et al. 2024, Beyond model collapse: scaling up with synthesized data requires verification "
         "(arXiv:2406.07515)")
YI = "Yi, Liu, Cheng & Xu, Escaping model collapse via synthetic data verification (arXiv:2510.16657, 2026), Sec. 4"
NONE, STRONG, WEAK = "no verifier", "verifier 90%", "verifier 60%"
WORLD_LOGLIK = -0.5 * math.log(2 * math.pi * math.e)  # E log N(X; 0, 1), X ~ N(0, 1)


def verified_variance(v: float, *, accuracy: float, quantile: float) -> float:
    """The variance of N(0, v) after the verifier: items with ``|x| <= r`` (``r`` the world N(0, 1)'s
    two-sided ``1 - quantile`` point) kept with probability ``accuracy``, the rest with ``1 - accuracy``.

    With ``u = r / sqrt(v)``, ``P_in = 2 Phi(u) - 1`` and ``E[x^2; in] = v (P_in - 2 u phi(u))``.
    """
    r = norm.ppf(1 - quantile / 2)
    u = r / math.sqrt(v)
    p_in = 2 * norm.cdf(u) - 1
    m_in = v * (p_in - 2 * u * norm.pdf(u))
    a = accuracy
    return (a * m_in + (1 - a) * (v - m_in)) / (a * p_in + (1 - a) * (1 - p_in))


def run(ctx: Context) -> Outcome:
    exp = X.experiment("feng_verifier", ctx.scale, ctx)
    results = X.run(ctx, exp)
    T, n = exp.generations, exp.n
    arms = {a.name: a for a in exp.arms}
    err = {a: X.trajectory(results, a, "fitted_mean_sq_error") * n for a in arms}  # in units of one fit's 1/n
    var = {a: X.trajectory(results, a, "fitted_var_ratio") for a in arms}
    loglik = {a: X.trajectory(results, a, "loglik") for a in arms}
    rows = [
        Claim("unverified_collapses", f"no verifier: the mean's squared error at generation {T}, in one fit's 1/n",
              f"{PAPER} (unverified synthesized data degrades the model); Gerstgrasser et al. 2024, Thm 1",
              close(T + 1, rtol=0.1), published=f"grows by one fit a refit: exactly {T + 1}").row(
            X.mean_of(err[NONE][:, -1]), ctx.scale),
        Claim("verified_much_less", f"verifier 90%: the mean's error at generation {T} / no verifier's",
              f"{PAPER} (selection by a verifier prevents collapse)", at_most(0.5),
              published="far below: no collapse").row(
            X.mean_of(err[STRONG][:, -1] / err[NONE][:, -1].mean()), ctx.scale),
        Claim("weak_helps_less", f"verifier 60% against 90%: the mean's error at generation {T}, difference",
              f"{PAPER} (a weaker verifier helps less)", at_least(0.0), published="> 0").row(
            X.mean_of(err[WEAK][:, -1] - err[STRONG][:, -1]), ctx.scale),
    ]
    for name in (STRONG, WEAK):
        c = arms[name].curation[0]
        g = verified_variance(1.0, accuracy=c.accuracy, quantile=c.quantile)
        rows.append(Claim(f"shrink_{round(100 * c.accuracy)}", f"{name}: the fitted variance's first step v_1 / v_0",
                          "closed form: the verifier's truncation of N(0, v) (verified_variance)",
                          close(g, rtol=0.05), published=f"{g:.3f}").row(
            X.mean_of(var[name][:, 1] / var[name][:, 0]), ctx.scale))
    rows += [
        Claim("centre_not_world", f"verifier 90%: the fitted variance at generation {T} / the world's",
              f"{YI} (converges to the verifier's knowledge centre, not the world)", at_most(0.5),
              published="→ the centre (here the world's mode: 0), not 1").row(X.mean_of(var[STRONG][:, -1]), ctx.scale),
        Claim("more_typical", f"verifier 90%: the samples' world log-likelihood at generation {T} minus the world's own "
              f"({WORLD_LOGLIK:.3f})", f"{YI}; {PAPER} (the verifier selects for its own notion of quality)",
              at_least(0.0), published="> 0, up to 1/2 at the mode").row(
            X.mean_of(loglik[STRONG][:, -1] - WORLD_LOGLIK), ctx.scale),
        Claim("weak_centres_slower", f"verifier 60% against 90%: the fitted variance averaged over generations "
              f"1-{T}, difference", f"{YI} (a weaker verifier converges more slowly)", at_least(0.0),
              published="> 0").row(X.mean_of(var[WEAK][:, 1:].mean(axis=1) - var[STRONG][:, 1:].mean(axis=1)),
                                   ctx.scale),
    ]
    t = np.arange(T + 1)
    fig_err = figures.lines({k: (t, v.mean(axis=0)) for k, v in err.items()}, xlabel="generation",
                            ylabel="mean's squared error × n", dashed={"no verifier: t + 1": (t, t + 1.0)})
    fig_var = figures.lines({k: (t, v.mean(axis=0)) for k, v in var.items()}, xlabel="generation",
                            ylabel="fitted variance / world's")
    return Outcome(tuple(rows), X.run_ids(results), (("the mean's error by verifier", fig_err),
                                                     ("the spread by verifier", fig_var)),
                   ("the verifier knows the world exactly; its knowledge centre is the world's mode, so the "
                    "verified model narrows onto it instead of wandering off",))


FENG = Reproduction(
    name="feng-verifier", paper=f"{PAPER}; {YI}", run=run,
    summary="a verifier stops the collapse of a self-refitted Gaussian, which then narrows onto the verifier's "
            "knowledge centre; a weaker verifier helps less",
    claims=("without verification the model collapses", "a verifier prevents it", "a weaker verifier helps less",
            "the model converges to the verifier's knowledge centre"),
    minutes={"quick": 0.1, "paper": 2})
