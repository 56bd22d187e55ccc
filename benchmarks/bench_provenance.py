"""Watermark and detector figures for BENCHMARKS.md (one thread for BLAS and torch throughout).

    python benchmarks/bench_provenance.py hf [--sequences 1000]
    python benchmarks/bench_provenance.py fpr
    python benchmarks/bench_provenance.py speed [--repeats 7] [--only ngram|transformer] [--clock wall|cpu]
                                                [--against /work/main/src]
    python benchmarks/bench_provenance.py detect [--n 10000] [--repeats 3]

``hf``: z-scores of Hugging Face's ``WatermarkDetector`` (lefthash, context 1) against ours on 200-token
sequences: King James text, and watermarked samples of a Kneser-Ney bigram (verse-length samples, their
stream cut into 200-token blocks), each with and without ``ignore_repeated_ngrams``; counts of sequences whose
z (and green and scored counts) are equal as floats. The green lists of the whole vocabulary are computed
before the timing starts (once per process, reported by ``speed``).

``fpr``: false-positive rate of the z-test at z > 4 (and > 2, > 3) on real text with the default key: every
King James verse (24,408, 10,000-word vocabulary), King James and WikiText-2 (valid + test, ../shared/data,
10,000-word vocabulary) cut into 40- and 200-token blocks; with and without counting repeated bigrams once.

``speed``: watermarked against unwatermarked sampling of the same model, interleaved and repeated, medians
with min-max; the King James Kneser-Ney and additive bigrams (5,000 verses), and the benchmark-size
transformer (1.3M parameters, 2,049-token vocabulary, 32 prompts of 64 tokens + 64 new: sample, greedy,
5-beam with repetition penalty 3). The load average and a 1,024^2 float32 matmul's GFLOP/s are measured in
the same run. One-time costs (green lists of a vocabulary, computed once per process) are reported apart.
``--against SRC``: the n-gram rows only, this code and the ``redqueen`` package under ``SRC`` (copied to a
temporary folder as ``redqueen_against``) in one process, each repeat timing both codes' plain then watermarked
calls (the codes' order alternating); medians and interquartile ranges of the per-call ratios.

``detect``: fit + score of each text detector on ``n`` real King James verses against ``n`` samples of a
Kneser-Ney bigram fitted on other verses; held-out AUC and TPR at 1% FPR on another ``n`` + ``n``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from redqueen.data import Sequences, Vocabulary
from redqueen.metrics import auc, tpr_at_fpr
from redqueen.models.ngram import NGramFamily
from redqueen.watermark import Watermark, detect
from redqueen.worlds.text import TextWorld

torch.set_num_threads(1)
WIKI = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wikitext-2"
if not WIKI.exists():
    WIKI = Path("/work/shared/data/wikitext-2")


def kjv(vocab_size=10000, max_len=1000) -> TextWorld:
    return TextWorld(corpus="kjv", level="word", vocab_size=vocab_size, max_len=max_len)


def blocks(seqs: Sequences, width: int) -> Sequences:
    """The flat token stream of ``seqs`` cut into consecutive blocks of ``width`` tokens."""
    n = seqs.tokens.shape[0] // width
    return Sequences(seqs.tokens[: n * width], np.arange(n + 1, dtype=np.int64) * width, seqs.vocab)


def wikitext(size: int = 10000) -> Sequences:
    """WikiText-2 valid + test as one stream of word ids (``<eos>`` at line ends), top-``size`` words, rest <unk>."""
    import collections

    words = []
    for name in ("valid.txt", "test.txt"):
        for line in (WIKI / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.extend(line.split() + ["<eos>"])
    common = [w for w, _ in collections.Counter(words).most_common(size) if w != "<unk>"][: size - 1]
    vocab = Vocabulary(tuple(["<unk>", *common]))
    index = {w: i for i, w in enumerate(vocab.tokens)}
    ids = np.fromiter((index.get(w, 0) for w in words), dtype=np.int32, count=len(words))
    return Sequences(ids, np.array([0, ids.shape[0]]), vocab)


def load_line() -> str:
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    a @ a
    t = time.perf_counter()
    for _ in range(5):
        a @ a
    gflops = 5 * 2 * 1024**3 / (time.perf_counter() - t) / 1e9
    return f"load average {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f}; float32 matmul 1024^2: {gflops:.0f} GFLOP/s"


# -- hf -----------------------------------------------------------------------------------------------------------
def hf(n_seq: int) -> str:
    import transformers
    from transformers import WatermarkDetector, WatermarkingConfig

    world = kjv()
    real = blocks(world.train, 200).take(n_seq, np.random.default_rng(0))
    wm = Watermark()
    gen = NGramFamily(order=2, smoothing="kneser_ney", watermark=wm).fit(world.train)
    samples = gen.sample(20 * n_seq, np.random.default_rng(1))  # verse-like lengths: cut their stream into blocks
    marked = blocks(Sequences(samples.tokens, np.array([0, samples.tokens.shape[0]]), samples.vocab), 200)
    marked = marked.subset(np.arange(min(n_seq, len(marked))))
    v = len(world.vocab)
    first = np.concatenate([real.tokens[real.offsets[:-1]], marked.tokens[marked.offsets[:-1]]])
    bos = int(np.setdiff1d(np.arange(v), first)[0])  # HF strips a leading BOS: use an id no sequence starts with
    cfg = transformers.GPT2Config(vocab_size=v, bos_token_id=bos, eos_token_id=bos)
    wc = WatermarkingConfig(greenlist_ratio=wm.gamma, bias=wm.delta, hashing_key=wm.key, seeding_scheme="lefthash",
                            context_width=1)
    rows = [load_line(), "", "| text | ignore repeated bigrams | sequences | z equal | green, scored equal "
            "| median z | HF seconds | ours seconds |", "|---|---|---|---|---|---|---|---|"]
    for label, seqs in (("King James, 200-token blocks", real),
                        ("watermarked KN bigram samples, 200-token blocks of their stream", marked)):
        ids = torch.from_numpy(seqs.tokens.reshape(len(seqs), 200).astype(np.int64))
        for ignore in (False, True):
            det = WatermarkDetector(cfg, "cpu", wc, ignore_repeated_ngrams=ignore)
            wm.greens(v).rows(np.arange(v))
            t = time.perf_counter()
            out = det(ids, return_dict=True)
            t_hf = time.perf_counter() - t
            t = time.perf_counter()
            ours = detect(wm, seqs, ignore_repeated=ignore)
            t_ours = time.perf_counter() - t
            same_z = int((ours.z == out.z_score).sum())
            same_counts = int(((ours.green == out.num_green_tokens) & (ours.scored == out.num_tokens_scored)).sum())
            rows.append(f"| {label} | {ignore} | {len(seqs)} | {same_z} | {same_counts} | {np.median(ours.z):.2f} "
                        f"| {t_hf:.1f} | {t_ours:.2f} |")
    return "\n".join(rows)


# -- fpr ----------------------------------------------------------------------------------------------------------
def fpr() -> str:
    world = kjv()
    verses = world.train.concat(world.heldout())
    stream = Sequences(verses.tokens, np.array([0, verses.tokens.shape[0]]), verses.vocab)
    wiki = wikitext()
    sets = [("King James verses", verses), ("King James, 40-token blocks", blocks(stream, 40)),
            ("King James, 200-token blocks", blocks(stream, 200)), ("WikiText-2, 40-token blocks", blocks(wiki, 40)),
            ("WikiText-2, 200-token blocks", blocks(wiki, 200))]
    wm = Watermark()
    rows = [load_line(), "", "| real text | sequences | median tokens | ignore repeated | z > 2 | z > 3 | z > 4 "
            "| 95% upper bound at z > 4 | max z |", "|---|---|---|---|---|---|---|---|---|"]
    from scipy.stats import beta

    for label, seqs in sets:
        for ignore in (False, True):
            z = detect(wm, seqs, ignore_repeated=ignore).z
            k4 = int((z > 4).sum())
            upper = beta.ppf(0.95, k4 + 1, len(z) - k4)
            rows.append(f"| {label} | {len(z):,} | {int(np.median(seqs.lengths()))} | {ignore} | {np.mean(z > 2):.4f} "
                        f"| {np.mean(z > 3):.4f} | {k4} ({k4 / len(z):.5f}) | {upper:.5f} | {z.max():.2f} |")
    rows.append("")
    rows.append("Under the null (independent tokens) z > 2, 3, 4 happen with probability 0.0228, 0.00135, 3.2e-5.")
    return "\n".join(rows)


# -- speed --------------------------------------------------------------------------------------------------------
CLOCK = time.perf_counter  # speed --clock cpu: time.process_time (this process's CPU time: robust to a busy machine)


def _time(fn) -> float:
    t = CLOCK()
    fn()
    return CLOCK() - t


def _pair_rows(label, plain, marked, reps, tokens=None) -> str:
    tp, tm = [], []
    for r in range(reps):  # interleaved: load changes hit both alike
        tp.append(_time(lambda: plain(r)))
        tm.append(_time(lambda: marked(r)))
    ratio = [m / p for m, p in zip(tm, tp)]
    extra = ""
    if tokens is not None:
        a, b = tokens
        extra = f" | {statistics.median(ratio) * a / b:.2f}x"
    return (f"| {label} | {statistics.median(tp) * 1e3:.0f} ({min(tp) * 1e3:.0f}-{max(tp) * 1e3:.0f}) "
            f"| {statistics.median(tm) * 1e3:.0f} ({min(tm) * 1e3:.0f}-{max(tm) * 1e3:.0f}) "
            f"| {statistics.median(ratio):.2f}x ({min(ratio):.2f}-{max(ratio):.2f}){extra if extra else ' | same'} |")


def speed(reps: int, only: str | None = None) -> str:
    from redqueen.models.neural.generate import generate
    from redqueen.models.neural.transformer import CausalTransformer

    world = kjv()
    data = world.sample(5000, np.random.default_rng(0))
    wm = Watermark()
    rows = [load_line(), ""]
    t = time.perf_counter()
    wm.greens(len(world.vocab)).rows(np.arange(len(world.vocab)))
    rows.append(f"one-time: the 10,000 green lists of the King James vocabulary, {time.perf_counter() - t:.2f} s "
                "(once per process; every later fit and sample reuses them)")
    if only != "ngram":
        t = time.perf_counter()
        wm.greens(2049).rows(np.arange(2050))
        rows.append(f"one-time: the 2,050 green lists of a 2,049-token vocabulary (BOS included), "
                    f"{time.perf_counter() - t:.2f} s")
    rows += ["", "| sampler | unwatermarked ms | watermarked ms | ratio per call | ratio per token |",
             "|---|---|---|---|---|"]
    ngrams = (("KJV Kneser-Ney bigram, 5,000 verses", dict(order=2, smoothing="kneser_ney")),
              ("KJV additive bigram (alpha 0.001), 5,000 verses", dict(order=2, alpha=0.001)),
              ("KJV additive trigram (alpha 0.001), 5,000 verses", dict(order=3, alpha=0.001)))
    first = []
    for label, kw in () if only == "transformer" else ngrams:
        plain = NGramFamily(**kw).fit(data)
        marked = NGramFamily(**kw, watermark=wm).fit(data)
        # the model's own one-time green tables (built on its first draws)
        first.append(f"one-time: {label}, the first watermarked call (builds the model's green tables) "
                     f"{_time(lambda: marked.sample(5000, np.random.default_rng(99))):.2f} s")
        a = plain.sample(5000, np.random.default_rng(0)).tokens.size
        b = marked.sample(5000, np.random.default_rng(0)).tokens.size
        rows.append(_pair_rows(label, lambda r: plain.sample(5000, np.random.default_rng(r)),
                               lambda r: marked.sample(5000, np.random.default_rng(r)), reps, tokens=(a, b)))
    rows += [""] + first if first else []
    if only == "ngram":
        return "\n".join(rows + ["", load_line()])
    model = CausalTransformer(vocab_size=2049, d_model=128, n_layers=5, n_heads=4, context=256, d_ff=512).eval()
    model.init_weights(torch.Generator().manual_seed(0))
    prompts = torch.randint(0, 2048, (32, 64), generator=torch.Generator().manual_seed(1))
    for label, kw in (("transformer, sample", dict(strategy="sample")), ("transformer, greedy", dict(strategy="greedy")),
                      ("transformer, 5-beam + penalty 3", dict(strategy="beam", num_beams=5, repetition_penalty=3.0))):
        def run(r, w=None, kw=kw):
            generate(model, prompts, 64, generator=torch.Generator().manual_seed(r), watermark=w, watermark_vocab=2048,
                     **kw)

        run(0, wm)
        rows.append(_pair_rows(label, run, lambda r: run(r, wm), reps))
    rows += ["", load_line()]
    return "\n".join(rows)


def speed_against(reps: int, src: str) -> str:
    """The n-gram rows for this code and the package under ``src``, interleaved in one process."""
    import importlib
    import re
    import shutil
    import sys
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="redqueen-against-"))
    shutil.copytree(Path(src) / "redqueen", tmp / "redqueen_against")
    for f in (tmp / "redqueen_against").rglob("*.py"):
        f.write_text(re.sub(r"\bredqueen\b", "redqueen_against", f.read_text(encoding="utf-8")), encoding="utf-8")
    sys.path.insert(0, str(tmp))
    other = {name: importlib.import_module(f"redqueen_against.{name}") for name in ("models.ngram", "watermark", "data")}
    world = kjv()
    data = world.sample(5000, np.random.default_rng(0))
    codes = {"this": (NGramFamily, Watermark, data),
             "against": (other["models.ngram"].NGramFamily, other["watermark"].Watermark,
                         other["data"].Sequences(data.tokens, data.offsets, data.vocab))}
    for _, wm_class, _ in codes.values():
        wm_class().greens(len(world.vocab)).rows(np.arange(len(world.vocab)))
    rows = [load_line(), "", f"against: {src}", "", "| sampler | code | plain ms | watermarked ms | ratio per call "
            "(IQR) | ratio per token (IQR) | tokens plain / watermarked | first watermarked call s |",
            "|---|---|---|---|---|---|---|---|"]
    for label, kw in (("KJV Kneser-Ney bigram", dict(order=2, smoothing="kneser_ney")),
                      ("KJV additive bigram (alpha 0.001)", dict(order=2, alpha=0.001)),
                      ("KJV additive trigram (alpha 0.001)", dict(order=3, alpha=0.001))):
        got = {}
        for name, (ng, wm_class, d) in codes.items():
            plain, marked = ng(**kw).fit(d), ng(**kw, watermark=wm_class()).fit(d)
            first = _time(lambda: marked.sample(5000, np.random.default_rng(99)))
            a = plain.sample(5000, np.random.default_rng(0)).tokens.size
            b = marked.sample(5000, np.random.default_rng(0)).tokens.size
            got[name] = dict(plain=plain, marked=marked, a=a, b=b, first=first, tp=[], tm=[])
        for r in range(reps):
            for name in (("this", "against") if r % 2 == 0 else ("against", "this")):
                g = got[name]
                g["tp"].append(_time(lambda: g["plain"].sample(5000, np.random.default_rng(r))))
                g["tm"].append(_time(lambda: g["marked"].sample(5000, np.random.default_rng(r))))
        for name in ("against", "this"):
            g = got[name]
            q1, q2, q3 = np.percentile(np.array(g["tm"]) / np.array(g["tp"]), [25, 50, 75])
            per = g["a"] / g["b"]
            rows.append(f"| {label} | {name} | {statistics.median(g['tp']) * 1e3:.0f} | "
                        f"{statistics.median(g['tm']) * 1e3:.0f} | {q2:.2f}x ({q1:.2f}-{q3:.2f}) | {q2 * per:.2f}x "
                        f"({q1 * per:.2f}-{q3 * per:.2f}) | {g['a']:,} / {g['b']:,} | {g['first']:.2f} |")
    shutil.rmtree(tmp, ignore_errors=True)
    return "\n".join(rows + ["", load_line()])


# -- detect -------------------------------------------------------------------------------------------------------
def detectors(n: int, reps: int) -> str:
    from redqueen.models.detectors import HashedNGramDetector, LikelihoodRatioDetector, perplexity_detector

    world = kjv(max_len=64)
    gen = NGramFamily(order=2, smoothing="kneser_ney").fit(world.sample(n, np.random.default_rng(0)))
    real, syn = world.sample(n, np.random.default_rng(1)), gen.sample(n, np.random.default_rng(2))
    real_t, syn_t = world.sample(n, np.random.default_rng(3)), gen.sample(n, np.random.default_rng(4))
    makes = [("hashed word 1-2-grams (token ids, vectorised)", lambda: HashedNGramDetector()),
             ("hashed char_wb 2-4-grams (sklearn HashingVectorizer)",
              lambda: HashedNGramDetector(analyzer="char_wb", ngram_range=(2, 4))),
             ("likelihood ratio, KN bigrams", lambda: LikelihoodRatioDetector()),
             ("perplexity, KN bigram", lambda: perplexity_detector())]
    rows = [load_line(), "", f"{n:,} real + {n:,} synthetic to fit, as many to score; medians of {reps} (min-max)", "",
            "| detector | fit s | score s (2n items) | held-out AUC | TPR at 1% FPR |", "|---|---|---|---|---|"]
    for label, make in makes:
        fits, scores = [], []
        for r in range(reps):
            det = make()
            fits.append(_time(lambda: det.fit(real, syn, np.random.default_rng(r))))
            out = {}
            scores.append(_time(lambda: out.update(r=det.score(real_t), s=det.score(syn_t))))
        rows.append(f"| {label} | {statistics.median(fits):.2f} ({min(fits):.2f}-{max(fits):.2f}) "
                    f"| {statistics.median(scores):.2f} ({min(scores):.2f}-{max(scores):.2f}) "
                    f"| {auc(out['r'], out['s']):.3f} | {tpr_at_fpr(out['r'], out['s'], 0.01):.3f} |")
    rows += ["", load_line()]
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("hf").add_argument("--sequences", type=int, default=1000)
    sub.add_parser("fpr")
    sp = sub.add_parser("speed")
    sp.add_argument("--repeats", type=int, default=7)
    sp.add_argument("--only", choices=("ngram", "transformer"), help="time only the n-gram or the transformer rows")
    sp.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall time, or this process's CPU time")
    sp.add_argument("--against", metavar="SRC", help="n-gram rows only: also time the redqueen package under SRC, "
                    "interleaved in this process")
    d = sub.add_parser("detect")
    d.add_argument("--n", type=int, default=10000)
    d.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with threadpool_limits(1):
        if args.cmd == "hf":
            print(hf(args.sequences))
        elif args.cmd == "fpr":
            print(fpr())
        elif args.cmd == "speed":
            global CLOCK
            CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
            print(f"clock: {args.clock}")
            print(speed_against(args.repeats, args.against) if args.against else speed(args.repeats, args.only))
        else:
            print(detectors(args.n, args.repeats))


if __name__ == "__main__":
    main()
