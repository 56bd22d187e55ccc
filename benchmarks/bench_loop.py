"""Loop overhead against bare loops, measured side by side in one process.

1. Categorical: K = 50,000 types, N = 1,000,000 samples per generation, 100
   generations, every categorical diagnostic each generation (redqueen's
   Lineage, and the full runner with the SQLite store) against a bare numpy
   loop that only resamples with rng.multinomial. Goal: <= 1.5x.
2. Gaussian mixture: 10 components, 1e5 2-D points, 10 generations, against a
   bare scikit-learn fit/sample loop with the same estimator settings
   (EM fixed at 30 iterations on both sides so that both do the same work).
   Goal: <= 1.1x.

Each variant runs `--repeats` times, interleaved; medians and the ratio of
medians are printed as a markdown table.

    python benchmarks/bench_loop.py [--repeats 5] [--quick]
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


def bare_gmm(n, gens, seed):
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    x = ring_mixture(10, 2).sample(n, rng).x
    for _ in range(gens + 1):
        est = GaussianMixture(n_components=10, max_iter=GMM_ITER, tol=0.0, random_state=int(rng.integers(2**31 - 1))).fit(x)
        est.random_state = int(rng.integers(2**31 - 1))
        x = est.sample(n)[0]
    return x


def lineage_gmm(n, gens, seed):
    lin = Lineage(world=ring_mixture(10, 2), make_family=lambda: gmm(components=10, max_iter=GMM_ITER, tol=0.0),
                  regime=Replace(), n=n, seed=seed)
    for _ in range(gens + 1):
        rec = lin.step()
    return rec


def timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main():
    warnings.filterwarnings("ignore", message=".*converge.*")  # tol = 0: EM never declares convergence
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = ap.parse_args()
    k, n, gens = (5000, 100_000, 20) if args.quick else (50_000, 1_000_000, 100)
    gn, ggens = (10_000, 3) if args.quick else (100_000, 10)
    times = {"bare multinomial": [], "redqueen lineage": [], "redqueen run + store": [],
             "bare sklearn GMM": [], "redqueen GMM lineage": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            times["bare multinomial"].append(timed(bare_categorical, k, n, gens, rep))
            times["redqueen lineage"].append(timed(lineage_categorical, k, n, gens, rep))
            times["redqueen run + store"].append(timed(runner_categorical, k, n, gens, rep, Path(tmp) / str(rep)))
        for rep in range(max(1, args.repeats // 2 + 1)):
            times["bare sklearn GMM"].append(timed(bare_gmm, gn, ggens, rep))
            times["redqueen GMM lineage"].append(timed(lineage_gmm, gn, ggens, rep))
    med = {k_: statistics.median(v) for k_, v in times.items()}
    print(f"categorical: K={k}, N={n}, {gens} generations; GMM: 10 components, {gn} 2-D points, {ggens} generations\n")
    print("| variant | runs | median s | ratio to bare | goal |")
    print("| --- | --- | --- | --- | --- |")
    for name, base, goal in (("bare multinomial", "bare multinomial", ""), ("redqueen lineage", "bare multinomial", "<= 1.5x"),
                             ("redqueen run + store", "bare multinomial", "<= 1.5x"),
                             ("bare sklearn GMM", "bare sklearn GMM", ""), ("redqueen GMM lineage", "bare sklearn GMM", "<= 1.1x")):
        print(f"| {name} | {len(times[name])} | {med[name]:.3f} | {med[name] / med[base]:.2f}x | {goal} |")


if __name__ == "__main__":
    main()
