"""The memory estimate (``redqueen.runtime.memory``) against the peak resident size of real runs.

Each config runs as ``redqueen run CONFIG -q --no-report`` in a fresh process, the way a user starts it; its peak
RSS is read from the kernel (``getrusage(RUSAGE_CHILDREN)`` of a wrapper process that starts only that run).
Printed per config: the estimate the run was admitted with, the measured peak, and their ratio. An estimate below
1.0x would let a run start that the machine cannot hold; the goal is 1.0-2.0x.

    python benchmarks/bench_memory.py [--quick]

The configs: categorical populations of k = 100,000 types and 64 / 128 / 256 members (the per-member terms:
diagnostics, counts, pooled matrix), a regression world at d = 250 and 500 (points of d + 1 columns and the
least-squares copy), and a Gaussian in 50 dimensions (a draw gathers a d x d factor per point).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, cfg) in enumerate(configs(args.quick).items()):
            toml = Path(tmp) / f"c{i}.toml"
            toml.write_text(_toml(cfg))
            out = subprocess.run([sys.executable, "-c", WRAP, sys.executable, "-m", "redqueen", "run", str(toml),
                                  "-q", "--no-report", "-o", str(Path(tmp) / f"o{i}")],
                                 capture_output=True, text=True, check=True,
                                 env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")})
            kib, rc = map(int, out.stdout.split())
            assert rc == 0, f"{name}: redqueen run exited {rc}"
            est = estimate(cfg)
            rows.append((name, est, kib * 1024))
            print(f"{name} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    print("| config | estimate | measured peak RSS | estimate / peak |")
    print("| --- | --- | --- | --- |")
    for name, est, peak in rows:
        print(f"| {name} | {memory.human(est)} | {memory.human(peak)} | {est / peak:.2f}x |")


def _toml(cfg: dict) -> str:
    """The few shapes of config above as TOML (top-level scalars, [world], [family], [[arms]])."""
    def value(v):
        return json.dumps(v) if isinstance(v, str) else str(v)

    lines = [f"{k} = {value(v)}" for k, v in cfg.items() if not isinstance(v, (dict, list))]
    for table in ("world", "family"):
        lines += [f"[{table}]"] + [f"{k} = {value(v)}" for k, v in cfg[table].items()]
    for arm in cfg["arms"]:
        lines += ["[[arms]]"] + [f"{k} = {value(v)}" for k, v in arm.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
