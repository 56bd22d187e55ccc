"""Parallel speed-up of lineages: 8 replicates, serial vs a 2-process pool vs Ray on 2 CPUs.

Every variant must store exactly the serial records (checked here); the
speed-up is the ratio of wall-clock medians measured side by side.

    python benchmarks/bench_sweep.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from redqueen.runtime import config as C  # noqa: E402
from redqueen.runtime.executors import make_executor  # noqa: E402
from redqueen.runtime.runner import run_experiment  # noqa: E402
from redqueen.runtime.store import Store  # noqa: E402

CONFIG = {
    "name": "bench-sweep", "seed": 1, "generations": 40, "n": 400_000, "replicates": 8,
    "world": {"kind": "zipf", "k": 50_000}, "family": {"kind": "categorical"}, "arms": [{"name": "replace"}],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    exp = C.validate(CONFIG)
    kinds = ["serial", "pool", "ray"]
    times = {k: [] for k in kinds}
    reference = None
    executors = {k: make_executor(k, workers=args.workers, temp_dir=Path("/tmp/rq-bench-ray")) for k in kinds}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # warm-up: start the pool's workers and Ray's, import everything once
            for k in kinds:
                run_experiment(exp.model_copy(update={"generations": 1}), executor=executors[k])
            for rep in range(args.repeats):
                for k in kinds:
                    t0 = time.perf_counter()
                    res = run_experiment(exp, store=Store(Path(tmp) / f"{k}{rep}"), executor=executors[k])
                    times[k].append(time.perf_counter() - t0)
                    got = {(r.arm, r.replicate, r.generation): r.metrics for r in res.records}
                    reference = reference or got
                    assert got == reference, f"{k} records differ from serial"
    finally:
        for ex in executors.values():
            ex.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"8 replicates x {exp.generations} generations, K={CONFIG['world']['k']}, N={exp.n}; "
          f"{args.workers} workers; records identical to serial: yes\n")
    print("| executor | runs | median s | speed-up vs serial | goal |\n| --- | --- | --- | --- | --- |")
    for k in kinds:
        print(f"| {k} | {len(times[k])} | {med[k]:.2f} | {med['serial'] / med[k]:.2f}x | {'' if k == 'serial' else '>= 1.7x'} |")


if __name__ == "__main__":
    main()
