"""Sliced W1 per generation and a 2-D Gaussian run, this checkout against another one, interleaved.

    python benchmarks/bench_w1.py --against ../main/src --repeats 5

Each variant runs in its own process (OMP_NUM_THREADS=1) so the two checkouts' modules never mix:
(a) one `SlicedW1` call, a 200-point 2-D sample against the 5,000-point reference, as the
diagnostics make it every generation; (b) `examples/gaussian_gerstgrasser.toml` at 30 replicates
through `run_experiment` (no store). Prints medians, ranges and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

CALL = """
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
from redqueen.metrics.divergence import SlicedW1
rng = np.random.default_rng(0)
s = SlicedW1(rng.normal(size=(5000, 2)), np.random.default_rng(1))
xs = [rng.normal(0.3, 1.2, size=(200, 2)) for _ in range(300)]
for x in xs[:20]: s(x)
t = time.perf_counter()
for x in xs: s(x)
print((time.perf_counter() - t) / len(xs) * 1e3)
"""

RUN = """
import sys, time
sys.path.insert(0, sys.argv[1])
import redqueen
from redqueen.runtime import config as C
exp = C.load(sys.argv[2])
redqueen.run_experiment(exp.model_copy(update={"replicates": 1}))
t = time.perf_counter(); redqueen.run_experiment(exp.model_copy(update={"replicates": 30}))
print(time.perf_counter() - t)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="the src/ folder of the other checkout")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    sides = {"this": str(HERE / "src"), "other": str(Path(args.against).resolve())}
    config = str(HERE / "examples" / "gaussian_gerstgrasser.toml")
    for label, code, extra, unit in (("SlicedW1 call", CALL, [], "ms"), ("2-D Gaussian run", RUN, [config], "s")):
        times = {k: [] for k in sides}
        for _ in range(args.repeats):
            for side, src in sides.items():
                out = subprocess.run([sys.executable, "-c", code, src, *extra], capture_output=True, text=True,
                                     env=env, check=True)
                times[side].append(float(out.stdout.split()[-1]))
        med = {k: statistics.median(v) for k, v in times.items()}
        for side, v in times.items():
            print(f"{label:18} {side:6} median {med[side]:8.3f} {unit}  range {min(v):.3f}-{max(v):.3f}")
        print(f"{label:18} other/this {med['other'] / med['this']:.2f}x")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
