"""`redqueen audit` on KJV text: our metrics against the reference libraries, the time ratio, memory.

    python benchmarks/bench_audit.py make    [--dir bench-audit] [--lines 10000] [--generations 1,5]
    python benchmarks/bench_audit.py compare [--dir bench-audit] [--repeats 5] [--bleu-items 300] [--sample 10000]
    python benchmarks/bench_audit.py memory  [--dir bench-audit] [--lines 1000000]

``make`` writes ``real.txt`` (``--lines`` distinct verses of the KJV world's training split, decoded
from the world's tokens) and ``gen<g>.txt`` (``--lines`` samples of the generation-(g-1) model of the
``replace`` arm of examples/kjv_ngram.toml, run with n = ``--lines``): synthetic data from a
redqueen run, as text files.

``compare`` runs ``redqueen.audit.run_audit(real.txt, [gen1.txt])`` once with MiniLM embeddings
(keeping what it measured), then checks the audit's numbers against the reference libraries on
the very arrays it measured: ``vendi_score.vendi.score_dual`` (Vendi), ``prdc.compute_prdc``
(precision/recall/density/coverage), ``sacrebleu`` sentence BLEU with floor smoothing 0.1 and
no effective order (self-BLEU, per item against the other items), and ``scipy.linalg.sqrtm``
(Fréchet). Then it times each pair, interleaved in a shuffled order per repeat, under one BLAS
thread for both sides, and prints medians, min-max and the load average.

``memory`` writes ``big.txt`` (gen1.txt repeated up to ``--lines`` lines) and runs
``redqueen audit real.txt big.txt --no-vendi --json`` in a child process, reporting its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def make(folder: Path, lines: int, generations: list[int]) -> None:
    from redqueen.runtime import config as C
    from redqueen.runtime.build import make_population, make_world, plan_arms

    exp = C.load(ROOT / "examples" / "kjv_ngram.toml").model_copy(update={"n": lines})
    world = make_world(exp.world)
    plan = [p for p in plan_arms(exp, world) if p.name == "replace"][0]
    population = make_population(exp, world, plan, 0)
    folder.mkdir(parents=True, exist_ok=True)
    real = world.train.take(lines, np.random.default_rng(1611))
    (folder / "real.txt").write_text("\n".join(real.decode(i) for i in range(len(real))) + "\n")
    for g in range(max(generations)):
        population.step()
        if g + 1 in generations:
            s = population.member_list[0].pending
            (folder / f"gen{g + 1}.txt").write_text("\n".join(s.decode(i) for i in range(len(s))) + "\n")
    print(f"wrote {folder}/real.txt and gen{{{','.join(map(str, generations))}}}.txt, {lines:,} lines each")


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def sacre_self_bleu(texts: list[str]) -> np.ndarray:
    import logging

    from sacrebleu.metrics import BLEU

    logging.getLogger("sacrebleu").setLevel(logging.ERROR)  # it advises effective_order on every call
    bleu = BLEU(tokenize="none", smooth_method="floor", smooth_value=0.1, effective_order=False)
    return np.array([bleu.sentence_score(h, texts[:i] + texts[i + 1:]).score / 100 for i, h in enumerate(texts)])


def naive_frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.linalg import sqrtm

    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2))))


def compare(folder: Path, repeats: int, bleu_items: int, sample: int) -> None:
    from prdc import compute_prdc
    from threadpoolctl import threadpool_limits
    from vendi_score import vendi

    from redqueen.audit import AuditOptions, run_audit
    from redqueen.data import Sequences, Vocabulary
    from redqueen.io import tokenize
    from redqueen.metrics.fidelity import frechet_distance, prdc
    from redqueen.metrics.text import self_bleu_scores, vendi_score

    load0 = os.getloadavg()
    t_audit, audit = timed(lambda: run_audit(folder / "real.txt", [folder / "gen1.txt"], AuditOptions(sample=sample),
                                             keep_data=True))
    print(f"redqueen audit real.txt gen1.txt (MiniLM, all text metrics): {t_audit:.1f} s; {audit.m:,} items "
          f"per generation; load average before {load0[0]:.2f}")
    emb = audit.data["embeddings"][1]
    ref = audit.data["reference"]
    texts = audit.data["items"][1][:bleu_items]
    toks = [tokenize(t) for t in texts]
    names = sorted({w for t in toks for w in t})
    ids = {w: i for i, w in enumerate(names)}
    seqs = Sequences.from_list([[ids[w] for w in t] for t in toks], Vocabulary(tuple(names)))
    spaced = [" ".join(t) for t in toks]
    g1 = audit.metrics[1]
    pairs = {
        "vendi": (lambda: vendi_score(emb), lambda: vendi.score_dual(emb, normalize=True)),
        "prdc": (lambda: prdc(ref, emb, k=5), lambda: compute_prdc(ref, emb, nearest_k=5)),
        "self-BLEU": (lambda: self_bleu_scores(seqs), lambda: sacre_self_bleu(spaced)),
        "frechet": (lambda: frechet_distance(ref, emb), lambda: naive_frechet(ref, emb)),
    }
    times: dict[tuple[str, str], list[float]] = {(k, side): [] for k in pairs for side in ("ours", "ref")}
    values = {}
    order = [(k, side) for k in pairs for side in ("ours", "ref")]
    shuffle = random.Random(0)
    devnull = open(os.devnull, "w")
    with threadpool_limits(1):
        for _ in range(repeats):
            shuffle.shuffle(order)
            for k, side in order:
                fn = pairs[k][0 if side == "ours" else 1]
                stdout, sys.stdout = sys.stdout, devnull  # prdc prints its sizes
                try:
                    t, v = timed(fn)
                finally:
                    sys.stdout = stdout
                times[(k, side)].append(t)
                values[(k, side)] = v
    load1 = os.getloadavg()
    # equality
    theirs_prdc = {k: float(v) for k, v in values[("prdc", "ref")].items()}
    ours_bleu, ref_bleu = values[("self-BLEU", "ours")], values[("self-BLEU", "ref")]
    full = np.array([len(t) >= 4 for t in toks])
    print("\n| metric | audit's value | reference library | max abs difference |\n| --- | --- | --- | --- |")
    print(f"| Vendi (MiniLM, cosine) | {g1['vendi']:.10g} | {float(values[('vendi', 'ref')]):.10g} (score_dual) | "
          f"{abs(g1['vendi'] - float(values[('vendi', 'ref')])):.1e} |")
    for k in ("precision", "recall", "density", "coverage"):
        print(f"| {k} (k = 5) | {g1[k]:.10g} | {theirs_prdc[k]:.10g} (compute_prdc) | {abs(g1[k] - theirs_prdc[k]):.1e} |")
    print(f"| Frechet (MiniLM) | {g1['frechet']:.10g} | {values[('frechet', 'ref')]:.10g} (scipy sqrtm) | "
          f"{abs(g1['frechet'] - values[('frechet', 'ref')]):.1e} |")
    print(f"| self-BLEU per item, {int(full.sum())} of {len(toks)} items with >= 4 tokens | mean {ours_bleu[full].mean():.10g} "
          f"| mean {ref_bleu[full].mean():.10g} (sacrebleu) | {np.max(np.abs(ours_bleu - ref_bleu)[full]):.1e} |")
    print(f"\n(items under 4 tokens: sacrebleu without effective order scores them 0, NLTK's method1 -- ours -- "
          f"floors the missing orders; {int((~full).sum())} such items here)")
    print(f"\ntiming, {repeats} interleaved repeats, 1 BLAS thread, load average {load0[0]:.2f} -> {load1[0]:.2f}")
    print("\n| metric | ours: median (min-max) s | reference: median (min-max) s | reference / ours |\n| --- | --- | --- | --- |")
    for k in pairs:
        o, r = times[(k, "ours")], times[(k, "ref")]
        print(f"| {k} | {statistics.median(o):.4f} ({min(o):.4f}-{max(o):.4f}) | {statistics.median(r):.4f} "
              f"({min(r):.4f}-{max(r):.4f}) | {statistics.median(r) / statistics.median(o):.1f}x |")


def memory(folder: Path, lines: int) -> None:
    src = (folder / "gen1.txt").read_text().splitlines()
    big = folder / "big.txt"
    with open(big, "w") as f:
        for i in range(lines):
            f.write(src[i % len(src)] + "\n")
    cmd = [sys.executable, "-m", "redqueen.cli", "audit", str(folder / "real.txt"), str(big), "--no-vendi", "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    doc = json.loads(out.stdout)
    print(f"{lines:,}-line file ({big.stat().st_size / 2**20:.0f} MiB): peak RSS {peak_kib / 2**10:.0f} MiB, "
          f"{wall:.1f} s, load average {os.getloadavg()[0]:.2f}; items read {doc['inputs'][1]['items']:,}, "
          f"tokens {doc['inputs'][1]['tokens']:,}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("step", choices=["make", "compare", "memory"])
    p.add_argument("--dir", type=Path, default=Path("bench-audit"))
    p.add_argument("--lines", type=int, default=None)
    p.add_argument("--generations", default="1")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--bleu-items", type=int, default=300)
    p.add_argument("--sample", type=int, default=10000, help="compare: items the audit keeps per input")
    a = p.parse_args()
    if a.step == "make":
        make(a.dir, a.lines or 10000, [int(g) for g in a.generations.split(",")])
    elif a.step == "compare":
        compare(a.dir, a.repeats, a.bleu_items, a.sample)
    else:
        memory(a.dir, a.lines or 1_000_000)


if __name__ == "__main__":
    main()
