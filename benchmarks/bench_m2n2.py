"""M2N2 on digits: quality over seeds, ablations, baselines at equal budget, and speed.

    python benchmarks/bench_m2n2.py                      # everything, 5 seeds, 50k passes
    python benchmarks/bench_m2n2.py --seeds 2 --budget 5000 --jobs 2
    python benchmarks/bench_m2n2.py --only speed
    python benchmarks/bench_m2n2.py --only speed --speed-against /tmp/old/src   # before/after, interleaved
    python benchmarks/bench_m2n2.py --only peer --peer /work/peers/natural_niches/code \
        --peer-python /work/peers/natural_niches/venv/bin/python            # against Sakana's code, same run

``--only peer`` runs Sakana's published natural_niches code (its own ``main.py``, unmodified) and
``redqueen evolve`` on the same M2N2 settings, both as the commands a user types, alternating in one
run; see :func:`peer`. The peer lives outside this repository (its code is never committed here);
set it up once, e.g. with the ``fetch`` of github.com/SakanaAI/natural_niches into
/work/peers/natural_niches/code and

    python3.11 -m venv /work/peers/natural_niches/venv
    /work/peers/natural_niches/venv/bin/pip install jax==0.4.31 jaxlib==0.4.31 optax scikit-learn tqdm cma numpy==2.1.1

(``environment.yml``'s CPU pins), then pass ``--peer`` / ``--peer-python`` or set
``REDQUEEN_PEER_NATURAL_NICHES`` / ``REDQUEEN_PEER_PYTHON``.

Prints markdown tables. Quality: mean (and min-max) test accuracy of the
best-on-train archive member at the checkpoints. Reference quality (Sakana's
natural_niches code run unmodified, JAX on CPU, on this machine): mean over
its seeds 42-61 0.709 at 5k, 0.813 at 10k, 0.848 at 20k (0.867 at 50k, one
run). Seeds vary a lot there too (0.49-0.80 at 5k). Its speed is not quoted
from memory: ``--only peer`` measures it next to redqueen's.
Runs go to a process pool (``--jobs``), one BLAS thread each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import numpy as np  # noqa: E402

from redqueen.evolve import DigitsTask, EvolveConfig, run_evolve  # noqa: E402

REFERENCE = {5000: 0.709, 10000: 0.813, 20000: 0.848, 50000: 0.867}  # 20 seeds; 50k: one run
REFERENCE_SEEDS = "20 (50k: 1)"

ARMS = {
    "m2n2": {"method": "m2n2"},
    "m2n2-no_matchmaker": {"method": "m2n2", "matchmaker": False},
    "m2n2-no_splitpoint": {"method": "m2n2", "splitpoint": False},
    "m2n2-no_crossover": {"method": "m2n2", "crossover": False},
    "m2n2-alpha0": {"method": "m2n2", "alpha": 0.0},
    "ga": {"method": "ga"},
    "map_elites": {"method": "map_elites"},
    "cma": {"method": "cma"},
    "m2n2-pretrained": {"method": "m2n2", "init": "pretrained", "mutation_sigma": 0.0},
}


def one_run(args: tuple[str, int, int, int]) -> tuple[str, int, dict[int, float], dict[int, float], float]:
    arm, seed, budget, every = args
    cfg = EvolveConfig(seed=seed, budget=budget, eval_every=every, **ARMS[arm])
    test, train, secs = {}, {}, 0.0
    for r in run_evolve(cfg):
        test[r.forward_passes] = r.test_acc_of_best_on_train
        train[r.forward_passes] = r.best_train_acc
        secs = r.seconds
    return arm, seed, test, train, budget / secs


def at(curve: dict[int, float], cp: int) -> float:
    keys = [k for k in curve if k <= cp]
    return curve[max(keys)] if keys else float("nan")


def quality_table(results, arms, checkpoints) -> str:
    lines = ["| arm | seeds | " + " | ".join(f"test @ {c // 1000}k" for c in checkpoints) + " | train @ end | passes/s (per process) |"]
    lines.append("|---" * (len(checkpoints) + 4) + "|")
    if any(c in REFERENCE for c in checkpoints):
        lines.append(f"| reference (natural_niches, JAX CPU) | {REFERENCE_SEEDS} | " + " | ".join(f"{REFERENCE.get(c, float('nan')):.3f}" for c in checkpoints) + " | | `--only peer` |")
    for arm in arms:
        rs = [r for r in results if r[0] == arm]
        if not rs:
            continue
        cells = []
        for c in checkpoints:
            v = [at(r[2], c) for r in rs]
            cells.append(f"{np.mean(v):.3f} ({min(v):.2f}-{max(v):.2f})")
        tr = np.mean([r[3][max(r[3])] for r in rs])
        sp = statistics.median(r[4] for r in rs)
        lines.append(f"| {arm} | {len(rs)} | " + " | ".join(cells) + f" | {tr:.3f} | {sp:.0f} |")
    return "\n".join(lines)


def run_pool(arms, seeds, budget, every, jobs, offset=0):
    work = [(a, s, budget, every) for a in arms for s in range(offset, offset + seeds)]
    if jobs == 1:
        return [one_run(w) for w in work]
    with ProcessPoolExecutor(jobs) as ex:
        return list(ex.map(one_run, work))


def speed(reps: int = 5) -> str:
    """Evaluator and end-to-end rates, 1 vs 2 BLAS threads, next to a big matmul's GFLOP/s, all in this process."""
    from threadpoolctl import threadpool_limits

    task = DigitsTask.load()
    flops = task.flops_per_eval()
    g = task.random_genomes(32, np.random.default_rng(0))
    a = np.random.default_rng(1).standard_normal((2048, 2048), dtype=np.float32)
    rows = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            gemm, ev, e2e = [], [], []
            for _ in range(reps):  # interleave so load changes hit all three alike
                a @ a
                t = time.perf_counter()
                a @ a
                gemm.append(2 * 2048**3 / (time.perf_counter() - t) / 1e9)
                t = time.perf_counter()
                task.scores(g)
                ev.append(len(g) / (time.perf_counter() - t))
                cfg = EvolveConfig(method="m2n2", budget=1000, eval_every=1000, threads=threads)
                t = time.perf_counter()
                for _ in run_evolve(cfg, task):
                    pass
                e2e.append(1000 / (time.perf_counter() - t))
            gm, evm, em = statistics.median(gemm), statistics.median(ev), statistics.median(e2e)
            rows.append(
                f"| {threads} | {gm:.0f} | {evm:.0f} | {evm * flops / 1e9:.0f} ({evm * flops / 1e9 / gm:.0%}) "
                f"| {em:.0f} | {em * flops / 1e9 / gm:.0%} |"
            )
    head = (
        f"one forward pass = {flops / 1e6:.1f} MFLOP (1437 x (64x256 + 256x10) x 2); medians of {reps}\n\n"
        "| BLAS threads | np.matmul 2048^2 GFLOP/s | evaluator passes/s | evaluator GFLOP/s (of matmul) "
        "| M2N2 end-to-end passes/s | end-to-end fraction of matmul |\n|---|---|---|---|---|---|"
    )
    return head + "\n" + "\n".join(rows)


_AB_CHILD = r"""
import sys, time, json, numpy as np
sys.path.insert(0, sys.argv[1])
from threadpoolctl import threadpool_limits
t = time.perf_counter()
from redqueen.evolve import DigitsTask, EvolveConfig, run_evolve
import redqueen.runtime.build  # what run_evolve needs since evolve runs on the runtime; imported by both trees here
imports = time.perf_counter() - t
task = DigitsTask.load(); g = task.random_genomes(32, np.random.default_rng(0))
with threadpool_limits(1):
    ev = []
    for _ in range(3):
        t = time.perf_counter(); task.scores(g); ev.append(32 / (time.perf_counter() - t))
    t = time.perf_counter()
    for _ in run_evolve(EvolveConfig(method="m2n2", budget=2000, eval_every=2000, threads=1), task):
        pass
    print(json.dumps([max(ev), 2000 / (time.perf_counter() - t), imports]))
"""


def speed_against(other_src: str, reps: int = 5) -> str:
    """End-to-end M2N2 passes/s (1 BLAS thread) of ``other_src`` vs this tree, alternating fresh processes.

    Each process imports ``redqueen.evolve`` and ``redqueen.runtime.build`` before the clock starts (the
    import time is reported apart: a once-per-process cost, not a per-pass one)."""
    import subprocess

    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    res: dict[str, list] = {"before": [], "after": []}
    for _ in range(reps):
        for name, path in (("before", other_src), ("after", here)):
            out = subprocess.run([sys.executable, "-c", _AB_CHILD, path], capture_output=True, text=True, check=True)
            res[name].append(json.loads(out.stdout))
    rows = ["| code | evaluator passes/s | M2N2 end-to-end passes/s (min-max) | per-child overhead share | imports s |",
            "|---|---|---|---|---|"]
    for name, v in res.items():
        ev, e2e, imp = (statistics.median(x[i] for x in v) for i in range(3))
        lo, hi = min(x[1] for x in v), max(x[1] for x in v)
        rows.append(f"| {name} | {ev:.0f} | {e2e:.0f} ({lo:.0f}-{hi:.0f}) | {1 - e2e / ev:.0%} | {imp:.1f} |")
    ratios = [a[1] / b[1] for b, a in zip(res["before"], res["after"])]
    return "\n".join(rows) + f"\n\nafter/before end-to-end, per pair: {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})"


#: one XLA thread for the peer (JAX's CPU default is every core), one BLAS thread for redqueen
PEER_ENV = {"JAX_PLATFORM_NAME": "cpu", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def peer(peer_dir: str, peer_python: str, rounds: int, budgets: tuple[int, int]) -> str:
    """Sakana's natural_niches against ``redqueen evolve``, both the command a user types, alternating.

    Each round runs four commands in rotating order: the peer's ``main.py --method natural_niches
    --runs 1 --total_forward_passes B`` and ``redqueen evolve`` on examples/m2n2_digits.toml with
    ``budget = B`` (the same M2N2 settings: archive 20, 2 initial models, matchmaker, split point,
    alpha 1, sigma 0.01, test accuracy of the best every pass on the peer's side, every 1,000 here),
    for B in ``budgets``, one XLA / BLAS thread each. From one round: the command-to-results seconds at
    the larger budget (imports, JIT compilation, data, the run, writing results), and the steady rate
    (B2 - B1) / (T2 - T1) passes/s, which start-up does not enter. Ratios are per round (both sides
    under the same load), with a bootstrap 95% interval of their median; the matmul bound and the
    load average are measured before and after, in the same run.
    """
    import shutil
    import subprocess
    import tempfile

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _measure import interleave, load, ratio_ci, ratio_text, sgemm_gflops, spread

    main_py = os.path.join(peer_dir, "main.py")
    if not os.path.exists(os.path.join(peer_dir, "natural_niches_fn.py")):
        raise SystemExit(f"--peer {peer_dir}: no natural_niches_fn.py there; fetch github.com/SakanaAI/natural_niches "
                         "and pass its folder (see this file's docstring)")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    example = open(os.path.join(root, "examples", "m2n2_digits.toml")).read()
    work = tempfile.mkdtemp(prefix="rq-peer-")
    os.makedirs(os.path.join(work, "results"))  # the peer's main.py pickles into ./results
    env = {**os.environ, **PEER_ENV}
    rq_env = {**env, "PYTHONPATH": os.path.join(root, "src")}
    for b in budgets:
        with open(os.path.join(work, f"rq{b}.toml"), "w") as f:
            f.write(example.replace("budget = 50000", f"budget = {b}") + "threads = 1\n")
    seq = iter(range(10**6))

    def peer_cmd(b):
        return lambda: subprocess.run([peer_python, main_py, "--method", "natural_niches", "--runs", "1",
                                       "--total_forward_passes", str(b)], cwd=work, env=env, check=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rq_cmd(b):
        def go():
            out = os.path.join(work, f"out{next(seq)}")
            subprocess.run([sys.executable, "-m", "redqueen", "evolve", os.path.join(work, f"rq{b}.toml"), "--no-report",
                            "-o", out], cwd=work, env=rq_env, check=True, stdout=subprocess.DEVNULL)
            shutil.rmtree(out)
        return go

    b1, b2 = budgets
    before, g1, g2 = load(), sgemm_gflops(1), sgemm_gflops(2)
    try:
        t = interleave({"peer1": peer_cmd(b1), "peer2": peer_cmd(b2), "rq1": rq_cmd(b1), "rq2": rq_cmd(b2)}, rounds, warmup=0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    after, g1b, g2b = load(), sgemm_gflops(1), sgemm_gflops(2)
    rate = {k: [(b2 - b1) / (y - x) for x, y in zip(t[f"{k}1"], t[f"{k}2"])] for k in ("peer", "rq")}
    flops = 1437 * (64 * 256 + 256 * 10) * 2
    m, lo, hi = ratio_ci(rate["rq"], rate["peer"])
    rows = [
        f"M2N2 on digits, {rounds} rounds of 4 commands in rotating order, budgets {b1} and {b2} passes, 1 thread each "
        f"side; before: {before}, float32 2048^3 matmul {g1:.0f} GFLOP/s on 1 thread, {g2:.0f} on 2; after: {after}, "
        f"{g1b:.0f} / {g2b:.0f} GFLOP/s\n",
        "| | command to results at " + f"{b2:,} passes, s (min-max) | steady passes/s (min-max) | of the 1-thread matmul bound |",
        "| --- | --- | --- | --- |",
        f"| natural_niches (Sakana, JAX on CPU) | {spread(t['peer2'])} | {spread(rate['peer'])} | "
        f"{statistics.median(rate['peer']) * flops / 1e9 / g1:.0%} |",
        f"| redqueen evolve | {spread(t['rq2'])} | {spread(rate['rq'])} | {statistics.median(rate['rq']) * flops / 1e9 / g1:.0%} |",
        "",
        f"redqueen / natural_niches, steady passes/s: {m:.2f}x [95% CI {lo:.2f}-{hi:.2f}] (per round: "
        + ", ".join(f"{a / b:.2f}" for a, b in zip(rate["rq"], rate["peer"])) + "); command to results at "
        f"{b2:,} passes: natural_niches takes {ratio_text(t['peer2'], t['rq2'])} redqueen's time",
    ]
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seed-offset", type=int, default=0, help="first seed of the main M2N2 runs")
    p.add_argument("--budget", type=int, default=50_000, help="passes of the main M2N2 runs")
    p.add_argument("--ablation-seeds", type=int, default=None, help="default: --seeds")
    p.add_argument("--ablation-budget", type=int, default=None, help="ablations and baselines; default: --budget")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--only", choices=["quality", "ablations", "speed", "peer"], action="append")
    p.add_argument("--peer", default=os.environ.get("REDQUEEN_PEER_NATURAL_NICHES"),
                   help="folder of Sakana's natural_niches code (or $REDQUEEN_PEER_NATURAL_NICHES)")
    p.add_argument("--peer-python", default=os.environ.get("REDQUEEN_PEER_PYTHON"),
                   help="the python of the peer's venv (or $REDQUEEN_PEER_PYTHON)")
    p.add_argument("--peer-rounds", type=int, default=5)
    p.add_argument("--peer-budgets", default="500,2500", help="two budgets B1,B2: the steady rate is their difference")
    p.add_argument("--json", help="also write raw curves here")
    p.add_argument("--speed-against", metavar="SRC", help="with speed: also time another checkout's src/ against this one")
    args = p.parse_args()
    only = set(args.only or ["quality", "ablations", "speed", "peer"])
    ab_seeds = args.ablation_seeds or args.seeds
    ab_budget = args.ablation_budget or args.budget
    cps = [c for c in (5000, 10000, 20000, 50000) if c <= args.budget] or [args.budget]
    ab_cps = [c for c in (5000, 10000, 20000, 50000) if c <= ab_budget] or [ab_budget]
    every = min(1000, min(cps))
    raw = []
    if "quality" in only:
        t = time.perf_counter()
        res = run_pool(["m2n2"], args.seeds, args.budget, every, args.jobs, args.seed_offset)
        raw += res
        print(f"\n## M2N2 from scratch, seeds {args.seed_offset}-{args.seed_offset + args.seeds - 1}, {args.budget} passes ({time.perf_counter() - t:.0f} s)\n")
        print(quality_table(res, ["m2n2"], cps), flush=True)
    if "ablations" in only:
        arms = ["m2n2", "m2n2-no_matchmaker", "m2n2-no_splitpoint", "m2n2-no_crossover", "m2n2-alpha0", "ga", "map_elites", "cma", "m2n2-pretrained"]
        t = time.perf_counter()
        res = run_pool(arms, ab_seeds, ab_budget, every, args.jobs)
        raw += res
        print(f"\n## Ablations and baselines, {ab_seeds} seeds, {ab_budget} passes each ({time.perf_counter() - t:.0f} s)\n")
        print(quality_table(res, arms, ab_cps), flush=True)
    if "speed" in only:
        print("\n## Speed (this machine, side by side in one process)\n")
        print(speed(), flush=True)
        if args.speed_against:
            print("\n## End to end, before (--speed-against) vs after (this tree), alternating processes\n")
            print(speed_against(args.speed_against), flush=True)
    if "peer" in only and (args.only or args.peer):
        if not (args.peer and args.peer_python):
            raise SystemExit("--only peer needs --peer and --peer-python (or REDQUEEN_PEER_NATURAL_NICHES and "
                             "REDQUEEN_PEER_PYTHON); see this file's docstring")
        b1, b2 = (int(x) for x in args.peer_budgets.split(","))
        print("\n## Against Sakana's natural_niches, in the same run\n")
        print(peer(args.peer, args.peer_python, args.peer_rounds, (b1, b2)), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"arm": a, "seed": s, "test": te, "train": tr, "passes_per_s": sp} for a, s, te, tr, sp in raw], f)


if __name__ == "__main__":
    main()
