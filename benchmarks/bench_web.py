"""The contaminated web: synthetic share, filter precision/recall and collapse, per filter, over seeds.

``python benchmarks/bench_web.py categorical --seeds 5`` -- Zipf(2,000) world, categorical MLE, n = 10,000,
web with 5,000 real items a generation, 10 generations; arms: open web, each filter in the mixed stage.
``python benchmarks/bench_web.py text --seeds 5`` -- King James verses (5,000 words, <= 32 tokens), bigram
(additive alpha 0.1, watermarked gamma .25 delta 2 context 1), n = 1,000, 400 real verses a generation,
4 generations; arms: open web, watermark filter z > 2 (and after 60% substitution, 50% paraphrase),
hashed n-gram detector, keep-high-perplexity.
``python benchmarks/bench_web.py sweeps --seeds 5`` -- the same text setup, collapse against one knob at a time:
watermark strength delta (watermark filter z > 2, delta of the generators' watermark), token substitution rate
before the watermark filter (delta 2), and the recall of a filter of known error rates (``ideal``, fpr 0.05).
``--family transformer`` (``text`` and ``sweeps``): the same web, watermark and filters on a small causal
transformer trained from scratch every generation (benchmarks/cures_transformer.toml's model), shrunk to fit about
an hour on one core for both tables (``TRANSFORMER_SIZE``: 2,000 words, verses <= 24 tokens, n = 500, 200 real
verses a generation, 4 generations); its tables add ``types_lost`` (a transformer can lose words) and leave out
the rows the other table already has (``GRIDS``) and the paraphrase arm.
``--steps N`` fixes every transformer fit's AdamW steps (equal compute whatever a filter keeps); ``--generations N``
the transformer web's horizon; ``--arms "open web,watermark z>2"`` runs only the arms named.
``rest --family transformer``: the two arms those tables leave out (paraphrase 50% then the watermark filter;
the ideal filter at recall 0.75). ``--end-token`` (transformer): samples end where the model predicts the end of a
verse, instead of all running to 24 tokens; ``lengths --family transformer [--end-token]``: the samples' lengths
against the real items'.

Each table: mean and 95% t-interval over seeds (one lineage per seed) at the last generation, and the synthetic
share by generation of the training set (each arm) and of the web. Prints the load average before and after (the
machine is shared).
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
    finals, shares, web = [], [], []
    for seed in seeds:
        lin = Lineage(world=world, make_family=family, regime=Web(real_rate=rate), n=n, seed=seed,
                      curation=tuple(s for s in steps if s.name in ("substitute", "paraphrase")),
                      mixed_curation=tuple(s for s in steps if s.name not in ("substitute", "paraphrase")), **kw)
        recs = [lin.step() for _ in range(generations + 1)]
        finals.append(recs[-1].metrics)
        shares.append([r.metrics.get("train_synthetic_share", np.nan) for r in recs])
        web.append([r.metrics.get("pool_synthetic_share", np.nan) for r in recs])
    return finals, (np.array(shares), np.array(web))


#: ``--arms``: the names of the arms to run (all when empty)
ONLY: set[str] = set()


def table(world, family, arms, metrics, **kw):
    arms = [a for a in arms if not ONLY or a[0] in ONLY]
    if not arms:
        return
    print("| arm | " + " | ".join(KEYS + metrics) + " | s |")
    print("|---" * (len(KEYS) + len(metrics) + 2) + "|")
    by_gen = {}
    for name, steps in arms:
        t0 = time.perf_counter()
        finals, shares = run_arm(world, family, steps, **kw)
        cells = [ci([f.get(k, np.nan) for f in finals]) for k in KEYS + metrics]
        print(f"| {name} | " + " | ".join(cells) + f" | {time.perf_counter() - t0:.0f} |", flush=True)
        by_gen[name] = shares
    print("\ntraining-set synthetic share by generation (mean over seeds; last line: the web's own synthetic share):")
    for name, shares in by_gen.items():
        print(f"  {name:28s} " + _row(shares[0]))
    name, shares = next(iter(by_gen.items()))
    print(f"  {'web (' + name + ')':28s} " + _row(shares[1]), flush=True)


def _row(shares) -> str:
    """Mean over seeds by generation; '-' where a generation has no value (the web before generation 1)."""
    return " ".join("-" if np.isnan(col).all() else f"{np.nanmean(col):.2f}" for col in np.asarray(shares, float).T)


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


# steps None: 4 epochs over whatever the filter kept (fewer steps for a smaller training set); --steps N fixes
# every fit's AdamW steps instead (45 = 4 epochs over 500 unfiltered verses), equal compute in every arm
TRANSFORMER_SIZE = dict(n=500, rate=200, generations=4, radioactivity=200, vocab=2000, epochs=4.0, steps=None,
                        end_token=False)

# types_lost is 0 throughout: additive smoothing gives every word mass, so KL, ppl_real and distinct-2 measure the damage
TEXT_METRICS = ("kl", "ppl_real", "distinct_2", "tail_mass_kept", "radioactivity_z")


# the transformer can lose words (it samples, no smoothing floor), so types_lost is a collapse number there
TRANSFORMER_METRICS = ("types_lost",) + TEXT_METRICS
# Per family: the sweeps' grids. The transformer's leave out the rows its ``text`` table already has with the
# same seeds and setup (delta 2 = "watermark z>2", substitution 60%, open web) and recall 0.75 (time).
GRIDS = {"ngram": dict(delta=(0.5, 1.0, 2.0, 4.0), substitute=(0.0, 0.2, 0.4, 0.6, 0.8),
                       recall=(0.25, 0.5, 0.75, 0.9, 1.0), open_web=True),
         "transformer": dict(delta=(0.5, 1.0, 4.0), substitute=(0.2, 0.4, 0.8), recall=(0.25, 0.5, 0.9, 1.0),
                             open_web=False)}


def _text_setup(delta: float = 2.0, family: str = "ngram"):
    """``(world, make_family, watermark, run_arm keywords)``: the King James web, one model family.

    ``ngram``: word bigram, additive alpha 0.1, 5,000 words, verses <= 32 tokens, n = 1,000, 400 real a generation.
    ``transformer``: benchmarks/cures_transformer.toml's model (d_model 64, 2 blocks, 2 heads, context 32, AdamW
    3e-3, batch 32, 4 epochs, sampling 24 new tokens from BOS), 2,000 words, verses <= 24 tokens, shrunk to fit
    about an hour on one core for both tables (see ``TRANSFORMER_SIZE``). The same watermark on every model's output.
    """
    from redqueen.worlds.text import TextWorld

    wm = dict(gamma=0.25, delta=delta, key=15485863, context=1)
    if family == "ngram":
        from redqueen.models.ngram import NGramFamily

        make = lambda: NGramFamily(order=2, smoothing="additive", alpha=0.1, watermark=wm)  # noqa: E731
        kw = dict(n=1000, rate=400, generations=4, radioactivity=200, reference_size=300)
        return TextWorld(vocab_size=5000, max_len=32), make, wm, kw
    from functools import partial

    from redqueen.models.neural import TransformerLMFamily

    size = TRANSFORMER_SIZE
    make = partial(TransformerLMFamily, d_model=64, n_layers=2, n_heads=2, context=32, epochs=size["epochs"],
                   steps=size["steps"], batch_size=32, lr=3e-3, prompt_len=0, max_new_tokens=24, decoding="sample",
                   watermark=wm, end_token=size["end_token"])
    kw = dict(n=size["n"], rate=size["rate"], generations=size["generations"], radioactivity=size["radioactivity"],
              reference_size=300)
    return TextWorld(vocab_size=size["vocab"], max_len=24), make, wm, kw


def sweeps(seeds, family="ngram"):
    """Collapse against delta, filter recall and attack rate, one knob at a time (each row its own arm)."""
    grid, metrics = GRIDS[family], TEXT_METRICS if family == "ngram" else TRANSFORMER_METRICS
    world, _, _, kw = _text_setup(family=family)
    print("### watermark strength delta (watermark filter z > 2)\n")
    for delta in grid["delta"]:
        _, make, wm, _ = _text_setup(delta, family)
        table(world, make, [(f"delta {delta}", (make_curation("watermark", z=2.0, watermark=wm),))],
              metrics, seeds=seeds, **kw)
    _, make, wm, _ = _text_setup(2.0, family)
    print("\n### recall of a filter of known error rates (ideal, fpr 0.05)\n")
    arms = ([("open web", ())] if grid["open_web"] else []) + [
        (f"recall {r}", (make_curation("ideal", recall=r, fpr=0.05),)) for r in grid["recall"]]
    table(world, make, arms, metrics, seeds=seeds, **kw)
    print("\n### substitution rate before the watermark filter (delta 2, z > 2)\n")
    arms = [(f"substitute {rate:.0%}", ((make_curation("substitute", rate=rate),) if rate else ())
             + (make_curation("watermark", z=2.0, watermark=wm),)) for rate in grid["substitute"]]
    table(world, make, arms, metrics, seeds=seeds, **kw)


def text(seeds, family="ngram"):
    world, make, wm, kw = _text_setup(family=family)
    water = make_curation("watermark", z=2.0, watermark=wm)
    arms = [("open web", ()), ("watermark z>2", (water,)),
            ("substitute 60% + watermark", (make_curation("substitute", rate=0.6), water)),
            ("paraphrase 50% + watermark", (make_curation("paraphrase", fraction=0.5), water)),
            ("hashed n-gram detector", (make_curation("detector"),)),
            ("keep high perplexity", (make_curation("perplexity", keep=0.5),))]
    if family == "transformer":  # time: the paraphrase arm is the n-gram table's alone
        arms = [a for a in arms if not a[0].startswith("paraphrase")]
    metrics = ("types_lost", "ppl_real", "radioactivity_z") if family == "ngram" else TRANSFORMER_METRICS
    table(world, make, arms, metrics, seeds=seeds, **kw)


def rest(seeds, family="transformer"):
    """The arms the transformer's ``text`` and ``sweeps`` tables leave out for time: paraphrase 50% then the
    watermark filter, and the ideal filter at recall 0.75 (the n-gram's tables have both)."""
    if family != "transformer":
        raise SystemExit("bench_web.py rest: the n-gram's text and sweeps tables already have these arms")
    world, make, wm, kw = _text_setup(family=family)
    arms = [("paraphrase 50% + watermark", (make_curation("paraphrase", fraction=0.5),
                                            make_curation("watermark", z=2.0, watermark=wm))),
            ("recall 0.75", (make_curation("ideal", recall=0.75, fpr=0.05),))]
    table(world, make, arms, TRANSFORMER_METRICS, seeds=seeds, **kw)


def lengths(seeds, family="transformer"):
    """The transformer's sample lengths against the real items': one fit on n real verses per seed, 2,000 samples."""
    if family != "transformer":
        raise SystemExit("bench_web.py lengths: for --family transformer")
    world, make, _, kw = _text_setup(family=family)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        model = make().fit(world.sample(kw["n"], rng), rng)
        got, real = model.sample(2000, rng).lengths(), world.sample(2000, rng).lengths()
        print(f"seed {seed}: samples {got.mean():.1f} tokens (sd {got.std():.1f}; at the cut {np.mean(got == 24):.2f}, "
              f"empty {np.mean(got == 0):.3f}); real {real.mean():.1f} (sd {real.std():.1f})")


def main() -> None:
    from redqueen.runtime import threads

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=["categorical", "text", "sweeps", "rest", "lengths"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--family", choices=["ngram", "transformer"], default="ngram",
                    help="the text tables' model (the categorical table has one)")
    ap.add_argument("--steps", type=int, default=None,
                    help="transformer only: AdamW steps per fit (default: 4 epochs over the kept training set)")
    ap.add_argument("--end-token", action="store_true",
                    help="transformer only: samples end where the model predicts the end of a verse (default: all 24 "
                         "tokens long)")
    ap.add_argument("--generations", type=int, default=None,
                    help="transformer only: generations of the web (default 4)")
    ap.add_argument("--arms", default="", help="comma-separated arm names to run (default: all of the table's)")
    args = ap.parse_args()
    ONLY.update(a.strip() for a in args.arms.split(",") if a.strip())
    if args.which == "categorical" and args.family != "ngram":
        ap.error("--family applies to text and sweeps; categorical has its own family")
    for key, unset in (("steps", None), ("generations", None), ("end_token", False)):  # TRANSFORMER_SIZE overrides
        value = getattr(args, key)
        if value == unset:
            continue
        flag = "--" + key.replace("_", "-")
        if args.family != "transformer" or (value is not True and value < 1):
            ap.error(f"{flag} applies to --family transformer only" + ("" if value is True else " (N >= 1)"))
        TRANSFORMER_SIZE[key] = value
    print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.perf_counter()
    seeds = list(range(args.seeds))
    with threads.limited():  # the runtime's thread policy: one BLAS/torch thread unless REDQUEEN_THREADS says more
        if args.which == "categorical":
            categorical(seeds)
        else:
            {"text": text, "sweeps": sweeps, "rest": rest, "lengths": lengths}[args.which](seeds, args.family)
    print(f"\n{time.perf_counter() - t0:.0f} s; load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
