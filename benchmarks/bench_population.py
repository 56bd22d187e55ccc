"""The population runtime against bare loops, side by side in one process, interleaved.

(a) P = 16 categorical members, K = 50,000 types (Zipf s = 1.1), N = 10^6 items per member per
    generation, 100 generations, all-to-all migration (rate m, default 0.01) and every diagnostic
    (each member's heterozygosity, Hill q = 0, 1, 2, entropy, types lost, tail mass kept, KL, TV,
    JS, F; the population's F_ST and pooled numbers), through ``run_experiment`` (the library call
    ``redqueen run`` makes; also with the SQLite store and checkpoints, as ``redqueen run`` does),
    against
      * "16 bare loops": sixteen independent ``rng.multinomial`` resampling loops (the issue's bound;
        no migration, no diagnostics), and
      * "16 bare loops + migration": the same process as the runtime at a user's fastest: each
        generation one matrix product ``sources @ freqs`` mixes the migrants and each member draws one
        multinomial from its row (no diagnostics). Migration keeps every member's support the union
        of the population's, so its multinomials cost more than the isolated loops' do.
      * "16 bare loops + migration, measured": that loop plus what it takes to get the runtime's records
        without the runtime -- redqueen's ``Diagnostics`` of every member and ``PopulationDiagnostics``
        (F_ST, pooled) each generation; its last metrics are checked against the runtime's last records.
    Goal: population <= 1.5x the 16 bare loops.
(b) P = 1 (``members = 1``, no coupling) through ``run_experiment`` against the minimal loop a user
    would write with the same calls (``world.sample``, ``CategoricalFamily().fit``, ``model.sample``,
    ``Diagnostics``): the separate lineage path no longer exists (``Lineage`` is a P = 1
    ``Population``), so this is the comparison. Goal: within 5%.

Every baseline draws with the generators the runtime gives its members (``member_seeds``), so all variants do
the same work on the same data: after each repetition the benchmark checks that the migration loops end on the
runtime's last counts (types and heterozygosity of every member) and the minimal loop on the P = 1 run's last
record, number for number.

The matrix-multiply bound (GFLOP/s of float64 GEMM on one thread, the runtime's thread policy) is
measured in the same run, at the migration product's shape and at 1000^3. Each variant runs
``--repeats`` times, variants interleaved (the order rotates every repetition); printed: medians,
min-max, the ratio of medians, and the load average over the run.

    python benchmarks/bench_population.py [--repeats 5] [--quick]
    git worktree add --detach /tmp/lineage 03ea746
    python benchmarks/bench_population.py --against-lineage /tmp/lineage/src --repeats 10

(c) with ``--against-lineage``: P = 1 against the lineage runtime before the redesign (03ea746), each run in a
    fresh process, alternating; the two must end on the same record.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from redqueen.loop.couplings import migration_matrix  # noqa: E402
from redqueen.loop.member import member_seeds  # noqa: E402
from redqueen.data import Counts  # noqa: E402
from redqueen.metrics.suite import Diagnostics, PopulationDiagnostics  # noqa: E402
from redqueen.models import CategoricalFamily  # noqa: E402
from redqueen.runtime import config as C  # noqa: E402
from redqueen.runtime import threads  # noqa: E402
from redqueen.runtime.runner import run_experiment  # noqa: E402
from redqueen.worlds import zipf  # noqa: E402


def member_rngs(p, seed):
    """The loop generators the runtime gives members 0..p-1 of replicate 0 (``member_seeds``): every baseline
    below draws the same items as the runtime does, so they all do the same work (checked after the run)."""
    return [np.random.default_rng(member_seeds(seed, 0, i)[0]) for i in range(p)]


def bare_independent(p, k, n, gens, seed):
    """Sixteen isolated resampling loops: a real sample, then ``gens + 1`` draws from the last counts (the
    runtime emits at generations 0..gens)."""
    world = zipf(k, 1.1)
    out = []
    for rng in member_rngs(p, seed):
        counts = world.sample(n, rng).counts
        for _ in range(gens + 1):
            counts = rng.multinomial(n, counts / n)
        out.append(counts)
    return out


def bare_migration(p, k, n, gens, seed, rate):
    """The runtime's process at a user's fastest: each generation one product ``sources @ freqs`` mixes the
    migrants and each member draws one multinomial from its row. Returns the counts the last generation's
    models were fitted on (what the runtime's last records measure)."""
    world = zipf(k, 1.1)
    rngs = member_rngs(p, seed)
    s = migration_matrix(p, rate, "all")
    counts = np.stack([world.sample(n, r).counts for r in rngs])
    fitted = counts
    for _ in range(gens + 1):
        fitted = counts
        mixed = s @ (counts / n)
        mixed /= mixed.sum(axis=1, keepdims=True)
        counts = np.stack([r.multinomial(n, row) for r, row in zip(rngs, mixed)])
    return fitted


def bare_migration_measured(p, k, n, gens, seed, rate):
    """The same process with the numbers the runtime records, at a user's fastest: the loop above, and each
    generation redqueen's ``Diagnostics`` of every member's fitted model and ``PopulationDiagnostics`` (F_ST and
    the pooled numbers) of the 16, with the runtime's generators. What a user writes to get the runtime's records
    without it; returns the last generation's metrics, member by member, then the population's."""
    world = zipf(k, 1.1)
    rngs = member_rngs(p, seed)
    diags = [Diagnostics(world, np.random.default_rng(member_seeds(seed, 0, i)[1])) for i in range(p)]
    pop_diag = PopulationDiagnostics(world)
    s = migration_matrix(p, rate, "all")
    counts = np.stack([world.sample(n, r).counts for r in rngs])
    for g in range(gens + 1):
        models = [CategoricalFamily().fit(Counts(c), r) for c, r in zip(counts, rngs)]
        freqs = np.stack([m.probs_ for m in models])
        mixed = s @ freqs
        mixed /= mixed.sum(axis=1, keepdims=True)
        counts = np.stack([r.multinomial(n, row) for r, row in zip(rngs, mixed)])
        metrics = [d(g, m, Counts(c))[0] for d, m, c in zip(diags, models, counts)]
        metrics.append(pop_diag(g, list(freqs)))
    return metrics


def experiment(p, k, n, gens, seed, rate):
    arm = {"name": "islands", "members": p}
    if p > 1:
        arm["couplings"] = [{"kind": "migration", "rate": rate, "topology": "all"}]
    return C.validate({"seed": seed, "generations": gens, "n": n, "world": {"kind": "zipf", "k": k, "s": 1.1},
                       "family": {"kind": "categorical"}, "arms": [arm]})


def runtime(p, k, n, gens, seed, rate):
    res = run_experiment(experiment(p, k, n, gens, seed, rate))
    assert len(res.records) == p * (gens + 1) and all(r.status == "ok" for r in res.records)
    if p > 1:
        assert "fst" in res.records[-1].metrics and "kl" in res.records[-1].metrics
    return res


def runtime_store(p, k, n, gens, seed, rate, folder):
    from redqueen.runtime.store import Store

    res = run_experiment(experiment(p, k, n, gens, seed, rate), store=Store(folder))
    assert len(res.records) == p * (gens + 1)
    return res


def minimal_loop(k, n, gens, seed):
    """What a user writes for one lineage with redqueen's pieces: sample, fit, sample, measure (with the
    runtime's generators, so it makes the same records' numbers)."""
    world = zipf(k, 1.1)
    loop_ss, diag_ss = member_seeds(seed, 0)
    rng = np.random.default_rng(loop_ss)
    diag = Diagnostics(world, np.random.default_rng(diag_ss))
    data = world.sample(n, rng)
    for g in range(gens + 1):
        model = CategoricalFamily().fit(data, rng)
        data = model.sample(n, rng)
        metrics, _ = diag(g, model, data)
    return metrics


def check_same_work(out, p, gens):
    """Every baseline drew what the runtime drew: the migration loops' last counts have the runtime's last
    records' types (hill0) and heterozygosity, and the minimal loop's last metrics are the P = 1 record's."""
    last = sorted((r for r in out["population P=16 (run_experiment)"].records if r.generation == gens),
                  key=lambda r: r.member)
    measured = out["16 bare loops + migration, measured"]
    for r in last:
        mine = measured[r.member]
        assert all(np.isclose(r.metrics[key], v, rtol=1e-12, atol=1e-12) for key, v in mine.items()), "metrics differ"
        assert all(np.isclose(r.metrics[key], v, rtol=1e-12, atol=1e-12) for key, v in measured[-1].items())
    counts = out["16 bare loops + migration"]
    assert [int(np.count_nonzero(c)) for c in counts] == [r.metrics["hill0"] for r in last], "migration loops differ"
    het = [1 - float(np.sum((c / c.sum()) ** 2)) for c in counts]
    assert np.allclose(het, [r.metrics["heterozygosity"] for r in last], rtol=0, atol=1e-12)
    assert out["minimal P=1 loop"] == out["population P=1 (run_experiment)"].records[-1].metrics, "P = 1 differs"
    assert len(out["16 bare loops"]) == p


def gemm_gflops(m, kk, nn, reps=5):
    rng = np.random.default_rng(0)
    a, b = rng.random((m, kk)), rng.random((kk, nn))
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * m * kk * nn / best / 1e9


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


#: one P = 1 run in a fresh process on the redqueen source tree given as argv[1]: prints seconds and the last record
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from redqueen.runtime import config as C
from redqueen.runtime.runner import run_experiment
exp = C.validate(json.loads(sys.argv[2]))
seconds = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    res = run_experiment(exp)
    seconds.append(time.perf_counter() - t0)
print(json.dumps({"seconds": seconds, "last": res.records[-1].metrics, "records": len(res.records)}))
"""


def against_lineage(old_src: str, reps: int, k: int, n: int, gens: int) -> None:
    """P = 1 on this tree against the lineage runtime before the population redesign (``old_src``: the ``src``
    folder of a checkout of 03ea746, the commit the P = 1 goldens come from), in fresh processes (the two trees
    cannot share one), alternating which goes first, one BLAS thread. Each process runs the same experiment
    three times, timed around ``run_experiment`` (imports outside the clock): the first run pays what a process
    pays once (lazy imports, world construction caches, the thread policy's scan of the loaded BLAS libraries),
    the later ones are what a sweep or a library user's next call costs. The two must end on the same record,
    number for number."""
    import json
    import subprocess

    new_src = str(Path(__file__).resolve().parent.parent / "src")
    env = {**os.environ, **{v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    times = {f"{who}, {when}": [] for when in ("first run in a process", "later runs")
             for who in ("lineage (03ea746)", "population P=1")}
    loads = [os.getloadavg()[0]]
    for rep in range(reps):
        cfg = json.dumps({"seed": rep, "generations": gens, "n": n, "world": {"kind": "zipf", "k": k, "s": 1.1},
                          "family": {"kind": "categorical"}, "arms": [{"name": "islands"}]})
        order = [("lineage (03ea746)", old_src), ("population P=1", new_src)]
        ends = {}
        for name, src in order if rep % 2 == 0 else order[::-1]:
            out = subprocess.run([sys.executable, "-c", CHILD, src, cfg, "3"], env=env, capture_output=True,
                                 text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            times[f"{name}, first run in a process"].append(got["seconds"][0])
            times[f"{name}, later runs"].append(statistics.median(got["seconds"][1:]))
            ends[name] = got
            loads.append(os.getloadavg()[0])
        a, b = ends["lineage (03ea746)"], ends["population P=1"]
        assert a["records"] == b["records"] and a["last"] == b["last"], "the two runtimes made different records"
        print(f"repeat {rep + 1}/{reps} done, load {loads[-1]:.1f}", file=sys.stderr, flush=True)
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"P = 1, K = {k}, N = {n}, {gens} generations; {reps} pairs of fresh processes, alternating; load "
          f"average (1 min) {min(loads):.1f}-{max(loads):.1f}; the last records equal, number for number\n")
    print("| variant | processes | median s | min-max s | ratio of medians | goal |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, v in times.items():
        base = name.replace("population P=1", "lineage (03ea746)")
        goal = "<= 1.05x" if name.startswith("population") else ""
        print(f"| {name} | {len(v)} | {med[name]:.3f} | {min(v):.3f}-{max(v):.3f} | {med[name] / med[base]:.2f}x | {goal} |")
    for when in ("first run in a process", "later runs"):
        pair = [b / a for a, b in zip(times[f"lineage (03ea746), {when}"], times[f"population P=1, {when}"])]
        print(f"{when}, per pair: {', '.join(f'{x:.3f}' for x in pair)}")
    print(f"GEMM float64, one thread, 1000^3: {gemm_gflops(1000, 1000, 1000, reps=3):.1f} GFLOP/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--against-lineage", metavar="SRC", help="instead: P = 1 against the lineage runtime in SRC "
                    "(the src folder of a checkout of 03ea746), each run in a fresh process")
    ap.add_argument("--rate", type=float, default=0.01, help="all-to-all migration rate m")
    ap.add_argument("--quick", action="store_true", help="K = 5,000, N = 10^5, 20 generations (a smoke run)")
    args = ap.parse_args()
    p = 16
    k, n, gens = (5000, 100_000, 20) if args.quick else (50_000, 1_000_000, 100)
    if args.against_lineage:
        return against_lineage(args.against_lineage, args.repeats, k, n, gens)
    rate = args.rate
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp, threads.limited(threads.threads_per_worker()):
        variants = {
            "16 bare loops": lambda rep: bare_independent(p, k, n, gens, rep),
            "16 bare loops + migration": lambda rep: bare_migration(p, k, n, gens, rep, rate),
            "16 bare loops + migration, measured": lambda rep: bare_migration_measured(p, k, n, gens, rep, rate),
            "population P=16 (run_experiment)": lambda rep: runtime(p, k, n, gens, rep, rate),
            "population P=16 (run_experiment + store)":
                lambda rep: runtime_store(p, k, n, gens, rep, rate, Path(tmp) / f"s{rep}"),
            "minimal P=1 loop": lambda rep: minimal_loop(k, n, gens, rep),
            "population P=1 (run_experiment)": lambda rep: runtime(1, k, n, gens, rep, rate),
        }
        times = {name: [] for name in variants}
        gflops = {"16x16 @ 16xK (migration)": [], "1000^3": []}
        names = list(variants)
        for rep in range(args.repeats):
            order = names[rep % len(names):] + names[:rep % len(names)]  # rotate: no variant always runs first
            outputs = {}
            for name in order:
                seconds, outputs[name] = timed(variants[name], rep)
                times[name].append(seconds)
                loads.append(os.getloadavg()[0])
            check_same_work(outputs, p, gens)
            gflops["16x16 @ 16xK (migration)"].append(gemm_gflops(p, p, k))
            gflops["1000^3"].append(gemm_gflops(1000, 1000, 1000, reps=3))
            print(f"repeat {rep + 1}/{args.repeats} done, load {loads[-1]:.1f}", file=sys.stderr, flush=True)
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"P = {p}, K = {k}, N = {n} per member, {gens} generations, all-to-all migration m = {rate}; "
          f"{args.repeats} repeats interleaved; load average (1 min) {min(loads):.1f}-{max(loads):.1f}, "
          f"median {statistics.median(loads):.1f}\n")
    print("| variant | runs | median s | min-max s | ratio of medians | goal |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = (("16 bare loops", "16 bare loops", ""),
            ("16 bare loops + migration", "16 bare loops", ""),
            ("16 bare loops + migration, measured", "16 bare loops", ""),
            ("population P=16 (run_experiment)", "16 bare loops", "<= 1.5x"),
            ("population P=16 (run_experiment + store)", "16 bare loops", "<= 1.5x"),
            ("minimal P=1 loop", "minimal P=1 loop", ""),
            ("population P=1 (run_experiment)", "minimal P=1 loop", "<= 1.05x"))
    for name, base, goal in rows:
        v = times[name]
        print(f"| {name} | {len(v)} | {med[name]:.2f} | {min(v):.2f}-{max(v):.2f} | {med[name] / med[base]:.2f}x | {goal} |")
    pair = [a / b for a, b in zip(times["population P=16 (run_experiment)"], times["16 bare loops + migration"])]
    print(f"\npopulation P=16 / bare loops + migration: {med['population P=16 (run_experiment)'] / med['16 bare loops + migration']:.2f}x "
          f"(per repeat {min(pair):.2f}-{max(pair):.2f})")
    pairm = [a / b for a, b in zip(times["population P=16 (run_experiment)"],
                                   times["16 bare loops + migration, measured"])]
    print(f"population P=16 / bare loops + migration, measured (the same records): "
          f"{med['population P=16 (run_experiment)'] / med['16 bare loops + migration, measured']:.2f}x "
          f"(per repeat {min(pairm):.2f}-{max(pairm):.2f})")
    pair1 = [a / b for a, b in zip(times["population P=1 (run_experiment)"], times["minimal P=1 loop"])]
    print(f"P=1 population / minimal loop, per repeat: {', '.join(f'{x:.3f}' for x in pair1)}")
    for name, v in gflops.items():
        print(f"GEMM float64, one thread, {name}: median {statistics.median(v):.1f} GFLOP/s "
              f"({min(v):.1f}-{max(v):.1f})")
    mig = 2 * p * p * k * (gens + 1) / 1e9
    print(f"the migration products of one run: {mig:.2f} GFLOP, {mig / statistics.median(gflops['16x16 @ 16xK (migration)']):.3f} s at that rate")


if __name__ == "__main__":
    main()
