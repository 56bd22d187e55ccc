"""Parallel lineages as the user waits for them: `redqueen run` from command to results, serial vs a
2-process pool vs Ray, executor start-up and imports included.

    python benchmarks/bench_sweep.py [--repeats 5] [--generations 300] [--workers 2]

Each round runs, in a fresh process and in rotating order, ``python -m redqueen run CONFIG -q
--no-report --executor K --workers 2 -o FOLDER`` for K in serial, pool, ray (Ray starts locally with
``include_dashboard=False`` and its temp dir in FOLDER/ray, inside the project's
``.bench/`` folder, which is what the CLI does), and times it from launch to exit: Python's start,
imports, the executor's start-up (the pool's forkserver and workers, Ray's raylet and workers), the
run, storing the records and shutting the executor down. The job: 8 replicates of a K = 50,000 Zipf
world, N = 400,000, ``--generations`` generations (a minute or more serially on the loaded machine:
long enough that start-up is a share of it, not all of it). Every variant must store exactly the
serial records (checked). Printed: medians with min-max, per-round speed-ups with a bootstrap 95%
interval, the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

from _measure import interleave, load, ratio_text, spread  # noqa: E402

from redqueen.runtime.store import Store  # noqa: E402

CONFIG = """name = "bench-sweep"
seed = 1
generations = {generations}
n = 400000
replicates = 8
[world]
kind = "zipf"
k = 50000
[family]
kind = "categorical"
[[arms]]
name = "replace"
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--generations", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the .bench/sweep folder")
    args = ap.parse_args()
    base = ROOT / ".bench" / "sweep"  # inside the project (git-ignored): Ray's temp dir is <out>/ray
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    cfg = base / "sweep.toml"
    cfg.write_text(CONFIG.format(generations=args.generations))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    counter = iter(range(10**6))
    reference: dict = {}

    def command(kind):
        def go():
            out = base / f"{kind}{next(counter)}"
            cmd = [sys.executable, "-m", "redqueen", "run", str(cfg), "-q", "--no-report", "-o", str(out)]
            if kind != "serial":
                cmd += ["--executor", kind, "--workers", str(args.workers)]
            t = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            secs = time.perf_counter() - t
            got = {(r.arm, r.replicate, r.generation): r.metrics for r in Store(out, readonly=True).records("latest")}
            reference.setdefault("records", got)
            assert got == reference["records"], f"{kind} records differ from the first run's"
            shutil.rmtree(out)
            return secs
        return go

    before = load()
    t = interleave({k: command(k) for k in ("serial", "pool", "ray")}, args.repeats, warmup=0, self_timed=True)
    after = load()
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    print(f"`redqueen run`, 8 replicates x {args.generations} generations, K = 50,000, N = 400,000, "
          f"{args.workers} workers, {args.repeats} rounds (order rotating); records identical across "
          f"executors: yes; before: {before}; after: {after}\n")
    print("| executor | command to results, median s (min-max) | speed-up vs serial |\n| --- | --- | --- |")
    for k in t:
        print(f"| {k} | {spread(t[k])} | {'1' if k == 'serial' else ratio_text(t['serial'], t[k])} |")


if __name__ == "__main__":
    main()
