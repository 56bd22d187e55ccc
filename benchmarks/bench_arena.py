"""The Red Queen arena: frozen vs adapting vs history detectors over seeds, and what an arena round costs.

    python benchmarks/bench_arena.py regimes --world text  --replicates 5 [--corpus ../shared/data/wikitext-2/valid.txt]
        [--samples 800 --C 10] [--genes temperature|top_p|none] [--detector likelihood_ratio]
        [--fidelity distance --slack 0.05 --reference 1000]
    python benchmarks/bench_arena.py regimes --world digits --replicates 5 [--mutation gaussian --sigma 0.05]
        [--generations 12] [--real-fraction 0.5] [--warm-start] [--samples 200] [--hidden 32]
        [--genes temperature,weight_temperature] [--gene-sigma 0.1] [--slack 1.0]
        [--covariance {diag,full,tied}] [--reg-covar 1e-6] [--family {gmm,vae}]
    python benchmarks/bench_arena.py regimes --world text --family transformer --genes logit_bias --n 300 --web 300
    python benchmarks/bench_arena.py crossplay --world text|digits [every regimes flag] [--first 10]
    every regimes/crossplay run also takes [--regimes frozen,adapting,history] [--members 8 --heldout 4]
        [--capacity 3] [--remember champions|generations] [--n ITEMS] [--web ITEMS]
    python benchmarks/bench_arena.py round --repeats 7
    python benchmarks/bench_arena.py tempering --world digits [--samples 400 --hidden 32]
        [--covariance full --reg-covar 1e-2] [--family vae]
    python benchmarks/bench_arena.py tempering --world text [--samples 800 --C 10] [--genes top_p]
        [--detector all] [--temperatures 0.6,0.8,1.0]

``regimes`` runs the three detector regimes on the same seed (replicates are independent seeds, spawned
from it) and prints, per regime, the mean and 95% t-interval over replicates of: the detector's AUC and
TPR at 1% FPR against the current generators at the last round (and the slope of TPR over rounds), its
AUC against the held-out generators (generality), the mean CIAO column (the last detector against every
round's generators), and the web model's ppl_real (text) or w1 (digits).

``crossplay`` measures generality against one fixed set of unseen opponents: per replicate the three regimes'
races run from the same seed, then each regime's last detector is scored on fresh samples of every race's
held-out generators (which no detector trained on) against the same real items; TPR at 1% FPR and AUC per
detector, and paired differences. (``regimes``' held-out column scores each detector against its own race's
held-out generators, which evolved against that detector: a different opponent set per regime.)

``tempering`` asks what a sampling gene can buy against a frozen detector, outside the arena: one Gaussian
mixture (10 components, diagonal unless ``--covariance``; or with ``--family vae`` the small VAE of
:data:`VAE`, whose temperature is the latent prior's scale) fitted on 600 real digits, an MLP detector fitted once on its untempered
samples against real ones, then, per temperature (and per weight temperature), that detector's TPR at 1% FPR
and AUC on the tempered model's samples and the tempered model's fidelity (mean log-likelihood of held-out
real digits); replicates are seeds.

``round`` times one arena round on text (King James bigrams, 6 generators, 2 held out) against its parts measured
bare, side by side and interleaved: a population step without the arena (generator fit + sample + the
loop's diagnostics) plus a bare detector fit and score on the same sizes. Medians and spread of the
ratio, with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from scipy import stats

from redqueen.models.detectors import make_detector
from redqueen.runtime import config as C
from redqueen.runtime.build import make_population, make_world, plan_arms
from redqueen.runtime.runner import run_experiment

REGIMES = ("frozen", "adapting", "history")


def text_detector(kind="hashed_ngram", buckets=4096, ngrams=(1, 2), C=1.0) -> dict:
    """The text detector's config: hashed n-grams, or a likelihood-ratio / perplexity detector (Kneser-Ney bigram
    references); ``C`` the logistic regression's inverse L2 strength in each."""
    if kind == "hashed_ngram":
        return {"kind": kind, "n_features": buckets, "ngram_range": list(ngrams), "C": C}
    return {"kind": kind, "C": C}


def memory(regime: str, capacity: int, remember: str) -> dict:
    """The arena's regime keys: a history detector's ``capacity`` and ``remember``, which other regimes refuse."""
    return {"regime": regime, **({"capacity": capacity, "remember": remember} if regime == "history" else {})}


#: the text generators of ``--family transformer``: the cure table's small transformer (BENCHMARKS §12), verses that
#: end where the model ends them; ~1 s a fit on 200 verses at load 0
TRANSFORMER = {"kind": "transformer", "d_model": 64, "n_layers": 2, "n_heads": 2, "context": 32, "epochs": 4.0,
               "batch_size": 32, "lr": 3e-3, "prompt_len": 0, "prompts": "none", "max_new_tokens": 24,
               "end_token": True, "decoding": "sample"}
NGRAM = {"kind": "ngram", "order": 2, "smoothing": "additive", "alpha": 0.01}


def text_config(regime, reps, gens=6, web=1000, members=6, samples=200, corpus="kjv", buckets=4096, ngrams=(1, 2),
                C=1.0, detector="hashed_ngram", genes=("temperature",), fidelity="likelihood", slack=1.0,
                reference=150, gene_sigma=0.1, capacity=0, remember="champions", heldout=2, family="ngram", n=1000):
    detector = text_detector(detector, buckets, ngrams, C)
    arena = {"kind": "arena", **memory(regime, capacity, remember), "samples": samples, "children": 2, "heldout": heldout,
             "reference": reference, "genes": list(genes), "web": web, "detector": detector, "fidelity": fidelity,
             "slack": slack, "gene_sigma": gene_sigma}
    return {"name": f"arena text {regime}", "seed": 3, "generations": gens, "n": n, "replicates": reps,
            "reference_size": 150,
            "world": {"kind": "text", "corpus": corpus, "level": "word", "vocab_size": 2000, "max_len": 32},
            "family": TRANSFORMER if family == "transformer" else NGRAM,
            "arms": [{"name": regime, "members": members, "regime": "fresh", "real_fraction": 0.5,
                      "couplings": [arena]}]}


#: the digits VAE of ``--family vae``: small enough that a 3-regime, 5-replicate run fits in ~20 min on one core
VAE = {"kind": "vae", "latent_dim": 8, "hidden": [128], "epochs": 40, "batch_size": 128, "lr": 2e-3, "scale": 1.0}


def digits_config(regime, reps, gens=6, mutation="none", sigma=0.05, real_fraction=0.5, warm=False, samples=200,
                  hidden=32, genes=(), gene_sigma=0.1, slack=1.0, covariance="diag",
                  reg_covar=1e-6, family="gmm", noise=False, capacity=0, remember="champions", members=6, heldout=2,
                  n=600, web=400):
    arena = {"kind": "arena", **memory(regime, capacity, remember), "samples": samples, "children": 2,
             "heldout": heldout, "reference": 200,
             "mutation": mutation, "sigma": sigma, "web": web, "genes": list(genes), "gene_sigma": gene_sigma,
             "slack": slack,
             "detector": {"kind": "classifier", "params": {"hidden_layer_sizes": [hidden], "max_iter": 200}}}
    return {"name": f"arena digits {regime}", "seed": 12, "generations": gens, "n": n, "replicates": reps,
            "reference_size": 300, "world": {"kind": "digits", "scale": True},
            "family": {**VAE, "sample_noise": noise} if family == "vae" else {"kind": "gmm", "components": 10, "covariance_type": covariance,
                                                   "reg_covar": reg_covar, "warm_start": warm},
            "arms": [{"name": regime, "members": members, "regime": "fresh", "real_fraction": real_fraction,
                      "couplings": [arena]}]}


def interval(x) -> str:
    x = np.asarray(x, dtype=float)
    m = x.mean()
    h = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else float("nan")
    return f"{m:8.3f} [{m - h:7.3f}, {m + h:7.3f}]"


def regimes(world: str, reps: int, gens: int = 6, corpus: str = "kjv", text: dict | None = None,
            which: tuple = REGIMES, **digits) -> None:
    """``text``: keywords of :func:`text_config` after ``corpus`` (samples, buckets, ngrams, C, detector, genes); ``digits``: every
    keyword of :func:`digits_config` after ``gens`` (each for its own world, ignored for the other)."""
    web = "web_ppl_real" if world == "text" else "web_w1"
    web_more = (("web_types_lost", "web_tail_mass_kept", "web_kl", "web_synthetic_share") if world == "text"
                else ("web_synthetic_share",))  # the web model's other diagnostics, printed and paired
    text = text or {}
    d = digits
    genes = d.get("genes", ()) if world == "digits" else tuple(text.get("genes", ("temperature",)))
    setting = (f", mutation {d['mutation']} sigma {d['sigma']}, real fraction {d['real_fraction']}, warm start "
               f"{d['warm']}, detector MLP {d['hidden']} on {d['samples']} + {d['samples']}, genes {list(genes)} (sigma "
               f"{d['gene_sigma']}), slack {d['slack']} nats, "
               + (f"family {VAE}, sample_noise {d['noise']}" if d["family"] == "vae"
                  else f"covariance {d['covariance']} (reg_covar {d['reg_covar']})")
               if world == "digits" else f", corpus {corpus}, detector {text}, family "
               f"{TRANSFORMER if text.get('family') == 'transformer' else NGRAM}")
    setting += (f", {d['members']} generators ({d['heldout']} held out), history remembers "
                f"{d['remember']} of {d['capacity'] or 'all'} rounds")
    print(f"{world}: {reps} replicates, {gens} rounds{setting}; mean [95% t-interval] over replicates; "
          f"load average {os.getloadavg()}")
    print(f"{'regime':9s} {'AUC gen0':>28s} {'AUC last':>28s} {'TPR@1% last':>28s} {'TPR slope/round':>28s} "
          f"{'AUC held-out last':>28s} {'TPR@1% held-out last':>28s} {'CIAO column mean':>28s} {web + ' last':>28s} {'seconds':>8s}")
    finals = {}  # regime -> {measure: per-replicate values}: the regimes share their seeds, so differences pair
    for regime in which:
        cfg = (text_config(regime, reps, gens, corpus=corpus, **text) if world == "text"
               else digits_config(regime, reps, gens, **digits))
        t0 = time.perf_counter()
        res = run_experiment(C.validate(cfg), checkpoints=False)
        secs = time.perf_counter() - t0
        auc = res.trajectory(regime, "det_auc")
        tpr = res.trajectory(regime, "det_tpr1")
        slope = [np.polyfit(np.arange(row.size), row, 1)[0] for row in tpr]
        print(f"{regime:9s} {interval(auc[:, 0])} {interval(auc[:, -1])} {interval(tpr[:, -1])} {interval(slope)} "
              f"{interval(res.final(regime, 'det_auc_heldout'))} {interval(res.final(regime, 'det_tpr1_heldout'))} "
              f"{interval(res.final(regime, 'det_generality'))} "
              f"{interval(res.final(regime, web))} {secs:8.1f}")
        fid = res.trajectory(regime, "arena_fidelity")  # what evasion costs: the generators' fidelity, per round
        what = ("minus the JS divergence of token frequencies from real verses"
                if world == "text" and text.get("fidelity") == "distance"
                else f"mean log-likelihood of real {'digits, per image' if world == 'digits' else 'verses, per token'}")
        print(f"{'':9s} fidelity ({what})"
              f" gen 0 {interval(fid[:, 0])}, last {interval(fid[:, -1])}; load average {os.getloadavg()}")
        for gene in genes:  # where selection took each sampling gene: the trained-on generators' mean, per round
            v = res.trajectory(regime, f"arena_{gene}")
            print(f"{'':9s} {gene} by round (mean over replicates and all members): "
                  f"{' '.join(f'{x:.3f}' for x in v.mean(axis=0))}; last {interval(v[:, -1])}")
        print(f"{'':9s} TPR@1% by round (mean over replicates): {' '.join(f'{v:.3f}' for v in tpr.mean(axis=0))}")
        print(f"{'':9s} per replicate (to pair across runs): AUC held-out last "
              f"{' '.join(f'{v:.3f}' for v in res.final(regime, 'det_auc_heldout'))}; TPR@1% held-out last "
              f"{' '.join(f'{v:.3f}' for v in res.final(regime, 'det_tpr1_heldout'))}")
        print(f"{'':9s} web model, last round: " + "; ".join(f"{k} {interval(res.final(regime, k)).strip()}"
                                                           for k in web_more))
        ciao_signature(res, regime)
        sys.stdout.flush()
        finals[regime] = {"AUC held-out last": res.final(regime, "det_auc_heldout"),
                          "TPR@1% held-out last": res.final(regime, "det_tpr1_heldout"),
                          "CIAO column mean": res.final(regime, "det_generality"), "TPR@1% last": tpr[:, -1],
                          f"{web} last": res.final(regime, web),
                          **{f"{k} last": res.final(regime, k) for k in web_more}}
    if reps > 1:  # replicate r of every regime starts from the same seed and generation 0: paired differences
        for a, b in pairs(which):
            print(f"{a} - {b} (paired by replicate): " + "; ".join(
                f"{k} {interval(np.asarray(finals[a][k]) - np.asarray(finals[b][k])).strip()}" for k in finals[a]))


def ciao_signature(res, regime: str) -> None:
    """The Red Queen signature read off each replicate's CIAO matrix (AUC of detector round j against generator
    round i): against contemporaries -- generator round g and the detector one round behind, [g, g-1], the
    detector it evolved against -- and against the ancestral detector, [g, 0]; per round the mean over
    replicates, and each line's slope per round (a least-squares line per replicate, then mean [95% t-interval]),
    and the paired difference of the slopes. The signature: contemporaries flat, ancestors falling."""
    from redqueen.arena import ciao_matrix

    reps = sorted({r.replicate for r in res.records if r.arm == regime})
    mats = np.stack([ciao_matrix(res.records, regime, rep) for rep in reps])
    g = np.arange(1, mats.shape[1])
    lines = {"contemporaries [g, g-1]": mats[:, g, g - 1], "ancestor [g, 0]": mats[:, g, 0]}
    slopes = {k: np.array([np.polyfit(g, row, 1)[0] for row in v]) for k, v in lines.items()}
    for k, v in lines.items():
        print(f"{'':9s} CIAO {k:24s} rounds 1-{g[-1]}: {' '.join(f'{x:.3f}' for x in v.mean(axis=0))}; "
              f"slope {interval(slopes[k]).strip()}")
    a, b = slopes.values()
    print(f"{'':9s} CIAO slope contemporaries - ancestor (paired): {interval(a - b).strip()}")


def tempering(samples: int, hidden: int, reps: int, covariance: str = "diag", reg_covar: float = 1e-6,
              family: str = "gmm", noise: bool = False, values=(0.5, 0.7, 0.85, 1.0, 1.2)) -> None:
    from redqueen.arena.genes import apply
    from redqueen.metrics.detection import auc, tpr_at_fpr
    from redqueen.runtime.build import make_family

    cfg = C.validate(digits_config("frozen", 1, covariance=covariance, reg_covar=reg_covar, family=family, noise=noise))
    world = make_world(cfg.world)
    make = make_family(cfg.family)
    genes = ("temperature",) if family == "vae" else ("temperature", "weight_temperature")
    rows = {(g, v): [] for g in genes for v in values}
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        model = make().fit(world.sample(600, rng), rng)
        det = make_detector("classifier", params={"hidden_layer_sizes": [hidden], "max_iter": 200})
        det = det.fit(world.sample(samples, rng), model.sample(samples, rng), rng)
        real = (getattr(world, "heldout", None) or world.sample)(samples, rng)
        s_real = det.score(real)
        for (gene, v), out in rows.items():
            m = apply(make, model, (gene,), np.array([v]))
            s = det.score(m.sample(samples, rng))
            out.append((tpr_at_fpr(s_real, s, 0.01), auc(s_real, s), float(np.mean(m.log_prob(real)))))
    what = f"VAE {VAE}, sample_noise {noise}" if family == "vae" else f"{covariance} mixture (reg_covar {reg_covar})"
    print(f"tempering: {what}; MLP {hidden} on {samples} + {samples}, fitted once on the untempered model; {reps} seeds, "
          f"mean [95% t-interval]; load average {os.getloadavg()}")
    for (gene, v), out in rows.items():
        a = np.array(out)
        print(f"{gene:18s} {v:5.2f}  TPR@1% {interval(a[:, 0])}  AUC {interval(a[:, 1])}  fidelity {interval(a[:, 2])}")


def text_tempering(samples: int, reps: int, detectors: dict, values=(0.5, 0.7, 0.85, 1.0, 1.2),
                   gene: str = "temperature") -> None:
    """Outside the arena, on text: one bigram generator per seed (the arena's, on 1,000 real verses); per value of
    the sampling gene (temperature, or top_p), each detector's TPR at 1% FPR and AUC on the biased samples when
    fitted once on unbiased ones (what a frozen detector sees) and when fitted on samples of that same value (the
    most an adapting detector one step behind a slow gene can reach), and the biased model's fidelity, both kinds:
    per-token log-likelihood of the real test verses, and minus the distance of its test samples to them."""
    from redqueen.arena.coupling import distance
    from redqueen.arena.genes import apply
    from redqueen.metrics.detection import auc, tpr_at_fpr
    from redqueen.runtime.build import make_family

    cfg = C.validate(text_config("frozen", 1))
    world = make_world(cfg.world)
    make = make_family(cfg.family)
    rows = {(name, v): [] for name in detectors for v in values}
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        model = make().fit(world.sample(1000, rng), rng)
        real_test = world.heldout(samples, rng)
        for name, spec in detectors.items():
            frozen = make_detector(**spec).fit(world.sample(samples, rng), model.sample(samples, rng), rng)
            s_frozen = frozen.score(real_test)
            for v in values:
                m = apply(make, model, (gene,), np.array([v]))
                matched = make_detector(**spec).fit(world.sample(samples, rng), m.sample(samples, rng), rng)
                test = m.sample(samples, rng)
                s_real, s = matched.score(real_test), matched.score(test)
                sf = frozen.score(test)
                # the arena's fidelity (ReferenceScores.log_likelihoods): each verse's log-likelihood per token, averaged
                fid = float(np.mean(m.log_prob(real_test) / (real_test.lengths() + 1)))
                rows[(name, v)].append((tpr_at_fpr(s_frozen, sf, 0.01), tpr_at_fpr(s_real, s, 0.01), auc(s_real, s),
                                        fid, -distance(test, real_test)))
    print(f"text tempering: KJV bigram (the arena's generator) on 1,000 verses; detectors on {samples} + {samples}; "
          f"{reps} seeds, mean [95% t-interval]; load average {os.getloadavg()}")
    for (name, v), out in rows.items():
        a = np.array(out)
        with np.errstate(invalid="ignore"):  # top_p < 1: the likelihood fidelity is -inf
            print(f"{name:18s} {'T' if gene == 'temperature' else gene} {v:5.2f}  TPR@1% frozen {interval(a[:, 0])}  "
                  f"matched {interval(a[:, 1])}  AUC matched {interval(a[:, 2])}  fidelity/token {interval(a[:, 3])}  "
                  f"-JS {interval(a[:, 4])}")


def round_cost(repeats: int) -> None:
    exp = C.validate(text_config("adapting", 1, gens=50, web=0))
    plain = C.validate({**text_config("adapting", 1, gens=50, web=0),
                        "arms": [{"name": "plain", "members": 6, "regime": "fresh", "real_fraction": 0.5}]})
    world = make_world(exp.world)
    arena_pop = make_population(exp, world, plan_arms(exp, world)[0], 0)
    plain_pop = make_population(plain, world, plan_arms(plain, world)[0], 0)
    arena_pop.step()
    plain_pop.step()
    rng = np.random.default_rng(0)
    samples = 200
    ratios, rounds, parts = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        arena_pop.step()
        t_round = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain_pop.step()  # generator fit + sample (+ the loop's diagnostics), bare
        models = plain_pop.models()
        synthetic = models[0].sample(samples, rng)
        real = world.sample(samples, rng)
        det = make_detector("hashed_ngram", n_features=4096).fit(real, synthetic, rng)  # detector fit ...
        det.score(world.sample(samples, rng))
        for m in models:  # ... and score of every generator's items
            det.score(m.sample(samples, rng))
        t_parts = time.perf_counter() - t0
        rounds.append(t_round)
        parts.append(t_parts)
        ratios.append(t_round / t_parts)
    q = np.percentile(ratios, [25, 50, 75])
    print(f"arena round (text, 6 generators, no web): median {np.median(rounds):.3f}s; parts bare: median "
          f"{np.median(parts):.3f}s; ratio median {q[1]:.2f} (IQR {q[0]:.2f}-{q[2]:.2f}) over {repeats} interleaved "
          f"repeats; load average {os.getloadavg()}")


def pairs(which: tuple) -> list[tuple[str, str]]:
    """The paired differences printed: history - adapting, history - frozen, adapting - frozen, of those run."""
    return [(a, b) for a, b in (("history", "adapting"), ("history", "frozen"), ("adapting", "frozen"))
            if a in which and b in which]


def crossplay(world: str, reps: int, gens: int, corpus: str, text: dict, which: tuple = REGIMES, first: int = 0,
              **digits) -> None:
    """Generality against one fixed set of unseen opponents: per replicate, the three regimes' races are stepped
    side by side from the same seed; then every regime's last detector meets the same opponents -- the held-out
    generators of all three races (none of which any detector trained on) -- on fresh samples, against the same
    real test items. Prints, per detector, the mean [95% t-interval] over replicates of its TPR at 1% FPR and AUC
    on that shared set, and the paired differences between detectors."""
    from redqueen.metrics.detection import auc, tpr_at_fpr

    tpr = {r: [] for r in which}
    aucs = {r: [] for r in which}
    t0 = time.perf_counter()
    for rep in range(first, first + reps):  # replicate r is seed r of the spawn: runs from --first extend a run
        arenas = {}
        for regime in which:
            cfg = (text_config(regime, reps, gens, corpus=corpus, **text) if world == "text"
                   else digits_config(regime, reps, gens, **digits))
            exp = C.validate(cfg)
            w = make_world(exp.world)
            pop = make_population(exp, w, plan_arms(exp, w)[0], rep)
            for _ in range(gens + 1):
                pop.step()
            arenas[regime] = (pop.coupling_list[0], pop.models())
        rng = np.random.default_rng([rep, 2026])
        n = next(iter(arenas.values()))[0].samples
        opponents = [models[i].sample(n, rng) for arena, models in arenas.values() for i in arena.held_]
        for regime, (arena, _) in arenas.items():
            det = arena.detector_
            s_real = det.score(arena.real_test_)
            s_opp = np.concatenate([det.score(o) for o in opponents])
            tpr[regime].append(tpr_at_fpr(s_real, s_opp, 0.01))
            aucs[regime].append(auc(s_real, s_opp))
    print(f"crossplay, {world}: {reps} replicates, {gens} rounds, {len(opponents)} shared unseen opponents (every "
          f"race's held-out generators); {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()}")
    for regime in which:
        print(f"{regime:9s} TPR@1% {interval(tpr[regime])}  AUC {interval(aucs[regime])}")
        print(f"{'':9s} per replicate {first}-{first + reps - 1}: TPR@1% {' '.join(f'{v:.3f}' for v in tpr[regime])}; "
              f"AUC {' '.join(f'{v:.3f}' for v in aucs[regime])}")
    for a, b in pairs(which):
        print(f"{a} - {b} (paired): TPR@1% {interval(np.subtract(tpr[a], tpr[b])).strip()}; "
              f"AUC {interval(np.subtract(aucs[a], aucs[b])).strip()}")


def ngram_range(text: str) -> tuple[int, int]:
    """``--ngrams lo,hi``: two positive integers, lo <= hi (argparse turns the error into one line, exit 2)."""
    try:
        lo, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not lo,hi; give two integers such as 1,2") from None
    if not 1 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"{text!r}: need 1 <= lo <= hi, e.g. 1,2")
    return lo, hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["regimes", "crossplay", "round", "tempering"])
    ap.add_argument("--world", choices=["text", "digits"], default="text")
    ap.add_argument("--replicates", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--generations", type=int, default=6, help="regimes: arena rounds")
    ap.add_argument("--mutation", choices=["none", "gaussian"], default="none", help="regimes, digits: of each child")
    ap.add_argument("--sigma", type=float, default=0.05, help="gaussian mutation, relative to the genome's RMS")
    ap.add_argument("--real-fraction", type=float, default=0.5, help="regimes, digits: fresh real share of each "
                    "generator's training set (the rest its own samples, the only way a child's parameters persist)")
    ap.add_argument("--corpus", default="kjv", help="regimes, text: 'kjv' or a UTF-8 text file, one sequence per "
                    "line (e.g. ../shared/data/wikitext-2/valid.txt)")
    ap.add_argument("--warm-start", action="store_true", help="regimes, digits: each generator's EM starts from its "
                    "last model (a merged or mutated child's parameters persist), not k-means")
    ap.add_argument("--samples", type=int, default=200, help="regimes and tempering: items per generator and per side of "
                    "each detector fit")
    ap.add_argument("--detector", choices=["hashed_ngram", "likelihood_ratio", "perplexity", "all"],
                    default="hashed_ngram", help="regimes and tempering, text: the detector (likelihood_ratio and "
                    "perplexity: Kneser-Ney bigram references; all: each in turn, tempering only)")
    ap.add_argument("--buckets", type=int, default=4096, help="regimes, text: the hashed n-gram detector's features")
    ap.add_argument("--ngrams", type=ngram_range, default=(1, 2), help="regimes, text: the detector's n-gram range, "
                    "lo,hi")
    ap.add_argument("--C", type=float, default=1.0, help="regimes, text: the detector's inverse L2 strength")
    ap.add_argument("--hidden", type=int, default=32, help="regimes, digits: the MLP detector's hidden units")
    ap.add_argument("--genes", default=None, help="regimes: comma-separated sampling genes, 'none' for none; digits "
                    "(default none): temperature (every standard deviation times T), weight_temperature (weights "
                    "w^(1/S)), shift (one value per pixel added to every sample); text (default temperature): temperature, top_p, logit_bias")
    ap.add_argument("--gene-sigma", type=float, default=0.1, help="regimes: mutation of the genes (log-normal; logit_bias: additive, nats; shift: additive, data units)")
    ap.add_argument("--slack", type=float, default=1.0, help="regimes: the fidelity constraint, below generation 0's "
                    "mean fidelity: nats of log-likelihood per image (digits) or per token (text), or of distance")
    ap.add_argument("--fidelity", choices=["likelihood", "distance"], default="likelihood", help="regimes, text: what "
                    "the constraint measures (distance: Jensen-Shannon divergence of token frequencies, in nats)")
    ap.add_argument("--reference", type=int, default=150, help="regimes, text: real verses fidelity is measured on")
    ap.add_argument("--covariance", choices=["diag", "full", "tied"], default="diag", help="regimes and tempering, "
                    "digits: the mixtures' covariance type (full and tied correlate pixels within a component)")
    ap.add_argument("--reg-covar", type=float, default=1e-6, help="regimes and tempering, digits: the mixtures' ridge "
                    "on each covariance's diagonal (pixels in [0, 1]; full needs ~1e-2: EM fails on synthetic rounds at 1e-6)")
    ap.add_argument("--family", choices=["gmm", "vae", "ngram", "transformer"], default=None, help="regimes and "
                    "tempering: the generators' family; digits: gmm (10-component mixtures, the default) or vae (the "
                    "small VAE of VAE, latent temperature gene); text (regimes, crossplay): ngram (additive bigram, "
                    "the default) or transformer (the small transformer of TRANSFORMER)")
    ap.add_argument("--n", type=int, default=None, help="regimes and crossplay: training items per generator per "
                    "round (default 1000 verses for text, 600 digits)")
    ap.add_argument("--web", type=int, default=None, help="regimes and crossplay: real items in the web model's "
                    "training set (default 1000 verses for text, 400 digits)")
    ap.add_argument("--sample-noise", action="store_true", help="regimes and tempering, --family vae: samples are "
                    "decoder means plus the Gaussian observation noise (default: decoder means)")
    ap.add_argument("--regimes", default=",".join(REGIMES), help="regimes and crossplay: comma-separated detector "
                    "regimes to run, of frozen, adapting, history (replicate r of each starts from the same seed)")
    ap.add_argument("--capacity", type=int, default=0, help="regimes and crossplay: rounds of champions the history "
                    "detector remembers (0 = all)")
    ap.add_argument("--remember", choices=["champions", "generations"], default="champions", help="regimes and "
                    "crossplay: what the history detector keeps of each round (its champion, or its whole generation)")
    ap.add_argument("--members", type=int, default=6, help="regimes and crossplay: generators per race")
    ap.add_argument("--heldout", type=int, default=2, help="regimes and crossplay: of them, held out from the "
                    "detector (they evolve among themselves: use 2 or more)")
    ap.add_argument("--first", type=int, default=0, help="crossplay: the first replicate (seed index) run, so that "
                    "--first 10 --replicates 10 extends a 10-replicate run to 20 seeds")
    ap.add_argument("--temperatures", default="0.5,0.7,0.85,1.0,1.2", help="tempering: the gene values tried")
    a = ap.parse_args()
    families = {"text": ("ngram", "transformer"), "digits": ("gmm", "vae")}[a.world]
    if a.family is None:
        a.family = families[0]
    elif a.family not in families:
        ap.error(f"--family {a.family}: the {a.world} world's generators are one of {', '.join(families)}")
    for flag, least in (("n", 2), ("web", 0)):
        if getattr(a, flag) is not None and getattr(a, flag) < least:
            ap.error(f"--{flag} {getattr(a, flag)}: give {least} or more items")
    if a.what in ("regimes", "crossplay"):
        if a.detector == "all":
            ap.error("--detector all is for tempering; regimes runs one detector: name hashed_ngram, "
                     "likelihood_ratio or perplexity")
        genes = a.genes or ("temperature" if a.world == "text" else "none")
        genes = tuple(g for g in genes.split(",") if g and g != "none")
        from redqueen.arena.genes import GENES
        if set(genes) - set(GENES):
            ap.error(f"--genes: unknown gene {sorted(set(genes) - set(GENES))[0]!r}; use 'none' or a comma-separated "
                     f"list of {', '.join(GENES)}")
        which = tuple(r for r in a.regimes.split(",") if r)
        if not which or set(which) - set(REGIMES):
            ap.error(f"--regimes {a.regimes!r}: use a comma-separated list of {', '.join(REGIMES)}")
        if a.first < 0:
            ap.error(f"--first {a.first}: use 0 or a positive replicate index")
        if a.capacity < 0:
            ap.error(f"--capacity {a.capacity}: use 0 (every earlier champion) or a positive number of rounds")
        both = dict(samples=a.samples, genes=genes, gene_sigma=a.gene_sigma, slack=a.slack, capacity=a.capacity,
                    remember=a.remember, members=a.members, heldout=a.heldout, family=a.family,
                    **{k: getattr(a, k) for k in ("n", "web") if getattr(a, k) is not None})  # either world's keywords
        text = dict(both, buckets=a.buckets, ngrams=a.ngrams, C=a.C, detector=a.detector, fidelity=a.fidelity,
                    reference=a.reference)
        digits = dict(both, mutation=a.mutation, sigma=a.sigma, real_fraction=a.real_fraction, warm=a.warm_start,
                      hidden=a.hidden, covariance=a.covariance, reg_covar=a.reg_covar, noise=a.sample_noise)
        for regime in which:  # a wrong flag combination (--heldout >= --members, ...) is the config's one-line error
            try:
                C.validate(text_config(regime, a.replicates, a.generations, corpus=a.corpus, **text)
                           if a.world == "text" else digits_config(regime, a.replicates, a.generations, **digits))
            except ValueError as e:  # ConfigError is one
                ap.error(str(e))
        if a.what == "crossplay":
            crossplay(a.world, a.replicates, a.generations, a.corpus, text, which, a.first, **digits)
        else:
            regimes(a.world, a.replicates, a.generations, a.corpus, text, which, **digits)
    elif a.what == "tempering" and a.world == "text":
        kinds = ("hashed_ngram", "likelihood_ratio", "perplexity") if a.detector == "all" else (a.detector,)
        specs = {k: text_detector(k, a.buckets, a.ngrams, a.C) for k in kinds}
        gene = a.genes or "temperature"
        if gene not in ("temperature", "top_p"):
            ap.error(f"--genes {gene!r}: text tempering takes one gene, temperature or top_p")
        text_tempering(a.samples, a.replicates, specs, tuple(float(v) for v in a.temperatures.split(",")), gene)
    elif a.what == "tempering":
        tempering(a.samples, a.hidden, a.replicates, a.covariance, a.reg_covar, a.family, a.sample_noise,
                  tuple(float(v) for v in a.temperatures.split(",")))
    else:
        round_cost(a.repeats)


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", module="sklearn")
    main()
