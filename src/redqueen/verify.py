"""The verification tier (outside CI, in the manner of msprime's verification.py).

``python -m redqueen.verify [--out FOLDER] [--scale 1.0] [--only NAME]`` runs each check below with
many replicates through the public runtime (``redqueen.validate`` / ``run_experiment``), compares
the *whole distribution* of a simulated quantity with its exact law (QQ plot, Kolmogorov–Smirnov
or chi-square test) and every closed-form mean with its replicate mean (simultaneous 99%
intervals), and writes one HTML page, ``FOLDER/verify.html``. The CI suite checks means at a few
hundred replicates; this tier looks at shapes with thousands.

Exact laws used (one generation's refit given the last, so generations pool):

* Gaussian, replace, d = 1: ``(N - ddof) var_t / var_{t-1} ~ chi^2_{N-1}`` and
  ``N (mean_0 - mu)^2 / sigma^2 ~ chi^2_1``;
* linear regression, replace, unbiased noise: ``(T - d) s^2_t / s^2_{t-1} ~ chi^2_{T-d}``;
* Wright–Fisher with two types: the count of type 1 after ``t`` generations is the binomial
  chain's ``t``-step law (transition matrix to the power ``t``), so ``H_t = 2 p (1 - p)`` has an
  exactly computable distribution.
"""

from __future__ import annotations

import argparse
import html
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

import redqueen


@dataclass
class Result:
    name: str
    law: str
    statistic: str
    p_value: float
    panels: list = field(default_factory=list)  # (title, simulated quantiles, theoretical quantiles)
    means: list = field(default_factory=list)  # (arm, metric, inside, generations)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.p_value > 0.001 and all(inside == total for _, _, inside, total in self.means)


def _run(cfg: dict, store):
    exp = redqueen.validate(cfg)
    return exp, redqueen.run_experiment(exp, store=store, checkpoints=False)


def _mean_checks(exp, result) -> list:
    """Every predicted metric of every arm against its replicate means (simultaneous 99%)."""
    from redqueen.runtime.predictions import comparisons

    return [(arm.name, metric, sum(r.inside for r in rows), len(rows)) for arm, metric, rows, _ in comparisons(exp, result)]


def _qq(sample: np.ndarray, dist, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    q = (np.arange(points) + 0.5) / points
    return np.quantile(sample, q), dist.ppf(q)


def gaussian_variance(store, scale: float) -> Result:
    n, T, R = 10, 20, int(2000 * scale)
    exp, res = _run({"name": "verify: Gaussian refits", "seed": 101, "generations": T, "n": n, "replicates": R,
                     "reference_size": 10, "world": {"kind": "gaussian", "d": 1}, "family": {"kind": "gaussian"},
                     "arms": [{"name": "mle"}, {"name": "unbiased", "family": {"ddof": 1}}]}, store)
    panels, ps = [], []
    for arm, ddof in (("mle", 0), ("unbiased", 1)):
        v = res.trajectory(arm, "fitted_var_ratio")
        ratios = ((n - ddof) * v[:, 1:] / v[:, :-1]).ravel()
        law = stats.chi2(n - 1)
        ps.append(stats.kstest(ratios, law.cdf).pvalue)
        panels.append((f"{arm}: (N-ddof) var_t/var_t-1 vs chi2_{n - 1}", *_qq(ratios, law)))
    m0 = n * res.trajectory("mle", "fitted_mean_sq_error")[:, 0]
    ps.append(stats.kstest(m0, stats.chi2(1).cdf).pvalue)
    panels.append(("N (mean_0 - mu)^2 vs chi2_1", *_qq(m0, stats.chi2(1))))
    return Result("gaussian-refits", "chi-square laws of one refit", "Kolmogorov-Smirnov, smallest of 3",
                  min(ps) * len(ps), panels, _mean_checks(exp, res))


def regression_noise(store, scale: float) -> Result:
    d, n, T, R = 10, 100, 10, int(1000 * scale)
    exp, res = _run({"name": "verify: regression refits", "seed": 102, "generations": T, "n": n, "replicates": R,
                     "reference_size": 10, "world": {"kind": "regression", "d": d}, "family": {"kind": "regression"},
                     "arms": [{"name": "replace"}, {"name": "accumulate", "regime": "accumulate"}]}, store)
    v = res.trajectory("replace", "noise_var_ratio")
    ratios = ((n - d) * v[:, 1:] / v[:, :-1]).ravel()
    law = stats.chi2(n - d)
    p = stats.kstest(ratios, law.cdf).pvalue
    return Result("regression-refits", f"(T-d) s_t^2 / s_t-1^2 ~ chi2_{n - d}", "Kolmogorov-Smirnov", p,
                  [(f"replace: (T-d) s_t^2/s_t-1^2 vs chi2_{n - d}", *_qq(ratios, law))], _mean_checks(exp, res))


def wright_fisher(store, scale: float) -> Result:
    n, T, R = 30, 20, int(2000 * scale)
    exp, res = _run({"name": "verify: two-type Wright-Fisher", "seed": 103, "generations": T, "n": n, "replicates": R,
                     "reference_size": 10, "world": {"kind": "zipf", "k": 2, "s": 1.0},
                     "family": {"kind": "categorical"}, "arms": [{"name": "replace"}]}, store)
    h = res.trajectory("replace", "heterozygosity")
    pi = redqueen.worlds.zipf(2, 1.0).probs[0]
    states = np.arange(n + 1)
    step = stats.binom.pmf(states[None, :], n, states[:, None] / n)  # (n+1, n+1): count -> next count
    law = stats.binom.pmf(states, n, pi)  # generation 0's count
    het = 2 * (states / n) * (1 - states / n)
    panels, ps = [], []
    for t in range(T + 1):
        if t in (1, 5, 20):
            # H takes the value het[c] for counts c and n - c alike: compare on the distinct values
            values, inverse = np.unique(np.round(het, 12), return_inverse=True)
            probs = np.bincount(inverse, weights=law, minlength=values.size)
            observed = np.array([np.sum(np.isclose(h[:, t], v)) for v in values])
            expected = probs * h.shape[0]
            keep = expected >= 5
            chi = np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep]) + (
                (observed[~keep].sum() - expected[~keep].sum()) ** 2 / max(expected[~keep].sum(), 1e-9))
            ps.append(stats.chi2(int(keep.sum())).sf(chi))
            q = (np.arange(200) + 0.5) / 200
            theo = values[np.searchsorted(np.cumsum(probs), q).clip(0, values.size - 1)]
            panels.append((f"H_{t}: simulated vs exact", np.quantile(h[:, t], q), theo))
        law = law @ step
    return Result("wright-fisher", "H_t of the binomial chain's t-step law", "chi-square, smallest of 3",
                  min(1.0, min(ps) * len(ps)), panels, _mean_checks(exp, res))


CHECKS = {"gaussian-refits": gaussian_variance, "regression-refits": regression_noise, "wright-fisher": wright_fisher}


def write_page(results: list[Result], path: Path) -> Path:
    import base64

    from redqueen.report import CSS
    from redqueen.reproduce import figures
    from redqueen.runtime.files import atomic_path

    body = ["<h1>redqueen verification</h1><p class='note'>Whole distributions of simulated quantities against "
            "their exact laws (QQ plots; a p-value below 0.001 fails), and every closed-form mean inside "
            "simultaneous 99% intervals.</p><table><tr><th>check</th><th>law</th><th>test</th><th>p</th>"
            "<th>means inside</th><th>seconds</th><th>verdict</th></tr>"]
    for r in results:
        inside = ", ".join(f"{a}/{m}: {i}/{t}" for a, m, i, t in r.means) or "-"
        body.append(f"<tr><td>{html.escape(r.name)}</td><td>{html.escape(r.law)}</td><td>{html.escape(r.statistic)}"
                    f"</td><td>{r.p_value:.3g}</td><td>{html.escape(inside)}</td><td>{r.seconds:.0f}</td>"
                    f"<td>{'pass' if r.ok else 'FAIL'}</td></tr>")
    body.append("</table>")
    for r in results:
        png = base64.b64encode(figures.qq(r.panels, cols=3)).decode()
        body.append(f"<h2>{html.escape(r.name)}</h2><img src='data:image/png;base64,{png}'>")
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>redqueen verification</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m redqueen.verify", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("redqueen-verify"), help="folder for the store and page")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every replicate count (default 1)")
    parser.add_argument("--only", action="append", choices=sorted(CHECKS), help="run only these checks")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 100 or math.isnan(args.scale):
        parser.error("--scale must be in (0, 100]")
    store = redqueen.Store(args.out)
    results = []
    for name in args.only or list(CHECKS):
        t0 = time.perf_counter()
        r = CHECKS[name](store, args.scale)
        r.seconds = time.perf_counter() - t0
        print(f"{name}: p = {r.p_value:.3g}, means inside: "
              f"{sum(i for *_, i, _ in r.means)}/{sum(t for *_, t in r.means)} -> {'pass' if r.ok else 'FAIL'}")
        results.append(r)
    print(f"wrote {write_page(results, args.out / 'verify.html')}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
