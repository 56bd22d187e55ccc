"""Gerstgrasser et al. 2024 and Dey & Donoho 2024: linear regression, replace against accumulate.

With ``d = 10`` inputs, ``T = 100`` rows and ``sigma = 1`` one OLS fit has expected excess test
error ``sigma^2 d / (T - d - 1) = 10/89``. Replacing the data adds that much at every refit
(Gerstgrasser et al., Theorem 1: about 1.12 at the 10th fit); accumulating it sums
``1/(j+1)^2`` of it and stays below ``pi^2/6`` of one fit (Theorem 2: about 0.185).
"""

from __future__ import annotations

import math

import numpy as np

from redqueen.reproduce import experiments as X
from redqueen.reproduce.base import Claim, Context, Outcome, Reproduction, at_most, close

SOURCE = "Gerstgrasser et al. 2024 (arXiv:2404.01413)"
CLAIMS = {
    "one_fit": "one fit's excess test error, sigma^2 d/(T-d-1)",
    "replace_10": "replace, 10th fit (generation 9): 10 x one fit",
    "replace_slope": "replace: error added per refit (least-squares slope)",
    "accumulate_last": "accumulate, last generation: below pi^2/6 x one fit",
}


def run(ctx: Context) -> Outcome:
    exp = X.experiment("gerstgrasser_regression", ctx.scale, ctx)
    results = X.run(ctx, exp)
    d, n = exp.world.d, exp.n
    one = exp.world.sigma**2 * d / (n - d - 1)
    rep = X.trajectory(results, "replace", "test_error")
    acc = X.trajectory(results, "accumulate", "test_error")
    t = np.arange(rep.shape[1])
    # per-replicate least-squares slope of error on generation: its mean and spread over replicates
    slopes = (rep - rep.mean(axis=1, keepdims=True)) @ (t - t.mean()) / np.sum((t - t.mean()) ** 2)
    rows = (
        Claim("one_fit", CLAIMS["one_fit"], f"{SOURCE}, Thm 1 with n = 1; Dey & Donoho 2024",
              close(one, rtol=0.02), published=f"10/89 = {one:.4f}").row(X.mean_of(rep[:, 0]), ctx.scale),
        Claim("replace_10", CLAIMS["replace_10"], f"{SOURCE}, Thm 1 (linear growth)",
              close(10 * one, rtol=0.02), published=f"≈ 1.12 ({10 * one:.4f})").row(X.mean_of(rep[:, 9]), ctx.scale),
        Claim("replace_slope", CLAIMS["replace_slope"], f"{SOURCE}, Thm 1",
              close(one, rtol=0.02)).row(X.mean_of(slopes), ctx.scale),
        Claim("accumulate_last", CLAIMS["accumulate_last"], f"{SOURCE}, Thm 2 (bounded error)",
              at_most(math.pi**2 / 6 * one), published=f"< pi^2/6 x 10/89 = {math.pi**2 / 6 * one:.4f}"
              ).row(X.mean_of(acc[:, -1]), ctx.scale),
    )
    return Outcome(rows, X.run_ids(results))


REGRESSION = Reproduction(
    name="gerstgrasser-regression",
    paper="Gerstgrasser et al. 2024, Is model collapse inevitable?; Dey & Donoho 2024",
    summary="linear regression on its own labels: replace grows linearly, accumulate stays below pi^2/6",
    run=run,
    claims=tuple(CLAIMS.values()),
    minutes={"quick": 0.2, "paper": 2},
)
