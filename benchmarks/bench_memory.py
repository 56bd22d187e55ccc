"""The memory estimate (``redqueen.runtime.memory``) against the peak resident size of real runs.

Each config runs as ``redqueen run CONFIG -q --no-report`` in a fresh process, the way a user starts it; its peak
RSS is read from the kernel (``getrusage(RUSAGE_CHILDREN)`` of a wrapper process that starts only that run).
Printed per config: the estimate the run was admitted with, the measured peak, and their ratio. An estimate below
1.0x would let a run start that the machine cannot hold; the goal is 1.0-2.0x.

    python benchmarks/bench_memory.py [--repeats 3] [--quick]

The configs: categorical populations of k = 100,000 types and 64 / 128 / 256 members (the per-member terms:
diagnostics, counts, pooled matrix), a regression world at d = 250 and 500 (points of d + 1 columns and the
least-squares copy), and a Gaussian in 50 dimensions (a draw gathers a d x d factor per point).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import tomli_w  # the test extra: pip install '.[test]'

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from redqueen.runtime import config as C  # noqa: E402
from redqueen.runtime import memory  # noqa: E402

#: a wrapper that starts one run and reports the peak RSS of its only child (KiB on Linux)
WRAP = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
"""


def configs(quick: bool) -> dict[str, dict]:
    zipf = {"n": 1000, "generations": 3, "world": {"kind": "zipf", "k": 100_000}, "family": {"kind": "categorical"}}
    out = {f"zipf k=100,000, {p} members": {**zipf, "arms": [{"name": "a", "members": p}]}
           for p in ((16, 64) if quick else (64, 128, 256))}
    for d, n in ((100, 50_000),) if quick else ((250, 100_000), (500, 200_000)):
        out[f"regression d={d}, n={n:,}"] = {"n": n, "generations": 2, "reference_size": 1000,
                                             "world": {"kind": "regression", "d": d},
                                             "family": {"kind": "regression"}, "arms": [{"name": "replace"}]}
    n = 20_000 if quick else 100_000
    out[f"gaussian d=50, n={n:,}"] = {"n": n, "generations": 2, "reference_size": 1000,
                                      "world": {"kind": "gaussian", "d": 50}, "family": {"kind": "gaussian"},
                                      "arms": [{"name": "replace"}]}
    return out


def estimate(cfg: dict) -> float:
    return max(sum(x.bytes for x in items) for _, items in memory.needs(C.validate(cfg)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller configs (a smoke run)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each config (configs interleaved)")
    args = ap.parse_args()
    cfgs = configs(args.quick)
    peaks: dict[str, list[int]] = {name: [] for name in cfgs}
    loads = [os.getloadavg()[0]]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for i, (name, cfg) in enumerate(cfgs.items()):
                toml = Path(tmp) / f"c{i}.toml"
                toml.write_text(tomli_w.dumps(cfg))
                out = subprocess.run([sys.executable, "-c", WRAP, sys.executable, "-m", "redqueen", "run", str(toml),
                                      "-q", "--no-report", "-o", str(Path(tmp) / f"o{i}-{rep}")],
                                     capture_output=True, text=True, check=True, env=env)
                kib, rc = map(int, out.stdout.split())
                assert rc == 0, f"{name}: redqueen run exited {rc}"
                peaks[name].append(kib * 1024)
                loads.append(os.getloadavg()[0])
            print(f"repeat {rep + 1}/{args.repeats} done, load {loads[-1]:.1f}", file=sys.stderr, flush=True)
    print(f"{args.repeats} runs of each config, interleaved; load average (1 min) {min(loads):.1f}-{max(loads):.1f}\n")
    print("| config | estimate | measured peak RSS, median (min-max) | estimate / median peak |")
    print("| --- | --- | --- | --- |")
    for name, cfg in cfgs.items():
        est, v = estimate(cfg), sorted(peaks[name])
        med = statistics.median(v)
        print(f"| {name} | {memory.human(est)} | {memory.human(med)} ({memory.human(v[0])}-{memory.human(v[-1])}) | "
              f"{est / med:.2f}x |")

if __name__ == "__main__":
    main()
