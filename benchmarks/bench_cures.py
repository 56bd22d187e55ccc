"""Which cure keeps the tail longest, at equal compute: the cure table of BENCHMARKS.md.

Runs the arm configs benchmarks/cures_wordfreq.toml (wordfreq English, categorical) and
benchmarks/cures_kjv.toml (King James Bible, Kneser-Ney word bigram) -- thirteen arms each, every
arm a population of P members with the same fits and training items per generation -- and prints,
per world, the last generation's numbers as the mean and 95% t-interval over replicates (each
replicate's value is the mean over its P members, i.e. what one member model keeps; ``pool`` columns
are the P members' pooled distribution), then the ranking and paired differences (the arms of one
replicate start from the same real data, so differences are taken replicate by replicate).

    python benchmarks/bench_cures.py [--workers 2] [--only wordfreq|kjv|transformer] [--replicates R] [--generations G]
        [--arms merge,niches]

``--replicates`` / ``--generations`` override the configs (for a smoke run; the table in
BENCHMARKS.md uses the configs as committed). Each config also runs alone with
``redqueen run benchmarks/cures_<world>.toml``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from redqueen.runtime import config as C  # noqa: E402
from redqueen.runtime.executors import make_executor  # noqa: E402
from redqueen.runtime.runner import run_experiment  # noqa: E402

HERE = Path(__file__).resolve().parent
CONFIGS = {"wordfreq": HERE / "cures_wordfreq.toml", "kjv": HERE / "cures_kjv.toml",
           "transformer": HERE / "cures_transformer.toml"}  # not in the default run: 38 min on 2 workers
#: (metric, column title, better): what the table shows
#: types kept (hill0, the types present) compares arms: every arm of a replicate first fits the same real data,
#: while types lost counts from each arm's own generation 0, after that generation's couplings acted
COLUMNS = (("hill0", "types kept", "high"), ("types_lost", "types lost", "low"),
           ("tail_mass_kept", "tail mass kept", "high"), ("kl", "KL", "low"),
           ("hill1", "Hill q=1", "high"), ("ppl_real", "ppl_real", "low"),
           ("pool_hill0", "pool: types kept", "high"), ("pool_types_lost", "pool: types lost", "low"))
DATA_CURES = ("replace", "accumulate", "fresh 10%", "bank 10%", "smoothing", "noise", "filter")


def interval(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its 95% t-interval (NaN-free input)."""
    m = float(np.mean(x))
    if x.size < 2:
        return m, m, m
    half = float(stats.t.ppf(0.975, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


def fmt(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 0.1 else f"{v:.3f}"


def cell(x: np.ndarray) -> str:
    m, lo, hi = interval(x)
    return f"{fmt(m)} [{fmt(lo)}, {fmt(hi)}]"


def paired(a: np.ndarray, b: np.ndarray) -> str:
    """``a - b`` replicate by replicate: mean and 95% interval."""
    return cell(a - b)


def summarise(res, exp) -> None:
    arms = [a.name for a in exp.arms]
    have = [c for c in COLUMNS if any(c[0] in r.metrics for r in res.records)]
    final = {a: {m: res.final(a, m) for m, _, _ in have} for a in arms}
    print("| arm | " + " | ".join(t for _, t, _ in have) + " |")
    print("| --- |" + " --- |" * len(have))
    for a in arms:
        print(f"| {a} | " + " | ".join(cell(final[a][m]) for m, _, _ in have) + " |")
    print()
    equal = [a for a in arms if a in DATA_CURES and a != "accumulate"]  # accumulate's training set grows
    pops = [a for a in arms if a not in DATA_CURES]
    for m, t, better in have:
        if m.startswith("pool_"):
            continue
        mean = {a: float(np.mean(final[a][m])) for a in arms}
        pick = min if better == "low" else max
        ranked = sorted(arms, key=mean.get, reverse=better == "high")
        print(f"- {t} ({better}er is better): " + ", ".join(f"{a} {fmt(mean[a])}" for a in ranked))
        if not (equal and pops and "replace" in arms):  # --arms chose a part of the table
            continue
        best_data, best_pop = pick(equal, key=mean.get), pick(pops, key=mean.get)
        worse = [a for a in pops if (mean[a] > mean["replace"]) == (better == "low") and mean[a] != mean["replace"]]
        print("  each population cure - replace (paired): " + "; ".join(
            f"{a} {paired(final[a][m], final['replace'][m])}" for a in pops))
        print(f"  best population cure {best_pop} - best equal-items data cure {best_data}: "
              f"{paired(final[best_pop][m], final[best_data][m])}; {best_pop} - replace: "
              f"{paired(final[best_pop][m], final['replace'][m])}; population cures worse than replace: "
              f"{', '.join(worse) or 'none'}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2, help="processes (1 = serial)")
    ap.add_argument("--only", choices=list(CONFIGS), action="append")
    ap.add_argument("--replicates", type=int)
    ap.add_argument("--generations", type=int)
    ap.add_argument("--arms", help="comma-separated arm names to run (replace is always run: the pairs need it)")
    args = ap.parse_args()
    total = time.perf_counter()
    for world in args.only or ["wordfreq", "kjv"]:  # the transformer table only when asked (--only transformer)
        exp = C.load(CONFIGS[world])
        update = {k: v for k, v in (("replicates", args.replicates), ("generations", args.generations)) if v}
        if args.arms:
            want = {"replace", *(a.strip() for a in args.arms.split(",") if a.strip())}
            unknown = sorted(want - {a.name for a in exp.arms})
            if unknown:
                ap.error(f"--arms: {world} has no arm {unknown[0]!r}; its arms are {', '.join(a.name for a in exp.arms)}")
            update["arms"] = [a for a in exp.arms if a.name in want]
        exp = exp.model_copy(update=update)
        executor = make_executor("serial") if args.workers == 1 else make_executor("pool", workers=args.workers)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        try:
            res = run_experiment(exp, executor=executor)
        finally:  # on Ctrl-C too: the pool's workers are stopped, not left computing
            executor.close()
        secs = time.perf_counter() - t0
        bad = {a: s for a, s in res.status.items() if s != "ok"}
        members = exp.arms[0].members
        print(f"\n### {exp.name}: {len(exp.arms)} arms x {exp.replicates} replicates, P = {members} members x "
              f"n = {exp.n} items, generation {exp.generations}; {secs:.0f} s with {args.workers} worker(s), "
              f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}" + (f"; NOT ok: {bad}" if bad else "") + "\n")
        summarise(res, exp)
        print(f"\n(accumulate trains on all {exp.generations + 1} generations' items, {exp.generations + 1}x the others "
              "at the last generation: it is not at equal training items)")
        sys.stdout.flush()
    print(f"\ntotal {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench_cures: interrupted (nothing is stored: the table is printed as each world ends)")
