"""Loop overhead against bare loops, measured side by side in one process.

1. Categorical: K = 50,000 types, N = 1,000,000 samples per generation, 100
   generations, every categorical diagnostic each generation (redqueen's
   Lineage, and the full runner with the SQLite store) against a bare numpy
   loop that only resamples with rng.multinomial. Goal: <= 1.5x.
2. Gaussian mixture: 10 components, ``--gmm-n`` 2-D points, 10 generations
   (EM fixed at 30 iterations). Each redqueen lineage run records every
   ``GaussianMixture.fit`` and ``.sample`` call it makes (data, parameters,
   seed) and the seconds spent inside them; right after it, a bare
   scikit-learn loop replays exactly those calls (same data, same seeds).
   Two ratios per run: lineage / bare replay, and lineage total / its own time
   inside fit + sample (the overhead measured directly, immune to the load
   changing between the two). Goal: <= 1.1x. Medians, min-max and a
   bootstrap 95% interval of the per-run ratio.

The categorical variants run `--repeats` times, interleaved; medians and the
ratio of medians are printed as a markdown table.

    python benchmarks/bench_loop.py [--repeats 5] [--quick] [--only gmm --gmm-repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import warnings

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from redqueen.loop import Lineage, Replace  # noqa: E402
from redqueen.models import CategoricalFamily, gmm  # noqa: E402
from redqueen.runtime import config as C  # noqa: E402
from redqueen.runtime.runner import run_experiment  # noqa: E402
from redqueen.worlds import ring_mixture, zipf  # noqa: E402


def bare_categorical(k, n, gens, seed):
    rng = np.random.default_rng(seed)
    p = zipf(k, 1.1).probs
    counts = rng.multinomial(n, p)
    for _ in range(gens):
        counts = rng.multinomial(n, counts / n)
    return counts


def lineage_categorical(k, n, gens, seed):
    lin = Lineage(world=zipf(k, 1.1), make_family=CategoricalFamily, regime=Replace(), n=n, seed=seed)
    for _ in range(gens + 1):
        rec = lin.step()
    return rec


def runner_categorical(k, n, gens, seed, folder):
    from redqueen.runtime.store import Store

    exp = C.validate({"seed": seed, "generations": gens, "n": n, "world": {"kind": "zipf", "k": k, "s": 1.1},
                      "family": {"kind": "categorical"}, "arms": [{"name": "replace"}]})
    return run_experiment(exp, store=Store(folder))


# EM runs exactly this many iterations on both sides (tol = 0), so both loops do the same work
GMM_ITER = 30


class _Recorded:
    """Wraps ``GaussianMixture.fit`` and ``.sample`` while a redqueen lineage runs: the seconds spent
    inside them (the work a bare loop does too) and what each call got, to replay it bare."""

    def __init__(self):
        from sklearn.mixture import GaussianMixture

        self.cls, self.calls, self.inside = GaussianMixture, [], 0.0
        self.fit, self.sample = GaussianMixture.fit, GaussianMixture.sample

    def __enter__(self):
        rec = self

        def fit(est, x, y=None):
            t = time.perf_counter()
            out = rec.fit(est, x, y)
            rec.inside += time.perf_counter() - t
            rec.calls.append(("fit", est.get_params(), x.copy()))
            return out

        def sample(est, n_samples=1):
            t = time.perf_counter()
            out = rec.sample(est, n_samples)
            rec.inside += time.perf_counter() - t
            rec.calls.append(("sample", est.random_state, n_samples))
            return out

        self.cls.fit, self.cls.sample = fit, sample
        return self

    def __exit__(self, *exc):
        self.cls.fit, self.cls.sample = self.fit, self.sample


def lineage_gmm(n, gens, seed):
    """A redqueen GMM lineage (all diagnostics); returns (seconds, seconds inside fit + sample, the calls)."""
    lin = Lineage(world=ring_mixture(10, 2), make_family=lambda: gmm(components=10, max_iter=GMM_ITER, tol=0.0),
                  regime=Replace(), n=n, seed=seed)
    with _Recorded() as rec:
        t = time.perf_counter()
        for _ in range(gens + 1):
            lin.step()
        total = time.perf_counter() - t
    return total, rec.inside, rec.calls


def bare_gmm(calls):
    """The bare scikit-learn loop on exactly the lineage's data and seeds: the same fits, the same samples."""
    from sklearn.mixture import GaussianMixture

    t = time.perf_counter()
    est = None
    for kind, a, b in calls:
        if kind == "fit":
            est = GaussianMixture(**a).fit(b)
        else:
            est.random_state = a
            est.sample(b)
    return time.perf_counter() - t


def gmm_table(n, gens, repeats) -> str:
    """redqueen's GMM lineage against the bare loop on the same data and seeds, interleaved; and the
    overhead measured directly inside each lineage run (time outside GaussianMixture.fit/.sample)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _measure import load, ratio_text, spread

    before = load()
    ours, inside, bare = [], [], []
    lineage_gmm(n, 1, 99)  # imports, first-call costs
    for rep in range(repeats):
        total, ins, calls = lineage_gmm(n, gens, rep)
        ours.append(total)
        inside.append(ins)
        bare.append(bare_gmm(calls))  # right after: the calls are what this lineage did
    outside = [o / i for o, i in zip(ours, inside)]
    return (f"GMM: 10 components, {n:,} 2-D points, {gens} generations, EM fixed at {GMM_ITER} iterations; {repeats} "
            f"rounds, bare loop replaying each lineage's own fits and samples (same data, same seeds), run right after "
            f"it and before the next lineage; before: {before}; after: {load()}\n\n"
            "| variant | median s (min-max) | ratio to bare | goal |\n| --- | --- | --- | --- |\n"
            f"| bare sklearn fit/sample (same data, seeds) | {spread(bare)} | 1 | |\n"
            f"| redqueen GMM `Lineage` (all diagnostics) | {spread(ours)} | {ratio_text(ours, bare)} | <= 1.1x |\n"
            f"| the same runs: total / time inside fit + sample | | {ratio_text(ours, inside)} | <= 1.1x |\n\n"
            f"(the direct ratio per run: {', '.join(f'{x:.3f}' for x in outside)})")


def timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main():
    warnings.filterwarnings("ignore", message=".*converge.*")  # tol = 0: EM never declares convergence
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument("--only", choices=["categorical", "gmm"])
    ap.add_argument("--gmm-n", type=int, default=20_000, help="points per generation of the GMM lineage")
    ap.add_argument("--gmm-repeats", type=int, default=9)
    args = ap.parse_args()
    k, n, gens = (5000, 100_000, 20) if args.quick else (50_000, 1_000_000, 100)
    gn, ggens = (5_000, 3) if args.quick else (args.gmm_n, 10)
    times = {"bare multinomial": [], "redqueen lineage": [], "redqueen run + store": []}
    if args.only in (None, "gmm"):
        gmm_out = gmm_table(gn, ggens, args.gmm_repeats)
    if args.only == "gmm":
        print(gmm_out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            times["bare multinomial"].append(timed(bare_categorical, k, n, gens, rep))
            times["redqueen lineage"].append(timed(lineage_categorical, k, n, gens, rep))
            times["redqueen run + store"].append(timed(runner_categorical, k, n, gens, rep, Path(tmp) / str(rep)))
    med = {k_: statistics.median(v) for k_, v in times.items()}
    print(f"categorical: K={k}, N={n}, {gens} generations\n")
    print("| variant | runs | median s | ratio to bare | goal |")
    print("| --- | --- | --- | --- | --- |")
    for name, base, goal in (("bare multinomial", "bare multinomial", ""), ("redqueen lineage", "bare multinomial", "<= 1.5x"),
                             ("redqueen run + store", "bare multinomial", "<= 1.5x")):
        print(f"| {name} | {len(times[name])} | {med[name]:.3f} | {med[name] / med[base]:.2f}x | {goal} |")
    if args.only is None:
        print("\n" + gmm_out)


if __name__ == "__main__":
    main()
