"""redqueen's dual-form Vendi score vs the ``vendi-score`` package.

    python benchmarks/bench_vendi.py [--n 10000] [--d 384] [--repeats 5] [--threads 1] [--minilm]

Both sides run under the same BLAS thread limit (threadpoolctl): on a shared
2-core machine OpenBLAS's default thread count oversubscribes and makes every
timing 10-50x slower and erratic.

Embeddings: ``n x d`` Gaussian rows with a low-rank structure (or, with
``--minilm``, MiniLM embeddings of WikiText-2 lines; the timing does not
depend on the values). Compared in one process:

* ``redqueen.metrics.text.vendi_score`` at ``n`` (eigenvalues of the ``d x d`` matrix).
* ``vendi_score.vendi.score(samples, k)`` -- the package's generic entry point
  (a Python double loop over kernel pairs, then an ``n x n`` eigendecomposition);
  timed at small ``n`` and extrapolated to ``n`` by its ``n^2`` kernel loop
  (the ``n^3`` eigendecomposition is measured separately through ``score_K``
  and extrapolated by ``n^3``).
* ``vendi.score_X`` (vectorised kernel, ``n x n`` eigendecomposition), timed
  at up to 4,000 and extrapolated by ``n^3``, and ``vendi.score_dual`` at ``n``
  (the same dual algorithm as redqueen).
The values are checked to agree where both are computed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from redqueen.metrics.text import vendi_score


def timed(fn, repeats):
    ts, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def embeddings(n, d, minilm):
    if minilm:
        from pathlib import Path

        from redqueen.metrics.text import embed

        lines = [s for s in Path("/work/shared/data/wikitext-2/valid.txt").read_text().splitlines() if s.strip()]
        lines = (lines * (n // len(lines) + 1))[:n]
        return embed(lines)
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 32)) @ rng.normal(size=(32, d)) + 0.3 * rng.normal(size=(n, d))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--minilm", action="store_true")
    args = p.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        run(args)


def run(args):
    from vendi_score import vendi

    x = embeddings(args.n, args.d, args.minilm)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    t_ours, v_ours = timed(lambda: vendi_score(x), args.repeats)
    t_dual, v_dual = timed(lambda: vendi.score_dual(x), args.repeats)
    print(f"n={args.n} d={args.d}: redqueen vendi_score {t_ours * 1e3:8.1f} ms  value {v_ours:.4f}")
    print(f"  vendi.score_dual (same algorithm)  {t_dual * 1e3:8.1f} ms  value {v_dual:.4f}  ratio {t_dual / t_ours:6.2f}x")

    # the package's generic score(): Python kernel loop, measured at small n
    small = [200, 400]
    loop_per_pair = []
    for m in small:
        t, v = timed(lambda: vendi.score(list(xn[:m]), lambda a, b: float(a @ b)), 1)
        assert abs(v - vendi_score(x[:m])) < 1e-6 * v, (v, vendi_score(x[:m]))
        t_eig, _ = timed(lambda: vendi.score_K(xn[:m] @ xn[:m].T / m), 1)
        loop_per_pair.append((t - t_eig) / (m * (m + 1) / 2))
        print(f"  vendi.score at n={m}: {t:8.3f} s (agrees with redqueen)")
    pair = statistics.median(loop_per_pair)
    # eigendecomposition of n x n: measure score_X at growing n, extrapolate by n^3
    sizes = [1000, 2000, 3000] if args.n >= 3000 else [args.n]
    t_x = {}
    for m in sizes:
        t_x[m], v = timed(lambda: vendi.score_X(x[:m]), 1)
        assert abs(v - vendi_score(x[:m])) < 1e-6 * v
        print(f"  vendi.score_X at n={m}: {t_x[m]:8.3f} s (agrees with redqueen)")
    m_max = max(sizes)
    t_x_n = t_x[m_max] * (args.n / m_max) ** 3
    t_score_n = pair * args.n * (args.n + 1) / 2 + t_x_n
    print(f"  vendi.score_X extrapolated to n={args.n}: {t_x_n:8.1f} s  ->  ratio {t_x_n / t_ours:8.0f}x")
    print(f"  vendi.score   extrapolated to n={args.n}: {t_score_n:8.1f} s  ({pair * 1e6:.2f} us per kernel pair + "
          f"eigendecomposition)  ->  ratio {t_score_n / t_ours:8.0f}x")
    print(f"  (an n x n float64 kernel at n={args.n} alone takes {args.n**2 * 8 / 2**30:.2f} GiB)")


if __name__ == "__main__":
    main()
