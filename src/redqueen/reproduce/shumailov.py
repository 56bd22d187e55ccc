"""Shumailov et al. 2024 (Nature, "AI models collapse when trained on recursively generated data").

Three experiments: a two-component Gaussian mixture refitted by EM on its own samples (the variance
collapses); a VAE on digits trained only on its own decoded samples (the real data's likelihood
falls); and the language-model experiment with the paper's protocol: one pre-trained model
(here a small transformer pre-trained once on the King James Bible and tinyshakespeare, cached),
fine-tuned afresh every generation for 5 epochs on WikiText-2 or on the previous generation's
beam-5, repetition-penalty-3 continuations of 64-token real prompts; no original data against 10%
of it kept.
"""

from __future__ import annotations

import hashlib
import json
import math

from pathlib import Path

import numpy as np

from redqueen.reproduce import experiments as X
from redqueen.reproduce import figures
from redqueen.reproduce.base import (
    Claim, Context, Measured, Outcome, Reproduction, ReproductionError, at_least, at_most, between,
)

PAPER = "Shumailov et al. 2024, Nature 631:755"
NO, KEPT = "no original data", "10% original data kept"
PRETRAIN_BATCH = 32  # windows per pre-training step (fine-tuning takes family.batch_size)


# ---------------------------------------------------------------- GMM
def run_gmm(ctx: Context) -> Outcome:
    exp = X.experiment("shumailov_gmm", ctx.scale, ctx)
    results = X.run(ctx, exp)
    var = X.trajectory(results, "replace", "var_ratio")
    # one Gaussian refitted by maximum likelihood: E log var drifts by about -2/N a generation
    typical = math.exp(-2 * exp.generations / exp.n)
    last = np.log(var[:, -1])
    rows = (
        Claim("gmm_collapse", f"sample variance / real variance after {exp.generations} generations (geometric mean)",
              f"{PAPER}, GMM experiment (two Gaussians, 1,000 samples, 2,000 generations)", at_most(0.1),
              published=f"collapses to a point (one Gaussian: ~e^(-2t/N) = {typical:.3f})"
              ).row(Measured(float(np.exp(last.mean())), 0.0, f"{var.shape[0]} lineages"), ctx.scale),
        Claim("gmm_monotone", "share of lineages whose variance fell by half or more",
              f"{PAPER}, GMM experiment", at_least(1.0), published="all").row(
            Measured(float(np.mean(var[:, -1] <= 0.5 * var[:, 0]))), ctx.scale),
    )
    t = np.arange(var.shape[1])
    fig = figures.lines({f"lineage {i}": (t, v) for i, v in enumerate(var[:6])}, xlabel="generation",
                        ylabel="sample variance / real", log=True,
                        dashed={"e^(-2t/N)": (t, np.exp(-2 * t / exp.n))})
    return Outcome(rows, X.run_ids(results), (("variance by generation", fig),))


# ---------------------------------------------------------------- VAE
def run_vae(ctx: Context) -> Outcome:
    exp = X.experiment("shumailov_vae", ctx.scale, ctx)
    results = X.run(ctx, exp)
    nll = {a: X.trajectory(results, a, "nll_real") for a in (NO, KEPT)}
    var = {a: X.trajectory(results, a, "var_ratio") for a in (NO, KEPT)}
    rise = {a: nll[a][:, -1] - nll[a][:, 0] for a in nll}
    rows = (
        Claim("vae_nll_rises", "no original data: rise of the real images' NLL (nats), generation 0 to last",
              f"{PAPER}, VAE experiment (MNIST)", at_least(0.0), published="the model forgets the real data: > 0"
              ).row(X.mean_of(rise[NO]), ctx.scale),
        Claim("vae_kept_helps", "NLL rise without original data minus the rise with 10% kept",
              f"{PAPER}, VAE and LM experiments", at_least(0.0), published="keeping real data slows it: > 0"
              ).row(X.mean_of(rise[NO] - rise[KEPT]), ctx.scale),
        Claim("vae_variance", "no original data: sample variance, last / generation 0",
              f"{PAPER}, VAE experiment (samples lose diversity)", at_most(1.0), published="< 1"
              ).row(X.mean_of(var[NO][:, -1] / var[NO][:, 0]), ctx.scale),
    )
    t = np.arange(nll[NO].shape[1])
    fig = figures.lines({a: (t, nll[a].mean(axis=0)) for a in nll}, xlabel="generation", ylabel="NLL of real images")
    return Outcome(rows, X.run_ids(results), (("real images' NLL by generation", fig),))


# ---------------------------------------------------------------- language model
def _pretraining_key(world, fam: dict, settings: dict) -> str:
    from redqueen import __version__
    from redqueen.models.neural.pretrained import vocabulary_digest
    from redqueen.worlds.text import _identity

    arch = {k: fam[k] for k in ("d_model", "n_layers", "n_heads", "context", "dropout", "weight_decay")}
    arch["batch_size"] = PRETRAIN_BATCH
    doc = {"arch": arch, "settings": settings, "vocab": vocabulary_digest(world.vocab.tokens), "version": __version__,
           "corpora": [_identity(c) for c in settings["corpora"]],
           "text": {k: getattr(world, k) for k in ("level", "unit", "lowercase", "max_len")}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pretrain(ctx: Context, exp, settings: dict):
    """The pre-trained weights for ``exp`` (cached under ``ctx.cache`` by every setting that shapes them).

    The pre-training corpora are read with the fine-tuning world's joint vocabulary (its
    ``vocab_corpora`` plus its own corpus), and the model is trained from scratch on their
    training splits. Returns the safetensors path.
    """
    from redqueen.models.neural import TransformerLMFamily, pretrained
    from redqueen.runtime.build import make_world
    from redqueen.worlds.text import TextWorld

    world = make_world(exp.world)
    fam = exp.family.model_dump()
    key = _pretraining_key(world, fam, settings)
    path = (ctx.cache or Path("redqueen-runs") / "cache") / f"pretrained-{key}.safetensors"
    if path.is_file():
        ctx.log(f"pre-trained weights from the cache: {path}")
        return path
    joint = [exp.world.corpus, *exp.world.vocab_corpora]
    text = {k: getattr(exp.world, k) for k in ("level", "unit", "lowercase", "vocab_size", "max_len")}
    data = None
    for corpus in settings["corpora"]:
        w = TextWorld(corpus=corpus, **text, vocab_corpora=[c for c in joint if c != corpus])
        if w.vocab != world.vocab:
            raise ReproductionError(f"pre-training corpus {corpus} is not among world.vocab_corpora "
                                      f"{exp.world.vocab_corpora}; add it so that both share the vocabulary")
        data = w.train if data is None else data.concat(w.train)
    model = TransformerLMFamily(
        **{k: fam[k] for k in ("d_model", "n_layers", "n_heads", "context", "dropout", "weight_decay")},
        batch_size=PRETRAIN_BATCH, epochs=float(settings["epochs"]), lr=float(settings["lr"]))
    ctx.log(f"pre-training on {len(data)} sequences ({data.tokens.size} tokens) of {', '.join(settings['corpora'])}, "
            f"{settings['epochs']} epochs")
    model.fit(data, np.random.default_rng(int(settings["seed"])))
    pretrained.save(model, path, corpora=json.dumps(settings["corpora"]), epochs=str(settings["epochs"]))
    return path


def run_lm(ctx: Context) -> Outcome:
    base = X.experiment("shumailov_lm", ctx.scale, ctx)
    weights = pretrain(ctx, base, X.settings("shumailov_lm", "pretrain", ctx.scale, ctx))
    exp = X.experiment("shumailov_lm", ctx.scale, ctx, family={"init": str(weights)})
    results = X.run(ctx, exp)
    ppl = {a: X.trajectory(results, a, "ppl_real") for a in (NO, KEPT)}
    p99 = {a: X.trajectory(results, a, "ppl_gen0_p99") for a in (NO, KEPT)}
    rise = {a: ppl[a][:, -1] - ppl[a][:, 0] for a in ppl}
    gens = exp.generations
    paper = ctx.scale == "paper"
    tail = Claim("lm_tail", f"no original data: 99th percentile of the samples' perplexity under generation 0, "
                 f"generation {gens} / generation 1", f"{PAPER}, LM experiment, per-sequence perplexity histograms",
                 at_least(1.0), published="> 1 (the tail grows)").row(X.mean_of(p99[NO][:, -1] / p99[NO][:, 1]),
                                                                     ctx.scale)
    rows = (
        Claim("lm_rise", f"no original data: held-out perplexity rise, generation 0 to {gens}",
              f"{PAPER}, LM experiment (OPT-125m fine-tuned on WikiText-2, 9 generations)",
              between(10.0, 100.0) if paper else at_least(0.0),
              published="tens of points (paper scale); > 0 at quick scale").row(X.mean_of(rise[NO]), ctx.scale),
        Claim("lm_kept_less", "rise without original data minus the rise with 10% kept",
              f"{PAPER}, LM experiment (10% of the original data preserved)", at_least(0.0),
              published="> 0").row(X.mean_of(rise[NO] - rise[KEPT]), ctx.scale),
    ) + ((tail,) if paper else ())
    t = np.arange(gens + 1)
    fig = figures.lines({a: (t, ppl[a].mean(axis=0)) for a in ppl}, xlabel="generation",
                        ylabel="held-out perplexity (WikiText-2)")
    notes = () if paper else ("the tail claim is checked at paper scale only: a 2-generation toy model has no tail to grow",)
    notes += (f"generation 0: perplexity {ppl[NO][:, 0].mean():.1f} after fine-tuning the pre-trained model; "
             f"last: {ppl[NO][:, -1].mean():.1f} without original data, {ppl[KEPT][:, -1].mean():.1f} with 10% kept",)
    return Outcome(rows, X.run_ids(results), (("held-out perplexity by generation", fig),), notes)


GMM = Reproduction(
    name="shumailov-gmm", paper=PAPER, run=run_gmm,
    summary="a 2-component Gaussian mixture refitted on its own samples: the variance collapses",
    claims=("variance collapses to a point",), minutes={"quick": 0.2, "paper": 25})
VAE = Reproduction(
    name="shumailov-vae", paper=PAPER, run=run_vae, needs=("torch",),
    summary="a VAE on digits trained on its own samples forgets the real data; 10% kept slows it",
    claims=("real-data NLL rises", "10% kept degrades less", "sample variance falls"),
    minutes={"quick": 0.3, "paper": 12})
LM = Reproduction(
    name="shumailov-lm", paper=PAPER, run=run_lm,
    needs=("torch", "wikitext-2/valid.txt", "tinyshakespeare/input.txt"),
    summary="a pre-trained transformer fine-tuned each generation on its own beam-5 text: perplexity rises",
    claims=("held-out perplexity rises tens of points", "10% kept degrades less", "longer per-sequence tail"),
    minutes={"quick": 0.5, "paper": 60})
