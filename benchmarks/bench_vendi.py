"""redqueen's dual-form Vendi score vs the ``vendi-score`` package's fastest way for embeddings.

    python benchmarks/bench_vendi.py [--n 10000] [--d 384] [--repeats 21] [--threads 1] [--minilm]

A user who has embeddings calls ``vendi_score.vendi.score_dual(X)`` (the ``d x d``
dual form: the package's fastest entry point for feature vectors); redqueen's
``redqueen.metrics.text.vendi_score(X)`` computes the same quantity. Both run
alternately in one process (the order rotating every round) under the same
BLAS thread limit (threadpoolctl; on a shared 2-core machine OpenBLAS's default
thread count oversubscribes). Printed: the median and min-max of each side, the
median per-round ratio with a bootstrap 95% interval, the load average before
and after, and a float32 matmul's GFLOP/s in the same run. The values are
checked to agree.

Embeddings: ``n x d`` Gaussian rows with a low-rank structure (or, with
``--minilm``, MiniLM embeddings of WikiText-2 lines; the timing does not
depend on the values).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _measure import interleave, load, ratio_text, sgemm_gflops, spread  # noqa: E402

from redqueen.metrics.text import vendi_score  # noqa: E402


def embeddings(n, d, minilm):
    if minilm:
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
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--minilm", action="store_true")
    args = p.parse_args()
    from threadpoolctl import threadpool_limits
    from vendi_score import vendi

    before = load()
    gemm = sgemm_gflops(args.threads)
    x = embeddings(args.n, args.d, args.minilm)
    with threadpool_limits(limits=args.threads):
        ours, theirs = vendi_score(x), vendi.score_dual(x)
        assert abs(ours - theirs) < 1e-6 * theirs, (ours, theirs)
        t = interleave({"redqueen": lambda: vendi_score(x), "score_dual": lambda: vendi.score_dual(x)}, args.repeats)
    print(f"n={args.n} d={args.d}, {args.threads} BLAS thread(s), {args.repeats} interleaved rounds; "
          f"values agree ({ours:.4f}); before: {before}; after: {load()}; float32 matmul 2048^3 "
          f"{gemm:.0f} GFLOP/s\n")
    print("| | median ms (min-max) | time ratio to redqueen |\n| --- | --- | --- |")
    print(f"| redqueen `vendi_score` | {spread(1e3 * np.array(t['redqueen']))} | 1 |")
    print(f"| vendi-score `score_dual` | {spread(1e3 * np.array(t['score_dual']))} | "
          f"{ratio_text(t['score_dual'], t['redqueen'])} |")


if __name__ == "__main__":
    main()
