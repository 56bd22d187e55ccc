"""The population examples as a user runs them: `redqueen run examples/<name>.toml`, each in a fresh process.

Issue 9 asks that `redqueen run examples/islands.toml` and one example per coupling run in under a minute and
print what the cure did next to replace. This runs each example's command as a subprocess (start-up, imports,
the run, the store and the HTML report: what the user waits for) ``--repeats`` times, examples interleaved,
into a temporary folder, and checks the output: the cure table's title, a ``replace`` row in it, and the report.
Printed: the wall time per example (median, min-max), the goal, the load average and the float64 GEMM bound.

    python benchmarks/bench_examples.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("islands", "population_migration", "population_merge", "population_niches",
            "population_quality_diversity", "population_island_reset")
GOAL_S = 60.0


def run_once(name: str, out: Path) -> float:
    """Seconds of one `redqueen run` of ``name`` (a fresh interpreter); raises if it did not do its job."""
    cmd = [sys.executable, "-m", "redqueen", "run", str(ROOT / "examples" / f"{name}.toml"), "-o", str(out)]
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT / "src")}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{name}: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    text = done.stdout
    table = text[text.find("What each cure did"):]
    if "What each cure did" not in text or "│ replace" not in table:
        raise SystemExit(f"{name}: no cure table with a replace row in the output")
    if not list(out.glob("*.html")):
        raise SystemExit(f"{name}: no report written")
    return seconds


def gemm_gflops(n: int = 1000, reps: int = 3) -> float:
    a = np.random.default_rng(0).standard_normal((n, n))
    a @ a
    best = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ a
        best.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return statistics.median(best)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    times: dict[str, list[float]] = {name: [] for name in EXAMPLES}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            order = EXAMPLES[rep % len(EXAMPLES):] + EXAMPLES[:rep % len(EXAMPLES)]
            for name in order:
                times[name].append(run_once(name, Path(tmp) / f"{name}-{rep}"))
                loads.append(os.getloadavg()[0])
            print(f"repeat {rep + 1}/{args.repeats} done, load {loads[-1]:.1f}", file=sys.stderr, flush=True)
    print(f"`redqueen run examples/<name>.toml`, fresh process each (store and report included), {args.repeats} "
          f"repeats interleaved; load average (1 min) {min(loads):.1f}-{max(loads):.1f}; "
          f"GEMM float64 1000^3 {gemm_gflops():.1f} GFLOP/s\n")
    print("| example | runs | median s | min-max s | goal |")
    print("| --- | --- | --- | --- | --- |")
    for name, v in times.items():
        verdict = "met" if max(v) < GOAL_S else "**missed**"
        print(f"| `examples/{name}.toml` | {len(v)} | {statistics.median(v):.1f} | {min(v):.1f}-{max(v):.1f} | "
              f"< {GOAL_S:.0f} s: {verdict} |")


if __name__ == "__main__":
    main()
