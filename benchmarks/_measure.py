"""What every benchmark here needs to say what it measured: interleaved timings, medians with their
spread and a confidence interval for the ratio, the load average, and the machine's matmul bound,
all measured in the same run as the comparison.

The development machine is shared (2 cores, several other sessions): a ratio means something
only when both sides ran alternately under the same load, enough times that the interval of the
ratio is narrower than the goal it is compared with.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable

import numpy as np


def load() -> str:
    """The 1- and 5-minute load averages, as a phrase for a results line."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def sgemm_gflops(threads: int, size: int = 2048, reps: int = 3) -> float:
    """Median float32 ``size``^3 matmul throughput with ``threads`` BLAS threads: the bound a dense forward pass can reach."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    out = []
    with threadpool_limits(threads):
        a @ a
        for _ in range(reps):
            t = time.perf_counter()
            a @ a
            out.append(2 * size**3 / (time.perf_counter() - t) / 1e9)
    return statistics.median(out)


def interleave(variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
               self_timed: bool = False) -> dict[str, list[float]]:
    """Run each variant ``repeats`` times, alternating (the order rotates every round so no side always
    goes first); seconds from call to return, or with ``self_timed`` the seconds each call returns."""
    names = list(variants)
    for _ in range(warmup):
        for n in names:
            variants[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in names[r % len(names):] + names[: r % len(names)]:
            t = time.perf_counter()
            got = variants[n]()
            times[n].append(float(got) if self_timed else time.perf_counter() - t)
    return times


def spread(xs) -> str:
    """``median (min-max)`` of a sample."""
    xs = list(xs)
    return f"{statistics.median(xs):.3g} ({min(xs):.3g}-{max(xs):.3g})"


def ratio_ci(num, den, level: float = 0.95, boot: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """Median of the per-round ratios ``num[i] / den[i]`` (rounds are interleaved, so a ratio compares
    two runs under the same load) with a bootstrap ``level`` interval of that median."""
    r = np.asarray(num, float) / np.asarray(den, float)
    rng = np.random.default_rng(seed)
    meds = np.median(r[rng.integers(0, r.size, (boot, r.size))], axis=1)
    lo, hi = np.quantile(meds, [(1 - level) / 2, (1 + level) / 2])
    return float(np.median(r)), float(lo), float(hi)


def ratio_text(num, den) -> str:
    m, lo, hi = ratio_ci(num, den)
    return f"{m:.2f}x [95% CI {lo:.2f}-{hi:.2f}]"
