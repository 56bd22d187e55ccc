"""The contaminated web: synthetic share, filter precision/recall and collapse, per filter, over seeds.

``python benchmarks/bench_web.py categorical --seeds 5`` -- Zipf(2,000) world, categorical MLE, n = 10,000,
web with 5,000 real items a generation, 10 generations; arms: open web, each filter in the mixed stage.
``python benchmarks/bench_web.py text --seeds 5`` -- King James verses (5,000 words, <= 32 tokens), bigram
(additive alpha 0.1, watermarked gamma .25 delta 2 context 1), n = 1,000, 400 real verses a generation,
4 generations; arms: open web, watermark filter z > 2 (and after 60% substitution, 50% paraphrase),
hashed n-gram detector, keep-high-perplexity.

Each table: mean and 95% t-interval over seeds (one lineage per seed) at the last generation, and the web's
synthetic share by generation. Prints the load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy.stats import t as student_t

from redqueen.loop import Lineage, Web, make_curation

KEYS = ("pool_synthetic_share", "train_synthetic_share", "filter_precision", "filter_recall", "filter_fpr")


def ci(values) -> str:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "-"
    if v.size == 1:
        return f"{v[0]:.3f}"
    half = student_t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return f"{v.mean():.3f} ± {half:.3f}"


def run_arm(world, family, steps, *, n, rate, generations, seeds, extra=(), **kw):
    finals, shares = [], []
    for seed in seeds:
        lin = Lineage(world=world, make_family=family, regime=Web(real_rate=rate), n=n, seed=seed,
                      curation=tuple(s for s in steps if s.name in ("substitute", "paraphrase")),
                      mixed_curation=tuple(s for s in steps if s.name not in ("substitute", "paraphrase")), **kw)
        recs = [lin.step() for _ in range(generations + 1)]
        finals.append(recs[-1].metrics)
        shares.append([r.metrics.get("train_synthetic_share", np.nan) for r in recs])
    return finals, np.array(shares)


def table(world, family, arms, metrics, **kw):
    print("| arm | " + " | ".join(KEYS + metrics) + " | s |")
    print("|---" * (len(KEYS) + len(metrics) + 2) + "|")
    by_gen = {}
    for name, steps in arms:
        t0 = time.perf_counter()
        finals, shares = run_arm(world, family, steps, **kw)
        cells = [ci([f.get(k, np.nan) for f in finals]) for k in KEYS + metrics]
        print(f"| {name} | " + " | ".join(cells) + f" | {time.perf_counter() - t0:.0f} |")
        by_gen[name] = shares
    print("\ntraining-set synthetic share by generation (mean over seeds):")
    for name, shares in by_gen.items():
        print(f"  {name:28s} " + " ".join(f"{x:.2f}" for x in np.nanmean(shares, axis=0)))


def categorical(seeds):
    from redqueen.models import CategoricalFamily
    from redqueen.worlds import zipf

    arms = [("open web", ()), ("types detector", (make_curation("detector"),)),
            ("importance resampling", (make_curation("resample"),)),
            ("verifier 90%", (make_curation("verifier", accuracy=0.9),)),
            ("keep high perplexity", (make_curation("perplexity", keep=0.5),)),
            ("ideal r.9 f.05", (make_curation("ideal", recall=0.9, fpr=0.05),))]
    table(zipf(2000, 1.1), CategoricalFamily, arms, ("types_lost", "kl", "heterozygosity"), n=10000, rate=5000,
          generations=10, seeds=seeds)


def text(seeds):
    from redqueen.models.ngram import NGramFamily
    from redqueen.worlds.text import TextWorld

    wm = dict(gamma=0.25, delta=2.0, key=15485863, context=1)
    water = make_curation("watermark", z=2.0, watermark=wm)
    arms = [("open web", ()), ("watermark z>2", (water,)),
            ("substitute 60% + watermark", (make_curation("substitute", rate=0.6), water)),
            ("paraphrase 50% + watermark", (make_curation("paraphrase", fraction=0.5), water)),
            ("hashed n-gram detector", (make_curation("detector"),)),
            ("keep high perplexity", (make_curation("perplexity", keep=0.5),))]
    table(TextWorld(vocab_size=5000, max_len=32),
          lambda: NGramFamily(order=2, smoothing="additive", alpha=0.1, watermark=wm), arms,
          ("types_lost", "ppl_real", "radioactivity_z"), n=1000, rate=400, generations=4, seeds=seeds,
          radioactivity=200, reference_size=300)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=["categorical", "text"])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    {"categorical": categorical, "text": text}[args.which](list(range(args.seeds)))
    print(f"\n{time.perf_counter() - t0:.0f} s; load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
